"""Power through Ironic's redfish driver really reaches the emulated BMC."""

from __future__ import annotations

import time

import pytest

from testenv.ironic import SushyEmulator
from tests.fixtures.ironic import IronicFixture, unique_name

pytestmark = [pytest.mark.ironic, pytest.mark.sushy, pytest.mark.slow]

# The emulator's fake driver applies a power change 1-11 s after the request, by design.
POWER_DEADLINE = 60.0


def wait_for_emulator_power(sushy: SushyEmulator, system_uuid: str, want: str) -> str:
    end = time.monotonic() + POWER_DEADLINE
    state = sushy.power_state(system_uuid)
    while state != want and time.monotonic() < end:
        time.sleep(0.5)
        state = sushy.power_state(system_uuid)
    return state


def test_power_on_and_off_through_ironic_changes_the_bmc(
    ironic: IronicFixture, sushy: SushyEmulator
) -> None:
    system = sushy.systems[0]
    conn = ironic.connection()
    node = conn.baremetal.create_node(
        name=unique_name("redfish"),
        driver="redfish",
        driver_info={
            "redfish_address": sushy.url,
            "redfish_system_id": sushy.system_path(system.uuid),
            "redfish_username": "admin",
            "redfish_password": "unused-by-the-emulator",
        },
    )
    try:
        conn.baremetal.create_port(node_id=node.id, address=system.mac)
        node = conn.baremetal.set_node_provision_state(node, "manage", wait=True, timeout=90)
        assert node.provision_state == "manageable"

        conn.baremetal.set_node_power_state(node, "power on", wait=True, timeout=90)
        assert wait_for_emulator_power(sushy, system.uuid, "On") == "On"
        assert conn.baremetal.get_node(node.id).power_state == "power on"

        conn.baremetal.set_node_power_state(node, "power off", wait=True, timeout=90)
        assert wait_for_emulator_power(sushy, system.uuid, "Off") == "Off"
        assert conn.baremetal.get_node(node.id).power_state == "power off"
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)


def test_redfish_inspection_reads_the_emulated_hardware(
    ironic: IronicFixture, sushy: SushyEmulator
) -> None:
    """Needs the sushy launcher's processors/memory/storage shim and the storage config."""
    system = sushy.systems[1]
    conn = ironic.connection()
    node = conn.baremetal.create_node(
        name=unique_name("redfish-inspect"),
        driver="redfish",
        driver_info={
            "redfish_address": sushy.url,
            "redfish_system_id": sushy.system_path(system.uuid),
            "redfish_username": "admin",
            "redfish_password": "unused-by-the-emulator",
        },
    )
    try:
        conn.baremetal.set_node_provision_state(node, "manage", wait=True, timeout=90)
        node = conn.baremetal.set_node_provision_state(node, "inspect", wait=True, timeout=120)
        assert node.provision_state == "manageable", node.last_error
        props = conn.baremetal.get_node(node.id).properties
        assert props["memory_mb"] == system.memory_gb * 1024
        assert props["cpu_arch"] == "x86_64"
        assert int(props["local_gb"]) == system.disk_gb - 1  # Ironic keeps 1 GiB back
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)
