"""Deletion (upstream ``host_state_machine.go checkInitiateDelete``): the state deletion
starts from, and complete delete flows."""

from __future__ import annotations

import dataclasses

import pytest

from bmo.api.constants import BMH_FINALIZER, ErrorType, ProvisioningState, RebootMode
from bmo.hoststate.actions import ActionKind, Metrics
from tests.provisioner.harness import IMAGE, Harness, deleted, make_host

S = ProvisioningState


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (S.NONE, S.DELETING),
        (S.UNMANAGED, S.DELETING),
        (S.REGISTERING, S.DELETING),
        (S.INSPECTING, S.POWERING_OFF_BEFORE_DELETE),
        (S.MATCH_PROFILE, S.POWERING_OFF_BEFORE_DELETE),
        (S.PREPARING, S.POWERING_OFF_BEFORE_DELETE),
        (S.AVAILABLE, S.POWERING_OFF_BEFORE_DELETE),
        (S.READY, S.POWERING_OFF_BEFORE_DELETE),
        (S.PROVISIONING, S.DEPROVISIONING),
        (S.PROVISIONED, S.DEPROVISIONING),
        (S.EXTERNALLY_PROVISIONED, S.POWERING_OFF_BEFORE_DELETE),
        (S.DEPROVISIONING, S.DEPROVISIONING),
        (S.POWERING_OFF_BEFORE_DELETE, S.POWERING_OFF_BEFORE_DELETE),
        (S.DELETING, S.DELETING),
    ],
)
def test_delete_entry_state(state: str, expected: str) -> None:
    h = Harness()
    host, outcome = h.step(make_host(state=state, image=IMAGE, deleting=True))
    assert host.status.provisioning.state == expected
    assert outcome.error is None
    if state != expected:
        assert outcome.action == ActionKind.COMPLETE
        assert outcome.requeue_after == 0
        # Deletion starts before registration: no provisioner call was needed to decide.
        assert {c.op for c in h.fixture(host).calls} <= {"has_capacity"}


@pytest.mark.parametrize(
    ("start", "expected_ops", "unexpected_ops"),
    [
        pytest.param(
            {"image": IMAGE}, ["deprovision", "power_off", "delete"], [], id="provisioned"
        ),
        pytest.param({}, ["power_off", "delete"], ["deprovision"], id="available"),
        pytest.param(
            {"image": IMAGE, "externally_provisioned": True},
            ["power_off", "delete"],
            ["deprovision", "provision"],
            id="externally-provisioned",
        ),
        pytest.param({"bmc": False}, [], ["deprovision", "power_off", "register"], id="unmanaged"),
        pytest.param(
            {"disable_power_off": True}, ["delete"], ["power_off"], id="power-off-disabled"
        ),
    ],
)
def test_full_delete_flow(
    start: dict[str, object], expected_ops: list[str], unexpected_ops: list[str]
) -> None:
    h = Harness()
    host, _ = h.settle(make_host(**start))  # type: ignore[arg-type]
    fixture = h.fixture(host)
    fixture.calls.clear()
    host, outcomes = h.drive(deleted(host), lambda host, o: o.delete_complete)
    final = outcomes[-1]
    assert final.remove_finalizer and final.release_secrets and final.object_dirty
    assert final.requeue_after is None
    assert not final.status_dirty
    assert BMH_FINALIZER not in host.metadata.finalizers
    ops = [c.op for c in fixture.calls]
    positions = [ops.index(op) for op in expected_ops]
    assert positions == sorted(positions)
    for op in unexpected_ops:
        assert op not in ops
    if "power_off" in expected_ops:
        assert {c.args["reboot_mode"] for c in fixture.calls_to("power_off")} == {RebootMode.HARD}
    assert not fixture.registered


def test_delete_without_finalizer_is_complete_without_calls() -> None:
    h = Harness()
    host = make_host(state=S.DELETING, deleting=True)
    host = dataclasses.replace(host, metadata=dataclasses.replace(host.metadata, finalizers=()))
    _, outcome = h.step(host)
    assert outcome.delete_complete
    assert not outcome.remove_finalizer
    assert h.fixture(host).calls == []


def test_deprovisioning_gives_up_after_three_failures_when_deleting() -> None:
    h = Harness()
    host, _ = h.settle(make_host(image=IMAGE))
    host = deleted(host)
    host, _ = h.step(host)
    assert host.status.provisioning.state == S.DEPROVISIONING
    counts = []
    for _ in range(6):
        h.fixture(host).fail_next("deprovision", "cleaning failed")
        host, outcome = h.step(host)
        counts.append(host.status.error_count)
        if host.status.provisioning.state != S.DEPROVISIONING:
            break
    assert counts == [1, 2, 3, 4]
    assert host.status.provisioning.state == S.POWERING_OFF_BEFORE_DELETE
    assert Metrics.DELETE_WITHOUT_DEPROVISIONING in outcome.metric_names()
    host, outcomes = h.drive(host, lambda host, o: o.delete_complete)
    assert outcomes[-1].remove_finalizer


def test_power_off_before_delete_gives_up_after_three_failures() -> None:
    h = Harness()
    host, _ = h.settle(make_host())
    host, _ = h.step(deleted(host))
    assert host.status.provisioning.state == S.POWERING_OFF_BEFORE_DELETE
    for _ in range(6):
        h.fixture(host).fail_next("power_off", "BMC unreachable")
        host, _outcome = h.step(host)
        if host.status.provisioning.state != S.POWERING_OFF_BEFORE_DELETE:
            break
    assert host.status.provisioning.state == S.DELETING
    assert host.status.error_count == 4
    calls = h.fixture(host).calls_to("power_off")
    assert calls[0].args["force"] is False
    assert calls[-1].args["force"] is True  # power management error: force on retries


def test_registration_errors_while_deleting_skip_to_deleting() -> None:
    h = Harness()
    host = make_host(state=S.DEPROVISIONING, deleting=True).with_status(
        error_type=ErrorType.REGISTRATION, error_count=4, operational_status="error"
    )
    host, outcome = h.step(host)
    assert host.status.provisioning.state == S.DELETING
    assert outcome.action == ActionKind.COMPLETE


def test_hardware_data_is_not_written_while_deleting() -> None:
    h = Harness()
    host, _ = h.drive(make_host(), lambda host, o: o.state == S.INSPECTING)
    # Deleting an inspecting host powers it off; inspection results are not kept.
    host, outcome = h.step(deleted(host))
    assert host.status.provisioning.state == S.POWERING_OFF_BEFORE_DELETE
    assert outcome.hardware_data is None
