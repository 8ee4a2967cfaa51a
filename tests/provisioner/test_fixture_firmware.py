"""The fixture provisioner's firmware verbs: a BIOS settings store, firmware components and
servicing with its abort and sticky failure (mirroring ``servicing.go Service``)."""

from __future__ import annotations

import pytest

from bmo.api.bmc import Credentials
from bmo.api.firmware import FirmwareComponentStatus, SettingSchema
from bmo.provisioner import (
    FirmwareComponentUpdate,
    FirmwareUpdateUnsupported,
    HostData,
    ManagementAccessData,
    NeedsRegistration,
    PrepareData,
    ServicingData,
)
from bmo.provisioner.fixture import Delay, FixtureProvisioner, FixtureRegistry

DATA = HostData(
    namespace="ns",
    name="h",
    bmc_address="ipmi://192.0.2.1",
    bmc_credentials=Credentials("admin", "s3cret"),
    boot_mac_address="00:00:5e:00:53:aa",
)


def registered(registry: FixtureRegistry) -> FixtureProvisioner:
    prov = FixtureProvisioner(registry, DATA, lambda r, m: None)
    prov.register(ManagementAccessData(), False, False)
    state = prov.state
    state.bios_settings.update({"ProcTurboMode": "Enabled", "NumCores": "10"})
    state.bios_schema["NumCores"] = SettingSchema(
        attribute_type="Integer", lower_bound=10, upper_bound=20
    )
    state.firmware_components.append(
        FirmwareComponentStatus(component="bios", initial_version="1.0", current_version="1.0")
    )
    return prov


def test_settings_need_a_node_and_schema_only_when_asked() -> None:
    registry = FixtureRegistry()
    with pytest.raises(NeedsRegistration):
        FixtureProvisioner(registry, DATA, lambda r, m: None).get_firmware_settings(True)
    prov = registered(registry)
    assert prov.get_firmware_settings(False).schema is None
    result = prov.get_firmware_settings(True)
    assert dict(result.settings) == {"ProcTurboMode": "Enabled", "NumCores": "10"}
    assert result.schema is not None and result.schema["NumCores"].upper_bound == 20


def test_components_and_unsupported() -> None:
    prov = registered(FixtureRegistry())
    assert [c.component for c in prov.get_firmware_components()] == ["bios"]
    prov.state.firmware_supported = False
    with pytest.raises(FirmwareUpdateUnsupported):
        prov.get_firmware_components()


def test_prepare_applies_changed_settings_and_updates_when_done() -> None:
    prov = registered(FixtureRegistry())
    data = PrepareData(
        target_firmware_settings={"NumCores": 12, "ProcTurboMode": "Enabled"},
        actual_firmware_settings=dict(prov.state.bios_settings),
        target_firmware_components=(FirmwareComponentUpdate("bios", "http://192.0.2.9/b"),),
    )
    result, started = prov.prepare(data, True, False)
    assert result.dirty and started
    assert prov.state.bios_settings["NumCores"] == "10"  # not before the operation ends
    result, _ = prov.prepare(data, False, False)
    assert not result.dirty
    assert prov.state.bios_settings == {"ProcTurboMode": "Enabled", "NumCores": "12"}
    assert prov.state.firmware_components[0].current_version == "1.0+1"
    assert prov.state.firmware_components[0].updated_at is not None


def servicing(prov: FixtureProvisioner, **changes: object) -> ServicingData:
    values: dict[str, object] = {
        "target_firmware_settings": {"ProcTurboMode": "Disabled"},
        "actual_firmware_settings": dict(prov.state.bios_settings),
        "has_firmware_settings_spec": True,
        "triggered_by_settings": True,
    }
    values.update(changes)
    return ServicingData(**values)  # type: ignore[arg-type]


def test_service_runs_then_finishes() -> None:
    prov = registered(FixtureRegistry(delays={"service": Delay(2)}))
    data = servicing(prov)
    result, started = prov.service(data, True, False)
    assert result.dirty and started and prov.state.servicing
    result, started = prov.service(data, True, False)
    assert result.dirty and not started
    result, _ = prov.service(data, False, False)
    assert not result.dirty and not prov.state.servicing
    assert prov.state.bios_settings["ProcTurboMode"] == "Disabled"
    assert prov.state.services == 1


def test_service_without_changes_is_done_at_once() -> None:
    prov = registered(FixtureRegistry())
    result, started = prov.service(servicing(prov, target_firmware_settings={}), True, False)
    assert (result.dirty, started) == (False, True)
    result, started = prov.service(ServicingData(), False, False)
    assert (result.dirty, started) == (False, False)
    assert prov.state.services == 0


def test_service_failure_is_sticky_until_restart() -> None:
    prov = registered(FixtureRegistry(delays={"service": Delay(0)}))
    prov.state.fail_next("service", "BIOS step failed")
    data = servicing(prov)
    assert prov.service(data, True, False)[0].error_message == "BIOS step failed"
    assert prov.service(data, True, False)[0].error_message == "BIOS step failed"
    result, started = prov.service(data, True, True)
    assert not result.error_message and started
    assert prov.state.bios_settings["ProcTurboMode"] == "Disabled"


def test_withdrawn_changes_abort_running_or_failed_servicing() -> None:
    prov = registered(FixtureRegistry(delays={"service": Delay(5)}))
    prov.service(servicing(prov), True, False)
    assert prov.state.servicing
    withdrawn = servicing(prov, target_firmware_settings={}, has_firmware_settings_spec=False)
    result, started = prov.service(withdrawn, False, False)
    assert result.dirty and started and not prov.state.servicing
    assert prov.state.aborted_services == 1
    assert prov.state.bios_settings["ProcTurboMode"] == "Enabled"
    prov.state.fail_next("service", "boom")
    prov.service(servicing(prov), True, False)
    assert prov.state.failed("service") == "boom"
    prov.service(withdrawn, False, False)
    assert prov.state.failed("service") == "" and prov.state.aborted_services == 2
