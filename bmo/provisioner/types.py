"""The small frozen values that cross the provisioner seam.

They mirror the Go operator's ``pkg/provisioner`` structs: what the state machine knows
about a host, cut down to what one provisioner call needs. None of them holds a Kubernetes
object or a Secret: credentials arrive as :class:`bmo.api.bmc.Credentials` (whose repr hides
the password) and user/network/meta data through a :class:`HostConfigData` accessor the
reconciler implements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol

from bmo.api.bmc import Credentials
from bmo.api.firmware import (
    FirmwareComponentStatus,
    FirmwareUpdate,
    IntOrString,
    SettingSchema,
)
from bmo.api.hardware import HardwareDetails
from bmo.api.host import (
    BareMetalHost,
    CustomDeploy,
    FirmwareConfig,
    Image,
    RAIDConfig,
    RootDeviceHints,
)
from bmo.api.profiles import HardwareProfile

__all__ = [
    "AdoptData",
    "EventPublisher",
    "FirmwareComponentStatus",
    "FirmwareComponentUpdate",
    "FirmwareSettingsResult",
    "HardwareState",
    "Health",
    "HostConfigData",
    "HostData",
    "InspectData",
    "ManagementAccessData",
    "PrepareData",
    "PreprovisioningImage",
    "ProvisionData",
    "ProvisionResult",
    "ServicingData",
    "build_host_data",
]

#: ``publish(reason, message)``: how a provisioner reports progress as Kubernetes events.
EventPublisher = Callable[[str, str], None]


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


def _empty_targets() -> Mapping[str, IntOrString]:
    return MappingProxyType({})


class Health:
    """``get_health()`` values (Ironic's node ``health``); ``""`` means unknown."""

    UNKNOWN: Final = ""
    OK: Final = "OK"
    WARNING: Final = "Warning"
    CRITICAL: Final = "Critical"


@dataclass(frozen=True)
class ProvisionResult:
    """What one provisioner call did.

    ``dirty``: work is in progress, call again after ``requeue_after`` seconds.
    ``error_message``: the operation failed; the state machine records a typed error and
    backs off. Transient trouble is an exception (:mod:`bmo.provisioner.errors`) instead.
    """

    dirty: bool = False
    requeue_after: float = 0.0
    error_message: str = ""


@dataclass(frozen=True)
class HardwareState:
    """The cheaply observed state of the machine; ``None`` means "could not tell"."""

    powered_on: bool | None = None


@dataclass(frozen=True)
class HostData:
    """Everything a provisioner needs to find and reach one host, built per reconcile."""

    namespace: str
    name: str
    uid: str = ""
    provisioner_id: str = ""
    bmc_address: str = ""
    bmc_credentials: Credentials = field(default_factory=lambda: Credentials("", ""), repr=False)
    disable_certificate_verification: bool = False
    boot_mac_address: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


def build_host_data(host: BareMetalHost, credentials: Credentials | None = None) -> HostData:
    """``HostData`` for a host as it stands; ``credentials`` ``None`` means "none loaded"."""
    return HostData(
        namespace=host.namespace,
        name=host.name,
        uid=host.metadata.uid,
        provisioner_id=host.status.provisioning.id,
        bmc_address=host.spec.bmc.address,
        bmc_credentials=credentials if credentials is not None else Credentials("", ""),
        disable_certificate_verification=host.spec.bmc.disable_certificate_verification,
        boot_mac_address=host.spec.boot_mac_address,
    )


@dataclass(frozen=True)
class PreprovisioningImage:
    """A built IPA image for the host (from its PreprovisioningImage object)."""

    image_url: str
    format: str
    kernel_url: str = ""
    extra_kernel_params: str = ""


@dataclass(frozen=True)
class ManagementAccessData:
    """What ``register`` needs beyond ``HostData``: enough to (re)create the node right."""

    boot_mode: str = ""
    automated_cleaning_mode: str = ""
    #: ``disabled`` when inspection is off (field or legacy annotation), else the spec's mode.
    inspection_mode: str = ""
    state: str = ""
    operational_status: str = ""
    current_image: Image | None = None
    has_custom_deploy: bool = False
    disable_power_off: bool = False
    cpu_architecture: str = ""
    preprovisioning_image: PreprovisioningImage | None = None
    preprovisioning_network_data: str = field(default="", repr=False)
    hardware_data: HardwareDetails | None = None


@dataclass(frozen=True)
class InspectData:
    boot_mode: str = ""
    cpu_architecture: str = ""
    inspection_mode: str = ""


#: One ``HostFirmwareComponents`` update (component ``bios``, ``bmc``, ``nic:*`` and a URL):
#: the API type itself, so the step builders in :mod:`bmo.api.firmware_steps` take it as is.
FirmwareComponentUpdate = FirmwareUpdate


@dataclass(frozen=True)
class FirmwareSettingsResult:
    """``GetFirmwareSettings``: Ironic's BIOS settings and, when asked for, their registry.

    ``settings`` are the values as Ironic reports them (strings, Password settings left
    out by the caller); ``schema`` is ``None`` unless ``include_schema`` was requested.
    """

    settings: Mapping[str, str] = field(default_factory=_empty)
    schema: Mapping[str, SettingSchema] | None = None


@dataclass(frozen=True)
class PrepareData:
    """Manual-cleaning targets; ``actual_raid_config`` ``None`` means "unknown, redo".

    ``target_firmware_settings`` are HostFirmwareSettings ``spec.settings`` (int-or-string:
    an int reaches Ironic as a JSON integer); ``target_firmware_components`` only the
    pending updates (``provisioner.go PrepareData``).
    """

    target_raid_config: RAIDConfig | None = None
    actual_raid_config: RAIDConfig | None = None
    root_device_hints: RootDeviceHints | None = None
    firmware_config: FirmwareConfig | None = None
    target_firmware_settings: Mapping[str, IntOrString] = field(default_factory=_empty_targets)
    actual_firmware_settings: Mapping[str, str] = field(default_factory=_empty)
    target_firmware_components: tuple[FirmwareComponentUpdate, ...] = ()


@dataclass(frozen=True)
class ServicingData:
    """What ``service`` applies to a provisioned host (``provisioner.go ServicingData``).

    The ``has_*_spec`` and ``triggered_by_*`` flags decide an abort: servicing started for
    settings is withdrawn once the HostFirmwareSettings has no ``spec.settings`` left, for
    components once the HostFirmwareComponents has no ``spec.updates`` (both when both
    started it) — ``servicing.go shouldAbortServicing``.
    """

    firmware_config: FirmwareConfig | None = None
    target_firmware_settings: Mapping[str, IntOrString] = field(default_factory=_empty_targets)
    actual_firmware_settings: Mapping[str, str] = field(default_factory=_empty)
    target_firmware_components: tuple[FirmwareComponentUpdate, ...] = ()
    has_firmware_settings_spec: bool = False
    has_firmware_components_spec: bool = False
    triggered_by_settings: bool = False
    triggered_by_components: bool = False

    def should_abort(self) -> bool:
        """``servicing.go shouldAbortServicing``: the changes that started it were withdrawn."""
        if self.triggered_by_settings and self.triggered_by_components:
            return not self.has_firmware_settings_spec and not self.has_firmware_components_spec
        if self.triggered_by_settings:
            return not self.has_firmware_settings_spec
        if self.triggered_by_components:
            return not self.has_firmware_components_spec
        return False


class HostConfigData(Protocol):
    """Config-drive contents, fetched lazily from the host's Secrets by the reconciler.

    Each returns ``None`` when the host names no such Secret; a Secret that is missing or
    lacks its key raises (the state machine records a provisioning error).
    """

    def user_data(self) -> str | None: ...

    def network_data(self) -> str | None: ...

    def meta_data(self) -> str | None: ...


@dataclass(frozen=True)
class ProvisionData:
    image: Image
    hardware_profile: HardwareProfile
    custom_deploy: CustomDeploy | None = None
    boot_mode: str = ""
    root_device_hints: RootDeviceHints | None = None
    raid: RAIDConfig | None = None
    host_config: HostConfigData | None = None
    #: OCI registry credentials (dockerconfig JSON), resolved by the reconciler.
    image_pull_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class AdoptData:
    state: str = ""
