"""Servicing of provisioned hosts (upstream ``baremetalhost_controller.go doServiceIfNeeded``
from ``manageHostPower``, and ``servicing.go Service`` as the fixture provisioner plays it).

The firmware inputs are recomputed from the fixture's BIOS store on every pass, the way the
HostFirmwareSettings controller would refresh ``status.settings`` and ``ChangeDetected``.
"""

from __future__ import annotations

from collections.abc import Mapping

from bmo.api.constants import ErrorType, OperationalStatus, ProvisioningState
from bmo.api.firmware import IntOrString, int_or_string_text
from bmo.api.host import BareMetalHost
from bmo.hoststate.actions import HostOutcome
from bmo.hoststate.run import FirmwareState
from bmo.provisioner.fixture import Delay
from tests.provisioner.harness import IMAGE, Harness, is_steady, make_host, with_annotations

S = ProvisioningState
REBOOT = "reboot.metal3.io"
TARGET: Mapping[str, IntOrString] = {"ProcTurboMode": "Disabled", "NumCores": 8}


def firmware(
    h: Harness,
    host: BareMetalHost,
    target: Mapping[str, IntOrString] = TARGET,
    *,
    live: bool = True,
) -> FirmwareState:
    """What the HFS controller would report: changed while Ironic's values differ."""
    actual = dict(h.fixture(host).bios_settings)
    changed = any(actual.get(k) != int_or_string_text(v) for k, v in target.items())
    return FirmwareState(
        settings_changed=changed,
        target_settings=dict(target),
        actual_settings=actual,
        live_settings=live,
        has_settings_spec=bool(target),
    )


def step(h: Harness, host: BareMetalHost, **fw: object) -> tuple[BareMetalHost, HostOutcome]:
    return h.step(host, firmware=firmware(h, host, **fw))  # type: ignore[arg-type]


def provisioned(h: Harness, **spec: object) -> BareMetalHost:
    host, _ = h.settle(make_host(image=IMAGE, **spec))  # type: ignore[arg-type]
    assert host.status.provisioning.state == S.PROVISIONED
    fixture = h.fixture(host)
    fixture.bios_settings.update({"ProcTurboMode": "Enabled", "NumCores": "4"})
    fixture.calls.clear()
    return host


def ops(h: Harness, host: BareMetalHost) -> list[str]:
    wanted = ("power_on", "power_off", "service", "provision", "deprovision", "prepare")
    return [c.op for c in h.fixture(host).calls if c.op in wanted]


def run_until_on(
    h: Harness, host: BareMetalHost, limit: int = 30, **fw: object
) -> tuple[BareMetalHost, list[HostOutcome]]:
    outcomes: list[HostOutcome] = []
    for _ in range(limit):
        host, outcome = step(h, host, **fw)
        outcomes.append(outcome)
        if host.status.powered_on and is_steady(host, outcome):
            return host, outcomes
    raise AssertionError(f"host not back on after {limit} passes")


def test_reboot_with_on_reboot_policy_services_then_powers_on() -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **{REBOOT: ""})
    host, outcomes = run_until_on(h, host)
    fixture = h.fixture(host)
    assert fixture.bios_settings == {"ProcTurboMode": "Disabled", "NumCores": "8"}
    assert fixture.services == 1
    # Powered off by the reboot, serviced while off, then powered on; never re-deployed.
    sequence = ops(h, host)
    assert sequence[0] == "power_off"
    assert sequence[-1] == "power_on"
    assert "service" in sequence
    assert sequence.index("service") < sequence.index("power_on")
    assert not {"provision", "deprovision", "prepare"} & set(sequence)
    statuses = [o.host.status.operational_status for o in outcomes]
    assert OperationalStatus.SERVICING in statuses
    assert host.status.operational_status == OperationalStatus.OK
    assert host.status.provisioning.state == S.PROVISIONED


def test_first_servicing_pass_only_saves_the_status() -> None:
    h = Harness()
    host, _ = h.settle(provisioned(h).with_spec(online=False), firmware=FirmwareState())
    assert host.status.powered_on is False
    h.fixture(host).calls.clear()
    host = host.with_spec(online=True)
    host, outcome = step(h, host)
    assert outcome.status_dirty
    assert host.status.operational_status == OperationalStatus.SERVICING
    assert ops(h, host) == []  # Ironic is asked only on the next pass
    host, outcome = step(h, host)
    assert ops(h, host) == ["service"]
    assert h.fixture(host).calls_to("service")[0].args["unprepared"] is True


