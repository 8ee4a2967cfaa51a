"""Firmware in preparing (upstream ``baremetalhost_controller.go actionPreparing`` with
``getHostFirmwareSettings``/``getHostFirmwareComponents``, and ``handleAvailable``): a change
flagged on an available host sends it back through preparing, whose manual cleaning carries
the settings (int-or-string kept) and the pending updates.

The firmware inputs are recomputed from the fixture's BIOS store on every pass, as the
HostFirmwareSettings controller would refresh ``status.settings`` and ``ChangeDetected``.
"""

from __future__ import annotations

from collections.abc import Mapping

from bmo.api.constants import ProvisioningState
from bmo.api.firmware import FirmwareComponentStatus, IntOrString, int_or_string_text
from bmo.api.host import BareMetalHost
from bmo.hoststate.actions import HostOutcome
from bmo.hoststate.run import FirmwareState
from bmo.provisioner import FirmwareComponentUpdate
from tests.provisioner.harness import Harness, is_steady, make_host, states

S = ProvisioningState
TARGET: Mapping[str, IntOrString] = {"ProcTurboMode": "Disabled", "NumCores": 12}


def available(h: Harness) -> BareMetalHost:
    host, _ = h.settle(make_host(), firmware=FirmwareState())
    assert host.status.provisioning.state == S.AVAILABLE
    h.fixture(host).bios_settings.update({"ProcTurboMode": "Enabled", "NumCores": "10"})
    h.fixture(host).calls.clear()
    return host


def settings_state(h: Harness, host: BareMetalHost) -> FirmwareState:
    actual = dict(h.fixture(host).bios_settings)
    changed = any(actual.get(k) != int_or_string_text(v) for k, v in TARGET.items())
    return FirmwareState(
        settings_changed=changed,
        target_settings=dict(TARGET) if changed else {},
        actual_settings=actual if changed else {},
        has_settings_spec=True,
    )


def drive(
    h: Harness, host: BareMetalHost, state_of: object, limit: int = 40
) -> tuple[BareMetalHost, list[HostOutcome]]:
    seen: list[HostOutcome] = []
    for _ in range(limit):
        host, outcome = h.step(host, firmware=state_of(h, host))  # type: ignore[operator]
        seen.append(outcome)
        if is_steady(host, outcome):
            return host, seen
    raise AssertionError(f"not steady after {limit} passes: {states(seen)[-5:]}")


def test_settings_change_on_available_host_reruns_preparing() -> None:
    h = Harness()
    host = available(h)
    host, outcomes = drive(h, host, settings_state)
    assert states(outcomes) == [S.PREPARING, S.AVAILABLE]
    prepares = h.fixture(host).calls_to("prepare")
    assert prepares[0].args["unprepared"] is True
    assert prepares[0].args["settings"] == {"ProcTurboMode": "Disabled", "NumCores": 12}
    assert isinstance(prepares[0].args["settings"]["NumCores"], int)
    assert h.fixture(host).bios_settings == {"ProcTurboMode": "Disabled", "NumCores": "12"}
    assert "provision" not in [c.op for c in h.fixture(host).calls]


def test_component_update_on_available_host_reruns_preparing() -> None:
    h = Harness()
    host = available(h)
    fixture = h.fixture(host)
    fixture.firmware_components.append(
        FirmwareComponentStatus(component="bmc", initial_version="1", current_version="1")
    )
    update = FirmwareComponentUpdate("bmc", "http://192.0.2.9/bmc.bin")

    def components(h: Harness, host: BareMetalHost) -> FirmwareState:
        pending = h.fixture(host).firmware_components[0].current_version == "1"
        return FirmwareState(
            components_changed=pending,
            target_components=(update,) if pending else (),
            has_components_spec=True,
        )

    host, outcomes = drive(h, host, components)
    assert states(outcomes) == [S.PREPARING, S.AVAILABLE]
    assert fixture.firmware_components[0].current_version == "1+1"
    assert fixture.calls_to("prepare")[0].args["updates"] == (update,)


def test_preparing_waits_while_firmware_objects_are_not_ready() -> None:
    h = Harness()
    host = available(h)
    host, _ = h.step(host, firmware=settings_state(h, host))
    assert host.status.provisioning.state == S.PREPARING
    h.fixture(host).calls.clear()
    host, outcome = h.step(host, firmware=FirmwareState(ready=False))
    assert host.status.provisioning.state == S.PREPARING
    assert outcome.requeue_after == 60
    assert h.fixture(host).calls_to("prepare") == []


def test_no_change_means_no_preparing() -> None:
    h = Harness()
    host = available(h)
    host, outcomes = h.settle(host, firmware=FirmwareState(has_settings_spec=True))
    assert states(outcomes) == [S.AVAILABLE]
    assert h.fixture(host).calls_to("prepare") == []
