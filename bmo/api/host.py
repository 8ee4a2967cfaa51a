"""The BareMetalHost object: spec, status, and the helper predicates the controller uses.

Field names, JSON names and pointer-vs-value choices follow the Go types exactly (see
:mod:`bmo.api.codec` for why that matters). Everything is frozen: change a host with
``dataclasses.replace``.
"""

# jfield() returns a dataclasses.field() carrying the JSON name, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bmo.api.codec import from_json, jfield, to_json
from bmo.api.constants import (
    BMH_KIND,
    GROUP_VERSION,
    INSPECT_ANNOTATION,
    INSPECT_ANNOTATION_DISABLED,
    BootMode,
    ChecksumType,
    ImageFormat,
    InspectionMode,
    ProvisioningState,
)
from bmo.api.errors import APIError
from bmo.api.hardware import HardwareDetails
from bmo.api.meta import Condition, ObjectMeta, ObjectReference, SecretReference, Taint


class ChecksumError(APIError, ValueError):
    """``spec.image`` checksum fields are inconsistent; ``str()`` is the upstream message."""


# --- spec types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BMCDetails:
    address: str = jfield("address", omitempty=False, default="")
    credentials_name: str = jfield("credentialsName", omitempty=False, default="")
    disable_certificate_verification: bool = jfield("disableCertificateVerification", default=False)


@dataclass(frozen=True)
class RootDeviceHints:
    device_name: str = jfield("deviceName", default="")
    hctl: str = jfield("hctl", default="")
    model: str = jfield("model", default="")
    vendor: str = jfield("vendor", default="")
    serial_number: str = jfield("serialNumber", default="")
    min_size_gigabytes: int = jfield("minSizeGigabytes", default=0)
    wwn: str = jfield("wwn", default="")
    wwn_with_extension: str = jfield("wwnWithExtension", default="")
    wwn_vendor_extension: str = jfield("wwnVendorExtension", default="")
    rotational: bool | None = jfield("rotational", default=None)


@dataclass(frozen=True)
class HardwareRAIDVolume:
    size_gibibytes: int | None = jfield("sizeGibibytes", default=None)
    level: str = jfield("level", omitempty=False, default="")
    name: str = jfield("name", default="")
    rotational: bool | None = jfield("rotational", default=None)
    number_of_physical_disks: int | None = jfield("numberOfPhysicalDisks", default=None)
    controller: str = jfield("controller", default="")
    physical_disks: tuple[str, ...] = jfield("physicalDisks", default=())


@dataclass(frozen=True)
class SoftwareRAIDVolume:
    root_volume: bool = jfield("rootVolume", default=False)
    size_gibibytes: int | None = jfield("sizeGibibytes", default=None)
    level: str = jfield("level", omitempty=False, default="")
    physical_disks: tuple[RootDeviceHints, ...] = jfield("physicalDisks", default=())


@dataclass(frozen=True)
class RAIDConfig:
    """RAID settings. ``None`` lists serialise as ``null``; ``()`` means "delete all"."""

    hardware_raid_volumes: tuple[HardwareRAIDVolume, ...] | None = jfield(
        "hardwareRAIDVolumes", omitempty=False, default=None
    )
    software_raid_volumes: tuple[SoftwareRAIDVolume, ...] | None = jfield(
        "softwareRAIDVolumes", omitempty=False, default=None
    )

    def root_volume_count(self) -> int:
        return sum(1 for v in self.software_raid_volumes or () if v.root_volume)


@dataclass(frozen=True)
class FirmwareConfig:
    """Deprecated BIOS settings; any value is rejected by validation but must decode."""

    virtualization_enabled: bool | None = jfield("virtualizationEnabled", default=None)
    simultaneous_multithreading_enabled: bool | None = jfield(
        "simultaneousMultithreadingEnabled", default=None
    )
    sriov_enabled: bool | None = jfield("sriovEnabled", default=None)


_SUPPORTED_CHECKSUMS = ", ".join(
    (ChecksumType.AUTO, ChecksumType.MD5, ChecksumType.SHA256, ChecksumType.SHA512)
)


