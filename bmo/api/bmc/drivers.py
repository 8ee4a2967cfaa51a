"""The BMC driver registry: which Ironic driver and interfaces each address scheme means.

This is the one place that knows hardware types. The provisioner asks an ``AccessDetails``
for the node-create fields and ``driver_info``; validation asks it for capabilities (MAC
needed, secure boot, RAID, fast inspection, provisioning network). The table mirrors the Go
operator's ``pkg/hardwareutils/bmc`` at HEAD; schemes it removed (irmc, ilo4, ilo5, WSMAN
idrac, ibmc) are not registered and so fail as unknown types, as they do there.

``fake`` is bmo's own development scheme for Ironic's ``fake-hardware`` driver, the
counterpart of the Go operator's test-only provisioner. It is refused unless the caller
passes ``allow_development=True`` (bmo's development-drivers switch), so a production
operator never accepts a host that would silently do nothing.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Any

from bmo.api.bmc.address import ParsedAddress, parse_address, redact_address
from bmo.api.bmc.credentials import Credentials
from bmo.api.bmc.errors import BMCAddressError, DevelopmentDriverDisabledError, UnknownBMCTypeError
from bmo.api.golang.url import parse_query

__all__ = [
    "DEVELOPMENT_DRIVERS_HINT",
    "REMOVED_TYPES",
    "AccessDetails",
    "DriverInfoStyle",
    "DriverSpec",
    "access_details",
    "driver_spec",
    "supported_types",
]

#: How to turn development drivers on; part of the message when ``fake`` is refused.
DEVELOPMENT_DRIVERS_HINT = "start bmo with --development-drivers (BMO_DEVELOPMENT_DRIVERS=true)"

#: Schemes older operator releases registered in ``pkg/hardwareutils/bmc`` (``irmc.go``,
#: ``ilo4.go``, ``ilo5.go``, ``idrac.go``, ``ibmc.go``) and HEAD rejects as unknown types.
REMOVED_TYPES: tuple[str, ...] = (
    "irmc",
    "ilo4",
    "ilo4+https",
    "ilo4-virtualmedia",
    "ilo5",
    "ilo5+https",
    "idrac",
    "idrac+http",
    "idrac+https",
    "ibmc",
    "ibmc+http",
    "ibmc+https",
)

_IPMI_DEFAULT_PORT = "623"
_IPMI_DEFAULT_PRIVILEGE = "ADMINISTRATOR"
_REDFISH_DEFAULT_TRANSPORT = "https"
_NO_RAID = "no-raid"


class DriverInfoStyle(enum.Enum):
    """Which ``driver_info`` layout a scheme uses."""

    IPMI = "ipmi"
    #: ``redfish_system_id`` only when the path says more than "" or ``redfish/v1``.
    REDFISH = "redfish"
    #: ``redfish_system_id`` always, even empty (``redfish-uefihttp``).
    REDFISH_SYSTEM_ID_ALWAYS = "redfish-system-id-always"
    NONE = "none"


@dataclass(frozen=True)
class DriverSpec:
    """What one BMC scheme maps to in Ironic. Empty interface names are left to Ironic."""

    name: str
    driver: str
    boot_interface: str = ""
    bios_interface: str = ""
    firmware_interface: str = ""
    management_interface: str = ""
    power_interface: str = ""
    raid_interface: str = ""
    vendor_interface: str = ""
    #: Out-of-band inspect interface used for ``inspectionMode: fast``; "" = unsupported.
    inspect_interface: str = ""
    needs_mac: bool = False
    supports_secure_boot: bool = False
    supports_iso_preprovisioning: bool = False
    requires_provisioning_network: bool = True
    driver_info_style: DriverInfoStyle = DriverInfoStyle.REDFISH
    #: Also registered as ``<name>+<transport>``; the transport picks the Redfish URL scheme.
    transports: tuple[str, ...] = ()
    development_only: bool = False


def _ipmi(name: str, *, needs_mac: bool) -> DriverSpec:
    return DriverSpec(
        name=name,
        driver="ipmi",
        boot_interface="ipxe",
        raid_interface=_NO_RAID,
        needs_mac=needs_mac,
        driver_info_style=DriverInfoStyle.IPMI,
    )


def _redfish(name: str, *, boot: str, virtual_media: bool, **extra: Any) -> DriverSpec:
    spec: dict[str, Any] = {
        "name": name,
        "driver": "redfish",
        "boot_interface": boot,
        "firmware_interface": "redfish",
        "raid_interface": "redfish",
        "inspect_interface": "redfish",
        "supports_secure_boot": True,
        "supports_iso_preprovisioning": virtual_media,
        "requires_provisioning_network": not virtual_media,
        "transports": ("http", "https"),
    }
    spec.update(extra)
    return DriverSpec(**spec)


def _idrac(name: str, *, boot: str, virtual_media: bool) -> DriverSpec:
    return _redfish(
        name,
        boot=boot,
        virtual_media=virtual_media,
        driver="idrac",
        bios_interface="idrac-redfish",
        management_interface="idrac-redfish",
        power_interface="idrac-redfish",
        raid_interface="idrac-redfish",
        # The idrac hardware type defaults to the WSMAN vendor interface.
        vendor_interface="idrac-redfish",
    )


_SPECS: tuple[DriverSpec, ...] = (
    _ipmi("ipmi", needs_mac=False),
    # libvirt (virtualbmc) hosts are for development and testing and need a boot MAC.
    _ipmi("libvirt", needs_mac=True),
    _redfish("redfish", boot="ipxe", virtual_media=False),
    _redfish("ilo5-redfish", boot="ipxe", virtual_media=False),
    _redfish("redfish-virtualmedia", boot="redfish-virtual-media", virtual_media=True),
    _redfish("ilo5-virtualmedia", boot="redfish-virtual-media", virtual_media=True),
    _redfish(
        "redfish-uefihttp",
        boot="redfish-https",
        virtual_media=True,
        driver_info_style=DriverInfoStyle.REDFISH_SYSTEM_ID_ALWAYS,
    ),
    _idrac("idrac-redfish", boot="ipxe", virtual_media=False),
    _idrac("idrac-virtualmedia", boot="idrac-redfish-virtual-media", virtual_media=True),
    # fake-hardware: every interface defaults to "fake" in Ironic and it needs no
    # driver_info. No out-of-band inspection: fake inspection records no inventory.
    DriverSpec(
        name="fake",
        driver="fake-hardware",
        supports_secure_boot=True,
        requires_provisioning_network=False,
        driver_info_style=DriverInfoStyle.NONE,
        development_only=True,
    ),
)


def _build_registry(specs: tuple[DriverSpec, ...]) -> dict[str, DriverSpec]:
    registry: dict[str, DriverSpec] = {}
    for spec in specs:
        for scheme in (spec.name, *(f"{spec.name}+{t}" for t in spec.transports)):
            if scheme in registry:
                raise AssertionError(f"BMC scheme {scheme!r} registered twice")
            registry[scheme] = spec
    if overlap := set(REMOVED_TYPES) & set(registry):
        raise AssertionError(f"removed BMC schemes registered: {sorted(overlap)}")
    return registry


_REGISTRY = _build_registry(_SPECS)


@dataclass(frozen=True)
class AccessDetails:
    """How to reach one BMC: the scheme's ``DriverSpec`` bound to a parsed address.

    ``type`` is the scheme as Go reports it (lower-cased, suffix kept, e.g. ``redfish+https``);
    it is the ``<type>`` in messages such as ``BMC driver <type> requires a BootMACAddress
    value``.
    """

    type: str
    address: ParsedAddress
    spec: DriverSpec = field(repr=False)
    disable_certificate_verification: bool = False

    @property
    def driver(self) -> str:
        return self.spec.driver

    @property
    def boot_interface(self) -> str:
        return self.spec.boot_interface

    @property
    def bios_interface(self) -> str:
        return self.spec.bios_interface

    @property
    def firmware_interface(self) -> str:
        return self.spec.firmware_interface

    @property
    def management_interface(self) -> str:
        return self.spec.management_interface

    @property
    def power_interface(self) -> str:
        return self.spec.power_interface

    @property
    def raid_interface(self) -> str:
        return self.spec.raid_interface

    @property
    def vendor_interface(self) -> str:
        return self.spec.vendor_interface

    @property
    def inspect_interface(self) -> str:
        """Out-of-band inspect interface for ``inspectionMode: fast``; "" if unsupported."""
        return self.spec.inspect_interface

    @property
    def needs_mac(self) -> bool:
        return self.spec.needs_mac

    @property
    def supports_secure_boot(self) -> bool:
        return self.spec.supports_secure_boot

    @property
    def supports_iso_preprovisioning(self) -> bool:
        return self.spec.supports_iso_preprovisioning

    @property
    def requires_provisioning_network(self) -> bool:
        return self.spec.requires_provisioning_network

    @property
    def supports_raid(self) -> bool:
        """False for ``no-raid`` drivers: hardware RAID volumes are then refused."""
        return self.spec.raid_interface != _NO_RAID

    @property
    def supports_fast_inspection(self) -> bool:
        return self.spec.inspect_interface != ""

    @property
    def development_only(self) -> bool:
        return self.spec.development_only

    def node_interfaces(self) -> dict[str, str]:
        """The node-create interface fields this driver sets; empty ones are left out."""
        fields = {
            "bios_interface": self.bios_interface,
            "boot_interface": self.boot_interface,
            "firmware_interface": self.firmware_interface,
            "management_interface": self.management_interface,
            "power_interface": self.power_interface,
            "raid_interface": self.raid_interface,
            "vendor_interface": self.vendor_interface,
        }
        return {name: value for name, value in fields.items() if value}

    def driver_info(self, credentials: Credentials) -> dict[str, Any]:
        """Ironic ``driver_info`` for this BMC; holds the password, so never log it."""
        style = self.spec.driver_info_style
        if style is DriverInfoStyle.NONE:
            return {}
        if style is DriverInfoStyle.IPMI:
            return self._ipmi_driver_info(credentials)
        return self._redfish_driver_info(credentials)

    def _ipmi_driver_info(self, credentials: Credentials) -> dict[str, Any]:
        info: dict[str, Any] = {
            "ipmi_port": self.address.port or _IPMI_DEFAULT_PORT,
            "ipmi_username": credentials.username,
            "ipmi_password": credentials.password,
            "ipmi_address": self.address.hostname,
            "ipmi_priv_level": _privilege_level(self.address.raw_query),
        }
        if self.disable_certificate_verification:
            info["ipmi_verify_ca"] = False
        return info

    def _redfish_driver_info(self, credentials: Credentials) -> dict[str, Any]:
        _, plus, transport = self.type.partition("+")
        transport = transport.partition("+")[0] if plus else _REDFISH_DEFAULT_TRANSPORT
        info: dict[str, Any] = {
            "redfish_username": credentials.username,
            "redfish_password": credentials.password,
            "redfish_address": f"{transport}://{self.address.host}",
        }
        path = self.address.path
        if self.spec.driver_info_style is DriverInfoStyle.REDFISH_SYSTEM_ID_ALWAYS or (
            path.strip("/") not in ("", "redfish/v1")
        ):
            info["redfish_system_id"] = path
        if self.disable_certificate_verification:
            info["redfish_verify_ca"] = False
        return info


def _privilege_level(raw_query: str) -> str:
    """``privilegelevel`` from the query; the default when absent or the query is malformed."""
    values, failed = parse_query(raw_query)
    if failed or "privilegelevel" not in values:
        return _IPMI_DEFAULT_PRIVILEGE
    return values["privilegelevel"][0]


def driver_spec(bmc_type: str, *, allow_development: bool = False) -> DriverSpec | None:
    """The spec registered for a scheme (``redfish+http``), or None if it is not available."""
    spec = _REGISTRY.get(bmc_type)
    if spec is None or (spec.development_only and not allow_development):
        return None
    return spec


def supported_types(*, allow_development: bool = False) -> list[str]:
    """Every accepted scheme, sorted; development schemes only when allowed."""
    return sorted(
        scheme
        for scheme, spec in _REGISTRY.items()
        if allow_development or not spec.development_only
    )


def access_details(
    address: str,
    disable_certificate_verification: bool = False,
    *,
    allow_development: bool = False,
) -> AccessDetails:
    """Parse ``address`` and bind it to its driver (the operator's ``NewAccessDetails``).

    Raises ``BMCAddressError`` (empty or unparsable), ``UnknownBMCTypeError`` (no such
    scheme, including removed drivers) or ``DevelopmentDriverDisabledError`` (``fake`` while
    development drivers are off).
    """
    if address == "":
        raise BMCAddressError("missing BMC address")
    return _access_details(address, disable_certificate_verification, allow_development)


@functools.lru_cache(maxsize=4096)
def _access_details(
    address: str, disable_certificate_verification: bool, allow_development: bool
) -> AccessDetails:
    """Every reconcile step of every host asks (credentials, provisioner data); the answer
    is immutable and depends only on the arguments, so a fleet's addresses are parsed once
    each. Refusals raise and are not kept."""
    parsed = parse_address(address)
    spec = _REGISTRY.get(parsed.scheme)
    shown = redact_address(address, address)
    if spec is None:
        raise UnknownBMCTypeError(parsed.scheme, shown)
    if spec.development_only and not allow_development:
        raise DevelopmentDriverDisabledError(parsed.scheme, shown, DEVELOPMENT_DRIVERS_HINT)
    return AccessDetails(
        type=parsed.scheme,
        address=parsed,
        spec=spec,
        disable_certificate_verification=disable_certificate_verification,
    )
