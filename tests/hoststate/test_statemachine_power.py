"""Power management and reboot annotations, controller side (upstream
``baremetalhost_controller.go manageHostPower``, ``hasRebootAnnotation``)."""

from __future__ import annotations

import pytest

from bmo.api.constants import ErrorType, OperationalStatus, ProvisioningState, RebootMode
from bmo.api.host import BareMetalHost
from bmo.hoststate.actions import STEADY_STATE_POWER_DELAY, WATCHED_POWER_POLL_DELAY, Metrics
from bmo.hoststate.power import CLARIFY_SOFT_POWEROFF_FAILURE
from bmo.hoststate.run import StateMachineSettings
from tests.provisioner.harness import IMAGE, Harness, make_host, with_annotations

S = ProvisioningState
BASE = "reboot.metal3.io"
SUFFIXED = "reboot.metal3.io/remediation"


def provisioned(h: Harness, **spec: object) -> BareMetalHost:
    host, _ = h.settle(make_host(image=IMAGE, **spec))  # type: ignore[arg-type]
    assert host.status.provisioning.state == S.PROVISIONED
    assert host.status.powered_on
    h.fixture(host).calls.clear()
    return host


def available(h: Harness, **spec: object) -> BareMetalHost:
    host, _ = h.settle(make_host(**spec))  # type: ignore[arg-type]
    assert host.status.provisioning.state == S.AVAILABLE
    h.fixture(host).calls.clear()
    return host


def ops(h: Harness, host: BareMetalHost) -> list[str]:
    return [c.op for c in h.fixture(host).calls if c.op in ("power_on", "power_off")]


@pytest.mark.parametrize("make", [provisioned, available])
def test_online_flips_power_and_powered_on_follows(make) -> None:  # type: ignore[no-untyped-def]
    h = Harness()
    host = make(h)
    assert host.status.powered_on is True
    host, outcomes = h.settle(host.with_spec(online=False))
    assert host.status.powered_on is False
    assert not h.fixture(host).powered_on
    assert ops(h, host) == ["power_off"]
    assert h.fixture(host).calls_to("power_off")[0].args["reboot_mode"] == RebootMode.SOFT
    power_metrics = [m for o in outcomes for m in o.metrics if m.name == Metrics.POWER_CHANGE]
    assert [m.labels["on_off"] for m in power_metrics] == ["off"]
    assert power_metrics[0].labels["host"] == "host-0"
    assert "PowerOff" in [r for o in outcomes for r in o.event_reasons()]
    host, outcomes = h.settle(host.with_spec(online=True))
    assert host.status.powered_on is True
    assert ops(h, host) == ["power_off", "power_on"]
    assert outcomes[-1].requeue_after == 60


def test_a_watched_backend_polls_steady_power_at_its_own_delay() -> None:
    """Upstream's one-minute ``steadyStateResult`` is the default; a backend that reports
    every machine change (``power_poll_delay``, set by setup) only needs a safety net."""
    h = Harness()
    host = provisioned(h)
    watched = StateMachineSettings(power_poll_delay=WATCHED_POWER_POLL_DELAY)
    assert h.run(host).requeue_after == STEADY_STATE_POWER_DELAY == 60
    assert h.run(host, settings=watched).requeue_after == WATCHED_POWER_POLL_DELAY
    # A host turned back on by the last pass comes back at the same delay.
    host, _ = h.settle(host.with_spec(online=False), settings=watched)
    host, outcomes = h.settle(host.with_spec(online=True), settings=watched)
    assert host.status.powered_on
    assert outcomes[-1].requeue_after == WATCHED_POWER_POLL_DELAY


def test_observed_power_state_is_recorded() -> None:
    h = Harness()
    host = provisioned(h)
    h.fixture(host).powered_on = False  # someone pressed the button
    host, outcome = h.step(host)
    assert host.status.powered_on is False
    assert outcome.status_dirty
    host, _ = h.settle(host)
    assert host.status.powered_on is True  # online wins again


def test_one_shot_reboot_powers_off_removes_annotation_and_powers_back_on() -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **{BASE: ""})
    host, outcomes = h.settle(host)
    assert ops(h, host) == ["power_off", "power_on"]
    assert BASE not in host.annotations
    assert any(BASE in o.annotations_to_remove for o in outcomes)
    assert host.status.powered_on is True