@dataclass(frozen=True)
class Image:
    url: str = jfield("url", omitempty=False, default="")
    checksum: str = jfield("checksum", default="")
    checksum_type: str = jfield("checksumType", default="")
    format: str | None = jfield("format", default=None)
    oci_auth_secret_name: str | None = jfield("ociAuthSecretName", default=None)

    def is_live_iso(self) -> bool:
        return self.format == ImageFormat.LIVE_ISO

    def is_oci(self) -> bool:
        return self.url.lower().startswith("oci://")

    def checksum_info(self) -> tuple[str, str]:
        """``(checksum, checksum_type)`` to hand to Ironic; type ``""`` means auto-detect.

        OCI and live-ISO images carry no checksum (OCI must not have one); every other
        image must. Raises :class:`ChecksumError` with the upstream message otherwise.
        """
        if self.is_oci():
            if self.checksum:
                raise ChecksumError(
                    "spec.image.checksum must be empty for OCI images "
                    "(oci:// images have embedded checksums)"
                )
            return "", ""
        if self.is_live_iso():
            return "", ""
        if not self.checksum:
            raise ChecksumError("checksum is required for normal images")
        if self.checksum_type in (ChecksumType.MD5, ChecksumType.SHA256, ChecksumType.SHA512):
            return self.checksum, self.checksum_type
        if self.checksum_type in ("", ChecksumType.AUTO):
            return self.checksum, ""
        raise ChecksumError(
            f"unknown checksumType {self.checksum_type}, supported are {_SUPPORTED_CHECKSUMS}"
        )


@dataclass(frozen=True)
class CustomDeploy:
    method: str = jfield("method", omitempty=False, default="")


@dataclass(frozen=True)
class HostNetworkAttachmentRef:
    name: str = jfield("name", default="")
    namespace: str = jfield("namespace", default="")


@dataclass(frozen=True)
class SwitchPortIdentifier:
    switch_id: str = jfield("switchID", omitempty=False, default="")
    port_id: str = jfield("portID", omitempty=False, default="")
    switch_system_name: str = jfield("switchSystemName", default="")


@dataclass(frozen=True)
class NetworkInterface:
    name: str = jfield("name", default="")
    mac_address: str = jfield("macAddress", default="")
    host_network_attachment: HostNetworkAttachmentRef = jfield(
        "hostNetworkAttachment", omitempty=False, default_factory=HostNetworkAttachmentRef
    )
    switch_port: SwitchPortIdentifier | None = jfield("switchPort", default=None)

    def is_valid(self) -> bool:
        return bool(self.name or self.mac_address)

    def key(self) -> str:
        """The selector: the MAC (lower-cased) when given, else the interface name."""
        return self.mac_address.lower() if self.mac_address else self.name


@dataclass(frozen=True)
class BareMetalHostSpec:
    taints: tuple[Taint, ...] = jfield("taints", default=())
    bmc: BMCDetails = jfield("bmc", default_factory=BMCDetails)
    raid: RAIDConfig | None = jfield("raid", default=None)
    firmware: FirmwareConfig | None = jfield("firmware", default=None)
    hardware_profile: str = jfield("hardwareProfile", default="")
    root_device_hints: RootDeviceHints | None = jfield("rootDeviceHints", default=None)
    boot_mode: str = jfield("bootMode", default="")
    boot_mac_address: str = jfield("bootMACAddress", default="")
    online: bool = jfield("online", omitempty=False, default=False)
    consumer_ref: ObjectReference | None = jfield("consumerRef", default=None)
    image: Image | None = jfield("image", default=None)
    user_data: SecretReference | None = jfield("userData", default=None)
    preprovisioning_network_data_name: str = jfield("preprovisioningNetworkDataName", default="")
    network_data: SecretReference | None = jfield("networkData", default=None)
    meta_data: SecretReference | None = jfield("metaData", default=None)
    description: str = jfield("description", default="")
    externally_provisioned: bool = jfield("externallyProvisioned", default=False)
    automated_cleaning_mode: str = jfield("automatedCleaningMode", default="")
    custom_deploy: CustomDeploy | None = jfield("customDeploy", default=None)
    architecture: str = jfield("architecture", default="")
    disable_power_off: bool = jfield("disablePowerOff", default=False)
    inspection_mode: str = jfield("inspectionMode", default="")
    network_interfaces: tuple[NetworkInterface, ...] = jfield("networkInterfaces", default=())