def test_completion_goes_back_to_ok_and_requeues_after_a_minute() -> None:
    h = Harness()
    host, _ = h.settle(provisioned(h).with_spec(online=False), firmware=FirmwareState())
    host = host.with_spec(online=True)
    seen: list[HostOutcome] = []
    while True:
        before = host.status.operational_status
        host, outcome = step(h, host)
        seen.append(outcome)
        if before == OperationalStatus.SERVICING and (
            host.status.operational_status == OperationalStatus.OK
        ):
            break
        assert len(seen) < 20
    assert outcome.requeue_after == 60
    assert outcome.status_dirty


def test_without_on_reboot_policy_a_reboot_is_a_plain_reboot() -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **{REBOOT: ""})
    host, outcomes = run_until_on(h, host, live=False)
    assert ops(h, host) == ["power_off", "power_on"]
    assert h.fixture(host).bios_settings["ProcTurboMode"] == "Enabled"
    assert all(o.host.status.operational_status != OperationalStatus.SERVICING for o in outcomes)


def test_nothing_pending_means_no_servicing() -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **{REBOOT: ""})
    host, _ = run_until_on(h, host, target={"ProcTurboMode": "Enabled"})
    assert ops(h, host) == ["power_off", "power_on"]


def test_externally_provisioned_host_is_serviced_on_power_on() -> None:
    h = Harness()
    host, _ = h.settle(
        make_host(externally_provisioned=True, online=False), firmware=FirmwareState()
    )
    assert host.status.provisioning.state == S.EXTERNALLY_PROVISIONED
    h.fixture(host).bios_settings.update({"ProcTurboMode": "Enabled", "NumCores": "4"})
    host, _ = run_until_on(h, host.with_spec(online=True))
    assert h.fixture(host).services == 1
    assert h.fixture(host).bios_settings["NumCores"] == "8"


def test_available_host_is_not_serviced() -> None:
    h = Harness()
    host, _ = h.settle(make_host(online=False), firmware=FirmwareState())
    assert host.status.provisioning.state == S.AVAILABLE
    h.fixture(host).calls.clear()
    host, _ = h.settle(host.with_spec(online=True), firmware=FirmwareState(live_settings=True))
    assert "service" not in ops(h, host)


def test_servicing_failure_records_servicing_error_then_retries() -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **{REBOOT: ""})
    h.fixture(host).fail_next("service", "BIOS apply_configuration failed")
    outcomes: list[HostOutcome] = []
    for _ in range(10):
        host, outcome = step(h, host)
        outcomes.append(outcome)
        if host.status.error_type:
            break
    assert host.status.operational_status == OperationalStatus.ERROR
    assert host.status.error_type == ErrorType.SERVICING
    assert host.status.error_message == "BIOS apply_configuration failed"
    assert "ServicingError" in outcomes[-1].event_reasons()
    assert host.status.powered_on is False  # not powered on over a failed servicing
    # The next passes restart servicing (restart_on_failure) and finish it.
    host, _ = run_until_on(h, host)
    restarts = [c.args["restart_on_failure"] for c in h.fixture(host).calls_to("service")]
    assert True in restarts
    assert host.status.error_type == ""
    assert host.status.operational_status == OperationalStatus.OK
    assert h.fixture(host).bios_settings["ProcTurboMode"] == "Disabled"


def test_withdrawn_changes_abort_servicing() -> None:
    h = Harness(delays={"service": Delay(5)})
    host = with_annotations(provisioned(h), **{REBOOT: ""})
    for _ in range(10):
        host, _ = step(h, host)
        if h.fixture(host).servicing:
            break
    assert h.fixture(host).servicing
    # The user empties spec.settings: nothing is asked any more.
    host, _ = run_until_on(h, host, target={})
    fixture = h.fixture(host)
    assert fixture.aborted_services == 1
    assert fixture.bios_settings["ProcTurboMode"] == "Enabled"
    assert host.status.operational_status == OperationalStatus.OK
    assert not {"provision", "deprovision"} & set(ops(h, host))


def test_failed_servicing_withdrawn_is_aborted_not_recorded_again() -> None:
    h = Harness()
    host = with_annotations(provisioned(h), **{REBOOT: ""})
    h.fixture(host).fail_next("service", "firmware update failed")
    for _ in range(10):
        host, _ = step(h, host)
        if host.status.error_type:
            break
    assert host.status.error_type == ErrorType.SERVICING
    host, _ = run_until_on(h, host, target={})
    assert h.fixture(host).aborted_services == 1
    assert host.status.error_type == ""
    assert host.status.operational_status == OperationalStatus.OK
