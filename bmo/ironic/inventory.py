"""Ironic's stored inspection data → ``HardwareDetails``.

Mirrors upstream ``pkg/provisioner/ironic/hardwaredetails/hardwaredetails.go``
``GetHardwareDetails``.

Input is ``GET /v1/nodes/{id}/inventory``: ``inventory`` is what ironic-python-agent (or
out-of-band inspection) reported, ``plugin_data`` what Ironic's inspection hooks derived from
it (``all_interfaces`` with PXE flags, ``parsed_lldp``). The output follows the Go
operator's ``hardwaredetails.GetHardwareDetails`` field by field, because ``status.hardware``
and the HardwareData object are read by other tools that expect those exact values.

The data comes from a machine, not from a trusted schema: every field is optional and a
wrong type becomes the zero value instead of an exception.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from bmo.api.hardware import (
    BIOS,
    CPU,
    LLDP,
    NIC,
    VLAN,
    Firmware,
    HardwareDetails,
    HardwareSystemVendor,
    Storage,
)

__all__ = ["hardware_details", "parse_frequency"]

_LEADING_FLOAT = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return ""
    return str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return 0
    return 0


def parse_frequency(value: Any) -> float:
    """Go's ``fmt.Sscanf(freq, "%f")`` then ``math.Round``: ``"2400.000"`` → 2400.0.

    IPA reports the frequency as a string in MHz; anything unparsable is 0.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        match = _LEADING_FLOAT.match(_text(value))
        if match is None:
            return 0.0
        number = float(match.group(1))
    if not math.isfinite(number):
        return 0.0
    # math.Round rounds half away from zero; Python's round() is banker's rounding.
    return float(math.floor(abs(number) + 0.5) * (1 if number >= 0 else -1))


def _cpu(data: Mapping[str, Any]) -> CPU:
    flags = data.get("flags")
    return CPU(
        arch=_text(data.get("architecture")),
        model=_text(data.get("model_name")),
        clock_megahertz=parse_frequency(data.get("frequency")),
        flags=tuple(sorted(_text(f) for f in flags)) if isinstance(flags, list) else (),
        count=_int(data.get("count")),
    )


def _storage(disk: Mapping[str, Any]) -> Storage:
    kernel_name = _text(disk.get("name"))
    by_path = _text(disk.get("by_path"))
    rotational = bool(disk.get("rotational"))
    if rotational:
        kind = "HDD"
    elif kernel_name.startswith("/dev/nvme"):
        kind = "NVME"
    else:
        kind = "SSD"
    return Storage(
        name=by_path or kernel_name,
        alternate_names=(kernel_name, by_path) if by_path else (kernel_name,),
        rotational=rotational,
        type=kind,
        size_bytes=_int(disk.get("size")),
        vendor=_text(disk.get("vendor")),
        model=_text(disk.get("model")),
        serial_number=_text(disk.get("serial")),
        wwn=_text(disk.get("wwn")),
        wwn_vendor_extension=_text(disk.get("wwn_vendor_extension")),
        wwn_with_extension=_text(disk.get("wwn_with_extension")),
        hctl=_text(disk.get("hctl")),
    )


def _vlans(lldp: Mapping[str, Any]) -> tuple[tuple[VLAN, ...], int]:
    raw = lldp.get("switch_port_vlans")
    vlans = tuple(
        VLAN(id=_int(_map(item).get("id")), name=_text(_map(item).get("name")))
        for item in (raw if isinstance(raw, list) else [])
    )
    return vlans, _int(lldp.get("switch_port_untagged_vlan_id"))


def _lldp(lldp: Mapping[str, Any]) -> LLDP | None:
    found = LLDP(
        switch_id=_text(lldp.get("switch_chassis_id")),
        port_id=_text(lldp.get("switch_port_id")),
        switch_system_name=_text(lldp.get("switch_system_name")),
    )
    return found if found != LLDP() else None


def _nics(
    interfaces: Any, all_interfaces: Mapping[str, Any], parsed_lldp: Mapping[str, Any]
) -> tuple[NIC, ...]:
    nics: list[NIC] = []
    for item in interfaces if isinstance(interfaces, list) else []:
        intf = _map(item)
        name = _text(intf.get("name"))
        lldp = _map(parsed_lldp.get(name))
        vlans, vlan_id = _vlans(lldp)
        speed = _int(intf.get("speed_mbps"))
        base = NIC(
            name=name,
            model=f"{_text(intf.get('vendor'))} {_text(intf.get('product'))}".strip(),
            mac=_text(intf.get("mac_address")),
            speed_gbps=speed // 1000 if speed > 0 else 0,
            vlans=vlans,
            vlan_id=vlan_id,
            pxe=bool(_map(all_interfaces.get(name)).get("pxe_enabled", False)),
            lldp=_lldp(lldp),
            pci_address=_text(intf.get("pci_address")),
        )
        ipv4 = _text(intf.get("ipv4_address"))
        ipv6 = _text(intf.get("ipv6_address"))
        # One entry per address family; an interface without addresses still gets one.
        if ipv4 or not ipv6:
            nics.append(dataclasses.replace(base, ip=ipv4))
        if ipv6:
            nics.append(dataclasses.replace(base, ip=ipv6))
    return tuple(nics)


def hardware_details(
    inventory: Mapping[str, Any], plugin_data: Mapping[str, Any] | None = None
) -> HardwareDetails:
    """Convert one node's inventory (and the hooks' plugin data) to ``HardwareDetails``."""
    plugin = _map(plugin_data)
    vendor = _map(inventory.get("system_vendor"))
    firmware = _map(vendor.get("firmware"))
    disks = inventory.get("disks")
    return HardwareDetails(
        system_vendor=HardwareSystemVendor(
            manufacturer=_text(vendor.get("manufacturer")),
            product_name=_text(vendor.get("product_name")),
            serial_number=_text(vendor.get("serial_number")),
        ),
        firmware=Firmware(
            bios=BIOS(
                date=_text(firmware.get("build_date")),
                vendor=_text(firmware.get("vendor")),
                version=_text(firmware.get("version")),
            )
        ),
        ram_mebibytes=_int(_map(inventory.get("memory")).get("physical_mb")),
        nics=_nics(
            inventory.get("interfaces"),
            _map(plugin.get("all_interfaces")),
            _map(plugin.get("parsed_lldp")),
        ),
        storage=tuple(_storage(_map(d)) for d in (disks if isinstance(disks, list) else [])),
        cpu=_cpu(_map(inventory.get("cpu"))),
        hostname=_text(inventory.get("hostname")),
    )