# --- status types --------------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialsStatus:
    credentials: SecretReference | None = jfield("credentials", default=None)
    credentials_version: str = jfield("credentialsVersion", default="")

    def matches(self, name: str, namespace: str, resource_version: str) -> bool:
        """Whether this records exactly that Secret at that resourceVersion."""
        return (
            self.credentials is not None
            and self.credentials.name == name
            and self.credentials.namespace == namespace
            and self.credentials_version == resource_version
        )


@dataclass(frozen=True)
class OperationMetric:
    # Value metav1.Time fields: an unset time serialises as null.
    start: datetime | None = jfield("start", omitempty=False, default=None)
    end: datetime | None = jfield("end", omitempty=False, default=None)

    def duration(self) -> timedelta:
        """Length of a finished operation; zero while not started or not finished."""
        if self.start is None or self.end is None:
            return timedelta(0)
        return self.end - self.start


@dataclass(frozen=True)
class OperationHistory:
    register: OperationMetric = jfield("register", default_factory=OperationMetric)
    inspect: OperationMetric = jfield("inspect", default_factory=OperationMetric)
    provision: OperationMetric = jfield("provision", default_factory=OperationMetric)
    deprovision: OperationMetric = jfield("deprovision", default_factory=OperationMetric)

    _BY_STATE = {
        ProvisioningState.REGISTERING: "register",
        ProvisioningState.INSPECTING: "inspect",
        ProvisioningState.PROVISIONING: "provision",
        ProvisioningState.DEPROVISIONING: "deprovision",
    }

    @staticmethod
    def attribute_for_state(state: str) -> str | None:
        """Which metric times the operation a state performs (``None``: not timed)."""
        return OperationHistory._BY_STATE.get(state)


@dataclass(frozen=True)
class ProvisionStatus:
    state: str = jfield("state", omitempty=False, default="")
    id: str = jfield("ID", omitempty=False, default="")
    image: Image = jfield("image", default_factory=Image)
    root_device_hints: RootDeviceHints | None = jfield("rootDeviceHints", default=None)
    boot_mode: str = jfield("bootMode", default="")
    raid: RAIDConfig | None = jfield("raid", default=None)
    firmware: FirmwareConfig | None = jfield("firmware", default=None)
    custom_deploy: CustomDeploy | None = jfield("customDeploy", default=None)


@dataclass(frozen=True)
class BareMetalHostStatus:
    operational_status: str = jfield("operationalStatus", omitempty=False, default="")
    error_type: str = jfield("errorType", default="")
    last_updated: datetime | None = jfield("lastUpdated", default=None)
    hardware_profile: str = jfield("hardwareProfile", default="")
    hardware: HardwareDetails | None = jfield("hardware", default=None)
    provisioning: ProvisionStatus = jfield("provisioning", default_factory=ProvisionStatus)
    good_credentials: CredentialsStatus = jfield(
        "goodCredentials", default_factory=CredentialsStatus
    )
    tried_credentials: CredentialsStatus = jfield(
        "triedCredentials", default_factory=CredentialsStatus
    )
    error_message: str = jfield("errorMessage", omitempty=False, default="")
    powered_on: bool = jfield("poweredOn", omitempty=False, default=False)
    operation_history: OperationHistory = jfield(
        "operationHistory", default_factory=OperationHistory
    )
    error_count: int = jfield("errorCount", omitempty=False, default=0)
    provisioning_fail_count: int = jfield("provisioningFailCount", omitempty=False, default=0)
    last_attempted_image: Image | None = jfield("lastAttemptedImage", default=None)
    conditions: tuple[Condition, ...] = jfield("conditions", default=())

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, path: str = "status") -> BareMetalHostStatus:
        return from_json(cls, data, path)

    def is_empty(self) -> bool:
        """Upstream's "status is empty" test: it has never been saved."""
        return self.last_updated is None