def test_suffixed_reboot_holds_the_host_off_until_removed() -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **{SUFFIXED: ""})
    host, _ = h.settle(host)
    assert host.status.powered_on is False
    assert SUFFIXED in host.annotations
    host, _ = h.settle(host)
    assert ops(h, host) == ["power_off"]
    host, _ = h.settle(with_annotations(host, **{SUFFIXED: None}))
    assert host.status.powered_on is True
    assert ops(h, host) == ["power_off", "power_on"]


@pytest.mark.parametrize(
    ("annotations", "mode"),
    [
        ({BASE: ""}, RebootMode.SOFT),
        ({BASE: '{"mode": "hard"}'}, RebootMode.HARD),
        ({BASE: '{"mode": "soft"}', SUFFIXED: '{"mode": "hard"}'}, RebootMode.HARD),
        ({BASE: '{"mode": "hard"}', SUFFIXED: '{"mode": "soft"}'}, RebootMode.HARD),
    ],
)
def test_hard_reboot_wins(annotations: dict[str, str], mode: str) -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **annotations)
    h.step(host)
    assert h.fixture(host).calls_to("power_off")[0].args["reboot_mode"] == mode


def test_invalid_reboot_annotation_is_reported_and_treated_as_soft() -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **{BASE: "{nope"})
    _, outcome = h.step(host)
    assert "InvalidAnnotationValue" in outcome.event_reasons()
    assert h.fixture(host).calls_to("power_off")[0].args["reboot_mode"] == RebootMode.SOFT


@pytest.mark.parametrize(
    ("value", "reboots"),
    [("", False), ('{"mode": "hard"}', False), ('{"force": true}', True)],
)
def test_available_hosts_only_honour_forced_reboots(value: str, reboots: bool) -> None:
    h = Harness()
    host = with_annotations(available(h), **{BASE: value})
    host, _ = h.step(host)
    assert bool(h.fixture(host).calls_to("power_off")) == reboots


@pytest.mark.parametrize(("value", "force_reboot"), [("", False), ('{"force": true}', True)])
def test_forced_reboot_restarts_inspection_and_base_annotation_is_removed(
    value: str, force_reboot: bool
) -> None:
    h = Harness()
    host, _ = h.drive(make_host(), lambda host, o: o.state == S.INSPECTING)
    host = with_annotations(host, **{BASE: value})
    host, outcome = h.step(host)
    assert h.fixture(host).calls_to("inspect")[-1].args["force_reboot"] is force_reboot
    # Inspection started in this pass: the base annotation has been honoured either way.
    assert BASE in outcome.annotations_to_remove
    assert BASE not in host.annotations


def test_disable_power_off_reboots_and_drops_the_annotation_at_once() -> None:
    h = Harness()
    host = with_annotations(provisioned(h, disable_power_off=True), **{BASE: ""})
    host, outcome = h.step(host)
    assert ops(h, host) == ["power_off"]
    assert BASE in outcome.annotations_to_remove
    assert h.fixture(host).reboots == 1
    host, _ = h.settle(host)
    assert host.status.powered_on is True
    assert ops(h, host) == ["power_off"]


def test_soft_power_off_failure_escalates_to_hard_with_force() -> None:
    h = Harness()
    host = provisioned(h)
    h.fixture(host).fail_next("power_off", "soft power off timed out")
    host, outcome = h.step(host.with_spec(online=False))
    assert host.status.error_type == ErrorType.POWER_MANAGEMENT
    assert host.status.error_message == (CLARIFY_SOFT_POWEROFF_FAILURE + "soft power off timed out")
    assert outcome.event_reasons() == ("PowerManagementError",)
    host, _ = h.step(host)
    retry = h.fixture(host).calls_to("power_off")[-1]
    assert retry.args == {"reboot_mode": RebootMode.HARD, "force": True}
    host, _ = h.settle(host)
    assert host.status.powered_on is False
    assert host.status.operational_status == OperationalStatus.OK
    # As upstream: the count survives until a state transition or a power check that
    # needed no provisioner work, so the next power-off is hard too.
    assert host.status.error_count == 1


def test_power_on_failure_is_retried_with_force() -> None:
    h = Harness()
    host, _ = h.settle(provisioned(h).with_spec(online=False))
    h.fixture(host).fail_next("power_on", "BMC says no")
    host, _ = h.step(host.with_spec(online=True))
    assert host.status.error_message == "BMC says no"  # no soft-off prefix for power on
    host, _ = h.settle(host)
    assert h.fixture(host).calls_to("power_on")[-1].args["force"] is True
    assert host.status.powered_on is True
    assert host.status.error_type == ""
