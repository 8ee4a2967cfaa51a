"""The detached annotation (upstream ``host_state_machine.go checkDetachedHost``): who may
detach, detach errors, re-attach, and deleting detached hosts."""

from __future__ import annotations

import pytest

from bmo.api.constants import DETACHED_ANNOTATION, ErrorType, OperationalStatus, ProvisioningState
from bmo.hoststate.actions import Metrics
from tests.provisioner.harness import IMAGE, Harness, deleted, make_host, with_annotations

S = ProvisioningState
FORCE = '{"force": true}'


@pytest.mark.parametrize(
    ("state", "value", "force"),
    [
        (S.PROVISIONED, "", False),
        (S.EXTERNALLY_PROVISIONED, "", False),
        (S.AVAILABLE, "", False),
        (S.READY, '{"deleteAction": "delete"}', False),
        (S.INSPECTING, "", None),
        (S.PREPARING, "not json", None),
        (S.PROVISIONING, '{"force": false}', None),
        (S.INSPECTING, FORCE, True),
        (S.PROVISIONING, FORCE, True),
        (S.DEPROVISIONING, FORCE, True),
        (S.REGISTERING, FORCE, True),
        (S.DELETING, FORCE, None),
    ],
)
def test_detach_matrix(state: str, value: str, force: bool | None) -> None:
    """``force`` None: the host must not be detached (yet) in that state."""
    h = Harness()
    host = make_host(state=state, image=IMAGE, annotations={DETACHED_ANNOTATION: value})
    host, outcome = h.step(host)
    calls = h.fixture(host).calls_to("detach")
    if force is None:
        assert calls == []
        assert host.status.operational_status != OperationalStatus.DETACHED
    else:
        assert [c.args["force"] for c in calls] == [force]
        assert host.status.operational_status == OperationalStatus.DETACHED
        assert host.status.provisioning.state == state  # detaching never changes state
        assert outcome.requeue_after == 600
        assert h.fixture(host).detached


def test_detached_host_polls_slowly_and_is_not_registered() -> None:
    h = Harness()
    host, _ = h.settle(make_host(image=IMAGE))
    host = with_annotations(host, **{DETACHED_ANNOTATION: ""})
    host, outcome = h.step(host)
    assert outcome.status_dirty
    registrations = len(h.fixture(host).calls_to("register"))
    host, outcome = h.step(host)
    assert not outcome.status_dirty
    assert outcome.requeue_after == 600
    assert len(h.fixture(host).calls_to("register")) == registrations
    assert not h.fixture(host).registered


def test_reattach_registers_and_adopts_again() -> None:
    h = Harness()
    host, _ = h.settle(make_host(image=IMAGE))
    host, _ = h.step(with_annotations(host, **{DETACHED_ANNOTATION: ""}))
    assert host.status.operational_status == OperationalStatus.DETACHED
    provisions = len(h.fixture(host).calls_to("provision"))
    host, outcome = h.step(with_annotations(host, **{DETACHED_ANNOTATION: None}))
    assert host.status.operational_status == OperationalStatus.OK
    assert outcome.status_dirty
    host, _ = h.settle(host)
    assert h.fixture(host).registered
    assert host.status.provisioning.state == S.PROVISIONED
    assert h.fixture(host).calls_to("adopt")
    assert len(h.fixture(host).calls_to("provision")) == provisions


def test_detach_failure_is_recorded_then_cleared_when_annotation_removed() -> None:
    h = Harness()
    host, _ = h.settle(make_host(image=IMAGE))
    h.fixture(host).fail_next("detach", "node is busy")
    host, outcome = h.step(with_annotations(host, **{DETACHED_ANNOTATION: ""}))
    assert host.status.error_type == ErrorType.DETACH
    assert host.status.error_count == 1
    assert outcome.event_reasons() == ("DetachError",)
    host, outcome = h.step(with_annotations(host, **{DETACHED_ANNOTATION: None}))
    assert host.status.error_type == ""
    assert host.status.error_count == 0
    assert host.status.operational_status == OperationalStatus.OK


def test_detach_success_after_failure_clears_the_error() -> None:
    h = Harness()
    host, _ = h.settle(make_host(image=IMAGE))
    host = with_annotations(host, **{DETACHED_ANNOTATION: ""})
    h.fixture(host).fail_next("detach", "node is busy")
    host, _ = h.step(host)
    host, _ = h.step(host)
    assert host.status.operational_status == OperationalStatus.DETACHED
    assert host.status.error_type == ""
    assert host.status.error_count == 0


@pytest.mark.parametrize(
    ("value", "delayed"),
    [
        ('{"deleteAction": "delay"}', True),
        ('{"deleteAction": "delete"}', False),
        ("", False),
        ("not json", False),
        (None, True),  # annotation removed: the host is about to be re-attached
    ],
)
def test_deleting_a_detached_host(value: str | None, delayed: bool) -> None:
    h = Harness()
    host, _ = h.settle(make_host(image=IMAGE))
    host, _ = h.step(with_annotations(host, **{DETACHED_ANNOTATION: ""}))
    assert host.status.operational_status == OperationalStatus.DETACHED
    host = deleted(with_annotations(host, **{DETACHED_ANNOTATION: value}))
    h.fixture(host).calls.clear()
    host, outcome = h.step(host)
    if delayed:
        assert host.status.provisioning.state == S.PROVISIONED
        assert Metrics.DELETE_DELAYED_FOR_DETACHED in outcome.metric_names()
        return
    assert host.status.provisioning.state == S.DELETING
    host, outcomes = h.drive(host, lambda host, o: o.delete_complete)
    assert outcomes[-1].remove_finalizer
    ops = {c.op for c in h.fixture(host).calls}
    assert "deprovision" not in ops
    assert "power_off" not in ops
