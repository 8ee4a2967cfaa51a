"""Manual-cleaning steps for ``preparing``: RAID, BIOS settings, firmware.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``buildManualCleaningSteps`` and
``pkg/provisioner/ironic/raid.go`` (``BuildRAIDCleanSteps``, ``setTargetRAIDCfg``).

Ironic applies RAID through ``target_raid_config`` plus ``raid.*`` clean steps, BIOS settings
through ``bios.apply_configuration`` and firmware through ``firmware.update``; the order here
is the Go operator's, and the firmware steps are :func:`bmo.api.firmware_steps.
manual_cleaning_steps` (an integer BIOS value stays a JSON integer). What is simplified
relative to it: the vendor names of the deprecated ``spec.firmware`` settings are not
translated (``BuildBIOSSettings``; validation rejects that field anyway).
"""

from __future__ import annotations

from typing import Any

from bmo.api import firmware_steps
from bmo.api.bmc import AccessDetails
from bmo.api.host import HardwareRAIDVolume, RAIDConfig, SoftwareRAIDVolume
from bmo.ironic.errors import CleaningError
from bmo.ironic.hints import hint_map
from bmo.provisioner.types import PrepareData

__all__ = ["CleaningError", "manual_clean_steps", "raid_interface_for", "target_raid_config"]

SOFTWARE_RAID_INTERFACE = "agent"


def _software(config: RAIDConfig | None) -> tuple[SoftwareRAIDVolume, ...]:
    return tuple(config.software_raid_volumes or ()) if config is not None else ()


def _hardware(config: RAIDConfig | None) -> tuple[HardwareRAIDVolume, ...] | None:
    return config.hardware_raid_volumes if config is not None else None


def raid_interface_for(access: AccessDetails, target: RAIDConfig | None) -> str:
    """Software RAID is built by the agent; everything else by the BMC's RAID interface."""
    if _software(target):
        return SOFTWARE_RAID_INTERFACE
    return access.raid_interface


def _step(interface: str, step: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"interface": interface, "step": step, "args": args or {}}


def _raid_steps(access: AccessDetails, data: PrepareData) -> list[dict[str, Any]]:
    target, actual = data.target_raid_config, data.actual_raid_config
    hardware = _hardware(target)
    if not access.supports_raid and hardware:
        raise CleaningError(
            "RAID settings are defined, but the node's driver "
            f"{access.driver} does not support RAID"
        )
    target_sw, actual_sw = _software(target), _software(actual)
    if target_sw or actual_sw:
        if actual is not None and target_sw == actual_sw:
            return []
        steps = [
            _step("raid", "delete_configuration"),
            _step("deploy", "erase_devices_metadata"),
        ]
        if target_sw:
            steps.append(_step("raid", "create_configuration"))
        return steps
    if not access.supports_raid or hardware is None:
        return []
    if actual is not None and actual.hardware_raid_volumes == hardware:
        return []
    steps = [_step("raid", "delete_configuration")]
    if hardware:
        steps.append(_step("raid", "create_configuration"))
    return steps


def target_raid_config(data: PrepareData) -> dict[str, Any] | None:
    """``target_raid_config`` logical disks, or ``None`` when there is nothing to build."""
    target = data.target_raid_config
    disks: list[dict[str, Any]] = []
    for sw in _software(target):
        disk: dict[str, Any] = {
            "size_gb": sw.size_gibibytes if sw.size_gibibytes else "MAX",
            "raid_level": sw.level,
            "controller": "software",
        }
        if sw.physical_disks:
            disk["physical_disks"] = [hint_map(hints) for hints in sw.physical_disks]
        if sw.root_volume:
            disk["is_root_volume"] = True
        disks.append(disk)
    if not disks:
        for hw in _hardware(target) or ():
            disk = {
                "size_gb": hw.size_gibibytes if hw.size_gibibytes else "MAX",
                "raid_level": hw.level,
            }
            if hw.name:
                disk["volume_name"] = hw.name
            if hw.controller:
                disk["controller"] = hw.controller
            if hw.physical_disks:
                disk["physical_disks"] = list(hw.physical_disks)
            if hw.rotational is not None:
                disk["disk_type"] = "hdd" if hw.rotational else "ssd"
            if hw.number_of_physical_disks:
                disk["number_of_physical_disks"] = hw.number_of_physical_disks
            disks.append(disk)
    if not disks:
        return None
    has_hints = data.root_device_hints is not None and bool(hint_map(data.root_device_hints))
    if not has_hints and not any(d.get("is_root_volume") for d in disks):
        disks[0]["is_root_volume"] = True
    return {"logical_disks": disks}


def manual_clean_steps(access: AccessDetails, data: PrepareData) -> list[dict[str, Any]]:
    """RAID steps, then BIOS settings that differ, then the pending firmware updates
    (``ironic.go buildManualCleaningSteps``)."""
    return firmware_steps.manual_cleaning_steps(
        _raid_steps(access, data),
        actual_settings=data.actual_firmware_settings,
        target_settings=data.target_firmware_settings,
        updates=data.target_firmware_components,
    )