# --- the object ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BareMetalHost:
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: BareMetalHostSpec = field(default_factory=BareMetalHostSpec)
    status: BareMetalHostStatus = field(default_factory=BareMetalHostStatus)
    api_version: str = GROUP_VERSION
    kind: str = BMH_KIND

    # -- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata.to_dict(),
            "spec": to_json(self.spec),
            "status": to_json(self.status),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BareMetalHost:
        """Decode an object as read from the API; unknown spec/status keys are dropped."""
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=from_json(BareMetalHostSpec, data.get("spec"), "spec"),
            status=from_json(BareMetalHostStatus, data.get("status"), "status"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or BMH_KIND),
        )

    # -- convenience

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.annotations

    def with_spec(self, **changes: Any) -> BareMetalHost:
        return dataclasses.replace(self, spec=dataclasses.replace(self.spec, **changes))

    def with_status(self, **changes: Any) -> BareMetalHost:
        return dataclasses.replace(self, status=dataclasses.replace(self.status, **changes))

    # -- helper semantics: the ``BareMetalHost`` methods of
    # ``apis/metal3.io/v1alpha1/baremetalhost_types.go`` (``BootMode``, ``HasBMCDetails``,
    # ``InspectionDisabled``, ``NeedsProvisioning``, ``WasProvisioned``, ...)

    def boot_mode(self) -> str:
        return self.spec.boot_mode or BootMode.DEFAULT

    def has_bmc_details(self) -> bool:
        return bool(self.spec.bmc.address or self.spec.bmc.credentials_name)

    def inspection_disabled(self) -> bool:
        if self.spec.inspection_mode == InspectionMode.DISABLED:
            return True
        return self.annotations.get(INSPECT_ANNOTATION) == INSPECT_ANNOTATION_DISABLED

    def needs_provisioning(self) -> bool:
        if not self.spec.online:
            return False
        return self._has_new_image() or self._has_new_custom_deploy()

    def _has_new_image(self) -> bool:
        image = self.spec.image
        if image is None or not image.url:
            return False
        return not self.status.provisioning.image.url

    def _has_new_custom_deploy(self) -> bool:
        wanted = self.spec.custom_deploy
        if wanted is None or not wanted.method:
            return False
        have = self.status.provisioning.custom_deploy
        return have is None or have.method != wanted.method

    def was_provisioned(self) -> bool:
        if self.spec.externally_provisioned:
            return False
        if self.status.provisioning.image.url:
            return True
        return self.status.provisioning.custom_deploy is not None

    def needs_hardware_inspection(self) -> bool:
        """Upstream has it (unused by its controller); kept for parity."""
        if self.spec.externally_provisioned or self.was_provisioned():
            return False
        if self.inspection_disabled():
            return False
        return self.status.hardware is None

    def operation_metric(self, state: str) -> OperationMetric | None:
        attr = OperationHistory.attribute_for_state(state)
        if attr is None:
            return None
        metric: OperationMetric = getattr(self.status.operation_history, attr)
        return metric

    def provisioning_cancelled(self) -> bool:
        return provisioning_cancelled(self)


def provisioning_cancelled(host: BareMetalHost) -> bool:
    """Whether what is (being) provisioned no longer matches the spec.

    Mirrors ``internal/controller/metal3.io/host_state_machine.go``
    ``hostStateMachine.provisioningCancelled``.

    Only the image URL and the custom deploy method count: changing a checksum or format
    on a provisioned host does not re-provision it.
    """
    spec_image = host.spec.image
    status = host.status.provisioning
    have_method = status.custom_deploy.method if status.custom_deploy is not None else ""
    wanted = host.spec.custom_deploy
    if wanted is not None and wanted.method:
        if have_method and have_method != wanted.method:
            return True
        # Same custom deploy: only a provisioned image that the spec no longer names counts.
        return bool(status.image.url) and (spec_image is None or spec_image.url != status.image.url)
    if have_method:
        return True
    if spec_image is None or not spec_image.url:
        return True
    return bool(status.image.url) and spec_image.url != status.image.url
