"""Manual-cleaning steps and target RAID config for ``prepare`` (``ironic.go
buildManualCleaningSteps``, ``raid.go BuildRAIDCleanSteps``)."""

from __future__ import annotations

import pytest

from bmo.api.bmc import access_details
from bmo.api.host import HardwareRAIDVolume, RAIDConfig, RootDeviceHints, SoftwareRAIDVolume
from bmo.ironic.capacity import busy_node_names
from bmo.ironic.cleaning import (
    CleaningError,
    manual_clean_steps,
    raid_interface_for,
    target_raid_config,
)
from bmo.ironic.views import NodeView
from bmo.provisioner import FirmwareComponentUpdate, PrepareData

REDFISH = access_details("redfish://192.0.2.1/redfish/v1/Systems/1")
IPMI = access_details("ipmi://192.0.2.1")
HW = RAIDConfig(hardware_raid_volumes=(HardwareRAIDVolume(size_gibibytes=100, level="1"),))
SW = RAIDConfig(
    software_raid_volumes=(
        SoftwareRAIDVolume(
            level="1",
            physical_disks=(RootDeviceHints(device_name="/dev/sda"), RootDeviceHints(hctl="1")),
        ),
    )
)


def names(steps: list[dict[str, object]]) -> list[str]:
    return [f"{s['interface']}.{s['step']}" for s in steps]


@pytest.mark.parametrize(
    ("access", "target", "actual", "expected"),
    [
        (REDFISH, None, None, []),
        (REDFISH, HW, None, ["raid.delete_configuration", "raid.create_configuration"]),
        (REDFISH, HW, HW, []),
        (REDFISH, RAIDConfig(hardware_raid_volumes=()), HW, ["raid.delete_configuration"]),
        (
            IPMI,
            SW,
            None,
            [
                "raid.delete_configuration",
                "deploy.erase_devices_metadata",
                "raid.create_configuration",
            ],
        ),
        (IPMI, SW, SW, []),
        (
            IPMI,
            RAIDConfig(software_raid_volumes=()),
            SW,
            ["raid.delete_configuration", "deploy.erase_devices_metadata"],
        ),
    ],
)
def test_raid_steps(
    access: object, target: RAIDConfig | None, actual: RAIDConfig | None, expected: list[str]
) -> None:
    data = PrepareData(target_raid_config=target, actual_raid_config=actual)
    assert names(manual_clean_steps(access, data)) == expected  # type: ignore[arg-type]


def test_hardware_raid_on_a_no_raid_driver_is_refused() -> None:
    with pytest.raises(CleaningError, match="the node's driver ipmi does not support RAID"):
        manual_clean_steps(IPMI, PrepareData(target_raid_config=HW))


def test_raid_interface_and_target_config() -> None:
    assert raid_interface_for(REDFISH, SW) == "agent"
    assert raid_interface_for(REDFISH, HW) == "redfish"
    sw = target_raid_config(PrepareData(target_raid_config=SW))
    assert sw == {
        "logical_disks": [
            {
                "size_gb": "MAX",
                "raid_level": "1",
                "controller": "software",
                "physical_disks": [{"name": "s== /dev/sda"}, {"hctl": "s== 1"}],
                "is_root_volume": True,
            }
        ]
    }
    hw = target_raid_config(
        PrepareData(
            target_raid_config=HW, root_device_hints=RootDeviceHints(device_name="/dev/sdb")
        )
    )
    assert hw == {"logical_disks": [{"size_gb": 100, "raid_level": "1"}]}
    assert target_raid_config(PrepareData()) is None


def test_bios_and_firmware_steps_follow_raid() -> None:
    data = PrepareData(
        target_raid_config=HW,
        target_firmware_settings={"B": "2", "A": "1"},
        actual_firmware_settings={"A": "1"},
        target_firmware_components=(FirmwareComponentUpdate("bios", "http://x/bios.bin"),),
    )
    steps = manual_clean_steps(REDFISH, data)
    assert names(steps) == [
        "raid.delete_configuration",
        "raid.create_configuration",
        "bios.apply_configuration",
        "firmware.update",
    ]
    assert steps[2]["args"] == {"settings": [{"name": "B", "value": "2"}]}
    assert steps[3]["args"] == {"settings": [{"component": "bios", "url": "http://x/bios.bin"}]}


def test_busy_node_names() -> None:
    nodes = [
        NodeView(uuid="1", name="a~1", provision_state="deploying", boot_interface="ipxe"),
        NodeView(uuid="2", name=None, provision_state="clean wait", boot_interface="pxe"),
        NodeView(
            uuid="3",
            name="a~3",
            provision_state="wait call-back",
            boot_interface="redfish-virtual-media",
        ),
        NodeView(uuid="4", name="a~4", provision_state="active", boot_interface="ipxe"),
        NodeView(uuid="5", name="a~5", provision_state="inspect wait", boot_interface=None),
    ]
    assert busy_node_names(nodes) == {"a~1", "2", "a~5"}


def test_integer_bios_values_stay_integers() -> None:
    """``ironic.go buildFirmwareSettings``: an int-or-string Int goes out as a JSON integer,
    compared with Ironic's string by its decimal text."""
    data = PrepareData(
        target_firmware_settings={"NumCores": 12, "Same": 4, "Mode": "Enabled"},
        actual_firmware_settings={"NumCores": "10", "Same": "4", "Mode": "Disabled"},
    )
    (step,) = manual_clean_steps(REDFISH, data)
    assert step["args"]["settings"] == [
        {"name": "Mode", "value": "Enabled"},
        {"name": "NumCores", "value": 12},
    ]
    assert isinstance(step["args"]["settings"][1]["value"], int)
