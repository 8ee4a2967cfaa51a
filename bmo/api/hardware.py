"""Inspection results: ``HardwareDetails`` (``status.hardware``) and the HardwareData object.

Note the Go shapes: ``systemVendor``, ``firmware`` (with ``bios``) and ``cpu`` are value
structs and so always serialised, ``clockMegahertz`` is a float, ``vlanId`` an int32.
"""

# jfield() returns a dataclasses.field() carrying the JSON name, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bmo.api.codec import from_json, jfield, to_json
from bmo.api.constants import GROUP_VERSION, HARDWARE_DATA_KIND
from bmo.api.meta import ObjectMeta


@dataclass(frozen=True)
class HardwareSystemVendor:
    manufacturer: str = jfield("manufacturer", default="")
    product_name: str = jfield("productName", default="")
    serial_number: str = jfield("serialNumber", default="")


@dataclass(frozen=True)
class BIOS:
    date: str = jfield("date", default="")
    vendor: str = jfield("vendor", default="")
    version: str = jfield("version", default="")


@dataclass(frozen=True)
class Firmware:
    bios: BIOS = jfield("bios", default_factory=BIOS)


@dataclass(frozen=True)
class VLAN:
    id: int = jfield("id", default=0)
    name: str = jfield("name", default="")


@dataclass(frozen=True)
class LLDP:
    switch_id: str = jfield("switchID", default="")
    port_id: str = jfield("portID", default="")
    switch_system_name: str = jfield("switchSystemName", default="")


@dataclass(frozen=True)
class NIC:
    name: str = jfield("name", default="")
    model: str = jfield("model", default="")
    mac: str = jfield("mac", default="")
    ip: str = jfield("ip", default="")
    speed_gbps: int = jfield("speedGbps", default=0)
    vlans: tuple[VLAN, ...] = jfield("vlans", default=())
    vlan_id: int = jfield("vlanId", default=0)
    pxe: bool = jfield("pxe", default=False)
    lldp: LLDP | None = jfield("lldp", default=None)
    pci_address: str = jfield("pciAddress", default="")


@dataclass(frozen=True)
class Storage:
    name: str = jfield("name", default="")
    alternate_names: tuple[str, ...] = jfield("alternateNames", default=())
    rotational: bool = jfield("rotational", default=False)
    type: str = jfield("type", default="")
    size_bytes: int = jfield("sizeBytes", default=0)
    vendor: str = jfield("vendor", default="")
    model: str = jfield("model", default="")
    serial_number: str = jfield("serialNumber", default="")
    wwn: str = jfield("wwn", default="")
    wwn_vendor_extension: str = jfield("wwnVendorExtension", default="")
    wwn_with_extension: str = jfield("wwnWithExtension", default="")
    hctl: str = jfield("hctl", default="")


@dataclass(frozen=True)
class CPU:
    arch: str = jfield("arch", default="")
    model: str = jfield("model", default="")
    clock_megahertz: float = jfield("clockMegahertz", default=0.0)
    flags: tuple[str, ...] = jfield("flags", default=())
    count: int = jfield("count", default=0)


@dataclass(frozen=True)
class HardwareDetails:
    system_vendor: HardwareSystemVendor = jfield(
        "systemVendor", default_factory=HardwareSystemVendor
    )
    firmware: Firmware = jfield("firmware", default_factory=Firmware)
    ram_mebibytes: int = jfield("ramMebibytes", default=0)
    nics: tuple[NIC, ...] = jfield("nics", default=())
    storage: tuple[Storage, ...] = jfield("storage", default=())
    cpu: CPU = jfield("cpu", default_factory=CPU)
    hostname: str = jfield("hostname", default="")

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, path: str = "") -> HardwareDetails:
        return from_json(cls, data, path)


@dataclass(frozen=True)
class HardwareDataSpec:
    hardware: HardwareDetails | None = jfield("hardware", default=None)


@dataclass(frozen=True)
class HardwareData:
    """The HardwareData object: same name as its host, holds ``spec.hardware``."""

    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: HardwareDataSpec = field(default_factory=HardwareDataSpec)
    api_version: str = GROUP_VERSION
    kind: str = HARDWARE_DATA_KIND

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata.to_dict(),
            "spec": to_json(self.spec),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardwareData:
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=from_json(HardwareDataSpec, data.get("spec"), "spec"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or HARDWARE_DATA_KIND),
        )
