"""Ironic inventory → HardwareDetails (``hardwaredetails.go GetHardwareDetails``), on the fake
agent's IPA-style body."""

from __future__ import annotations

from typing import Any

import pytest

from bmo.api.hardware import LLDP, VLAN
from bmo.ironic.inventory import hardware_details, parse_frequency
from testenv.fake_agent import build_inventory

MAC = "52:54:00:ab:cd:ef"


def test_fake_agent_inventory_converts() -> None:
    body = build_inventory(MAC, hostname="node-0")
    details = hardware_details(
        body["inventory"], {"all_interfaces": {"eth0": {"pxe_enabled": True}}}
    )
    inventory = body["inventory"]
    assert details.hostname == "node-0"
    assert details.ram_mebibytes == inventory["memory"]["physical_mb"] > 0
    vendor = inventory["system_vendor"]
    assert details.system_vendor.manufacturer == vendor["manufacturer"]
    assert details.system_vendor.product_name == vendor["product_name"]
    assert details.system_vendor.serial_number == vendor["serial_number"]
    cpu = inventory["cpu"]
    assert details.cpu.arch == cpu["architecture"] == "x86_64"
    assert details.cpu.count == cpu["count"]
    assert details.cpu.clock_megahertz == round(float(cpu["frequency"]))
    assert details.cpu.model == cpu["model_name"]
    assert list(details.cpu.flags) == sorted(cpu["flags"])
    # The first disk as the agent described it (its by-path name wins over the kernel name).
    raw_disk = body["inventory"]["disks"][0]
    disk = details.storage[0]
    assert disk.name == raw_disk["by_path"]
    assert disk.alternate_names == (raw_disk["name"], raw_disk["by_path"])
    assert disk.type == ("HDD" if raw_disk["rotational"] else "SSD")
    assert disk.size_bytes == raw_disk["size"]
    assert disk.hctl == raw_disk["hctl"]
    assert len(details.storage) == len(body["inventory"]["disks"])
    boot = [nic for nic in details.nics if nic.mac == MAC]
    assert len(boot) == 1
    assert boot[0].name == "eth0"
    raw_nic = next(i for i in body["inventory"]["interfaces"] if i["mac_address"] == MAC)
    assert boot[0].model == f"{raw_nic['vendor']} {raw_nic['product']}"
    assert boot[0].pxe is True
    assert boot[0].ip == ""


def _interface(**fields: Any) -> dict[str, Any]:
    base = {"name": "eth0", "mac_address": MAC, "vendor": "0x8086", "product": "0x1572"}
    base.update(fields)
    return base


def test_one_nic_entry_per_ip_family() -> None:
    inventory = {
        "interfaces": [
            _interface(ipv4_address="192.0.2.5", ipv6_address="2001:db8::5", speed_mbps=25000),
            _interface(name="eth1", ipv6_address="2001:db8::6"),
            _interface(name="eth2"),
        ]
    }
    nics = hardware_details(inventory).nics
    assert [(n.name, n.ip) for n in nics] == [
        ("eth0", "192.0.2.5"),
        ("eth0", "2001:db8::5"),
        ("eth1", "2001:db8::6"),
        ("eth2", ""),
    ]
    assert nics[0].speed_gbps == 25 and nics[1].speed_gbps == 25


def test_lldp_and_vlans_from_plugin_data() -> None:
    plugin = {
        "parsed_lldp": {
            "eth0": {
                "switch_chassis_id": "00:11:22:33:44:55",
                "switch_port_id": "Ethernet1/7",
                "switch_system_name": "tor-1",
                "switch_port_vlans": [{"id": 100, "name": "prov"}, {"id": 200}],
                "switch_port_untagged_vlan_id": 100,
            }
        }
    }
    (nic,) = hardware_details({"interfaces": [_interface(pci_address="0000:3b:00.0")]}, plugin).nics
    assert nic.lldp == LLDP(
        switch_id="00:11:22:33:44:55", port_id="Ethernet1/7", switch_system_name="tor-1"
    )
    assert nic.vlans == (VLAN(100, "prov"), VLAN(200, ""))
    assert nic.vlan_id == 100
    assert nic.pci_address == "0000:3b:00.0"
    assert nic.pxe is False


@pytest.mark.parametrize(
    ("disk", "kind", "name", "alternates"),
    [
        ({"name": "/dev/sda", "rotational": True}, "HDD", "/dev/sda", ("/dev/sda",)),
        ({"name": "/dev/nvme0n1", "rotational": False}, "NVME", "/dev/nvme0n1", ("/dev/nvme0n1",)),
        ({"name": "/dev/sdb", "rotational": False}, "SSD", "/dev/sdb", ("/dev/sdb",)),
        (
            {"name": "/dev/sdc", "by_path": "/dev/disk/by-path/x"},
            "SSD",
            "/dev/disk/by-path/x",
            ("/dev/sdc", "/dev/disk/by-path/x"),
        ),
    ],
)
def test_disk_types_and_names(
    disk: dict[str, Any], kind: str, name: str, alternates: tuple[str, ...]
) -> None:
    (storage,) = hardware_details({"disks": [disk]}).storage
    assert (storage.type, storage.name, storage.alternate_names) == (kind, name, alternates)
    assert storage.rotational is bool(disk.get("rotational"))


def test_wwn_serial_and_firmware() -> None:
    inventory = {
        "disks": [
            {
                "name": "/dev/sda",
                "serial": "S1",
                "wwn": "0x5000",
                "wwn_with_extension": "0x5000a",
                "wwn_vendor_extension": "0xa",
                "vendor": "ATA",
                "model": "M",
                "size": 1000,
            }
        ],
        "system_vendor": {
            "firmware": {"vendor": "Dell", "version": "2.1", "build_date": "01/02/2024"}
        },
    }
    details = hardware_details(inventory)
    disk = details.storage[0]
    assert (disk.serial_number, disk.wwn, disk.wwn_with_extension, disk.wwn_vendor_extension) == (
        "S1",
        "0x5000",
        "0x5000a",
        "0xa",
    )
    assert (disk.vendor, disk.model, disk.size_bytes) == ("ATA", "M", 1000)
    bios = details.firmware.bios
    assert (bios.vendor, bios.version, bios.date) == ("Dell", "2.1", "01/02/2024")


def test_cpu_flags_sorted() -> None:
    cpu = hardware_details({"cpu": {"flags": ["vmx", "aes", "sse2"], "count": "8"}}).cpu
    assert cpu.flags == ("aes", "sse2", "vmx")
    assert cpu.count == 8


@pytest.mark.parametrize(
    ("raw", "mhz"),
    [
        ("2400", 2400.0),
        ("2400.000", 2400.0),
        ("2399.5", 2400.0),
        ("2399.49", 2399.0),
        ("3.0e3", 3000.0),
        ("2100 MHz", 2100.0),
        ("", 0.0),
        ("fast", 0.0),
        (None, 0.0),
        (1800.6, 1801.0),
    ],
)
def test_frequency_rounding(raw: object, mhz: float) -> None:
    assert parse_frequency(raw) == mhz


def test_garbage_becomes_zero_values() -> None:
    details = hardware_details(
        {"cpu": "nope", "memory": [], "disks": "x", "interfaces": [None, 3], "hostname": None}
    )
    assert details.cpu.count == 0
    assert details.ram_mebibytes == 0
    assert details.storage == ()
    assert len(details.nics) == 2 and all(nic.name == "" for nic in details.nics)
    assert details.hostname == ""
