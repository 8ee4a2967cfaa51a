"""The validating webhook's rules, as pure functions.

Mirrors ``internal/webhooks/metal3.io/v1alpha1/baremetalhost_validation.go`` (``validateHost``
for create, ``validateChanges`` for update).

Every problem is reported, not just the first, each with the field it concerns and the
exact message the Go operator gives, so users moving manifests between the two see the
same rejections. Schema-level checks (types, enums, patterns) live in :mod:`bmo.api.schema`;
the API server enforces those before any webhook runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bmo.api.annotations import DetachedAnnotationArguments, RebootAnnotationArguments
from bmo.api.bmc import AccessDetails, BMCError, access_details
from bmo.api.constants import (
    DETACHED_ANNOTATION,
    HARDWARE_DETAILS_ANNOTATION,
    INSPECT_ANNOTATION,
    INSPECT_ANNOTATION_DISABLED,
    REBOOT_ANNOTATION,
    REBOOT_ANNOTATION_PREFIX,
    STATUS_ANNOTATION,
    BootMode,
    DetachedDeleteAction,
    ErrorType,
    InspectionMode,
    OperationalStatus,
    ProvisioningState,
)
from bmo.api.golang.json import GoJSONError, go_json_decode
from bmo.api.golang.net import parse_mac_error
from bmo.api.golang.strconv import go_quote
from bmo.api.golang.url import GoURLError, parse_request_uri
from bmo.api.golang.uuid import is_uuid
from bmo.api.hardware import HardwareDetails
from bmo.api.host import BareMetalHost, BareMetalHostStatus, ChecksumError, Image
from bmo.api.safejson import MAX_ANNOTATION_BYTES


@dataclass(frozen=True)
class ValidationProblem:
    """One rejected aspect of a host: ``field`` is a path such as ``spec.bmc.address``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


IMAGE_URL_SCHEMES = ("http", "https", "ftp", "gopher", "oci")
_NAME_INVALID = re.compile(r"[^A-Za-z0-9._\-]")

# What the status annotation may carry: every value the controller itself writes.
_STATUS_ANNOTATION_OPERATIONAL = OperationalStatus.ALL
_STATUS_ANNOTATION_ERROR_TYPES = ("", *ErrorType.ALL)


def _annotation_field(key: str) -> str:
    return f"metadata.annotations[{key}]"


class _Collector:
    def __init__(self) -> None:
        self.problems: list[ValidationProblem] = []

    def add(self, field: str, message: str) -> None:
        problem = ValidationProblem(field, message)
        if problem not in self.problems:
            self.problems.append(problem)


def validate_create(
    host: BareMetalHost, *, allow_development: bool = False
) -> list[ValidationProblem]:
    """Every problem the webhook would report when ``host`` is created."""
    out = _Collector()
    spec = host.spec

    access: AccessDetails | None = None
    if spec.bmc.address:
        try:
            access = access_details(
                spec.bmc.address,
                spec.bmc.disable_certificate_verification,
                allow_development=allow_development,
            )
        except BMCError as exc:
            out.add("spec.bmc.address", str(exc))

    for attr, name in (("user_data", "userData"), ("network_data", "networkData")):
        _check_secret_namespace(out, host, name, getattr(spec, attr))
    _check_secret_namespace(out, host, "metaData", spec.meta_data)

    _check_raid(out, host)

    if spec.firmware is not None:
        out.add(
            "spec.firmware",
            "the Firmware field is no longer supported, use HostFirmwareSettings resource instead",
        )

    if access is not None:
        _check_bmc_access(out, host, access)

    _check_name(out, host.name)
    _check_root_device_hints(out, host)
    if spec.image is not None:
        _check_image(out, spec.image)
    _check_annotations(out, host)
    _check_inspection_mode(out, host)
    if spec.disable_power_off and not spec.online:
        out.add(
            "spec.disablePowerOff",
            "node can't simultaneously have online set to false and have power off disabled",
        )
    _check_network_interfaces(out, host)
    return out.problems


def validate_update(
    old: BareMetalHost, new: BareMetalHost, *, allow_development: bool = False
) -> list[ValidationProblem]:
    """Every problem the webhook would report for the update ``old`` -> ``new``."""
    problems = validate_create(new, allow_development=allow_development)
    out = _Collector()
    out.problems = problems

    old_address, new_address = old.spec.bmc.address, new.spec.bmc.address
    if old_address and new_address != old_address:
        detached = OperationalStatus.DETACHED in (
            old.status.operational_status,
            new.status.operational_status,
        )
        registering = ProvisioningState.REGISTERING in (
            old.status.provisioning.state,
            new.status.provisioning.state,
        )
        if not detached and not registering:
            out.add(
                "spec.bmc.address",
                "BMC address can not be changed if the BMH is not in the Registering state, "
                "or if the BMH is not detached",
            )

    old_mac, new_mac = old.spec.boot_mac_address, new.spec.boot_mac_address
    if old_mac and old_mac.lower() != new_mac.lower():
        out.add("spec.bootMACAddress", "bootMACAddress can not be changed once it is set")

    if not old.spec.externally_provisioned and new.spec.externally_provisioned:
        states = (old.status.provisioning.state, new.status.provisioning.state)
        if ProvisioningState.AVAILABLE not in states:
            out.add(
                "spec.externallyProvisioned",
                "externallyProvisioned can only be enabled when in Available state, "
                f"currently in {new.status.provisioning.state}",
            )
    return out.problems


# --- individual rules ----------------------------------------------------------------------


def _check_secret_namespace(out: _Collector, host: BareMetalHost, name: str, ref: object) -> None:
    namespace = getattr(ref, "namespace", "")
    if ref is not None and namespace and namespace != host.namespace:
        out.add(
            f"spec.{name}",
            f'baremetalhosts.metal3.io "{host.name}" is forbidden: '
            f"{name}: cross-namespace Secret references are not allowed",
        )


def _check_raid(out: _Collector, host: BareMetalHost) -> None:
    raid = host.spec.raid
    if raid is None:
        return
    hardware = raid.hardware_raid_volumes or ()
    software = raid.software_raid_volumes or ()
    if hardware and software:
        out.add(
            "spec.raid",
            "hardwareRAIDVolumes and softwareRAIDVolumes can not be set at the same time",
        )
    for index, volume in enumerate(hardware):
        field = f"spec.raid.hardwareRAIDVolumes[{index}]"
        if volume.physical_disks and not volume.controller:
            out.add(
                f"{field}.controller",
                f"'physicalDisks' specified without 'controller' in hardware RAID volume {index}",
            )
        wanted = volume.number_of_physical_disks
        if wanted is not None and volume.physical_disks and wanted != len(volume.physical_disks):
            out.add(
                f"{field}.numberOfPhysicalDisks",
                f"the 'numberOfPhysicalDisks'[{wanted}] and number of "
                f"'physicalDisks'[{len(volume.physical_disks)}] is not same for volume {index}",
            )
    if raid.root_volume_count() > 1:
        out.add(
            "spec.raid.softwareRAIDVolumes",
            "softwareRAIDVolumes[*].rootVolume can only be set once",
        )
    if raid.root_volume_count() >= 1 and host.spec.root_device_hints is not None:
        out.add(
            "spec.rootDeviceHints",
            "softwareRAIDVolumes[*].rootVolume and rootDeviceHints can not be set at the same time",
        )
    for index, sw_volume in enumerate(software):
        if sw_volume.root_volume and sw_volume.level != "1":
            out.add(
                f"spec.raid.softwareRAIDVolumes[{index}].level",
                f"softwareRAIDVolumes[{index}] with rootVolume set must use RAID level 1",
            )


def _check_bmc_access(out: _Collector, host: BareMetalHost, access: AccessDetails) -> None:
    spec = host.spec
    raid = spec.raid
    if raid is not None and raid.hardware_raid_volumes and access.raid_interface == "no-raid":
        out.add(
            "spec.raid.hardwareRAIDVolumes",
            f"BMC driver {access.type} does not support configuring RAID",
        )
    # Virtual-media drivers can find the MAC by inspection; without inspection they cannot.
    if (access.needs_mac or host.inspection_disabled()) and not spec.boot_mac_address:
        out.add("spec.bootMACAddress", f"BMC driver {access.type} requires a BootMACAddress value")
    if spec.boot_mac_address:
        error = parse_mac_error(spec.boot_mac_address)
        if error is not None:
            out.add("spec.bootMACAddress", error)
    if spec.boot_mode == BootMode.UEFI_SECURE_BOOT and not access.supports_secure_boot:
        out.add("spec.bootMode", f"BMC driver {access.type} does not support secure boot")
    if spec.inspection_mode == InspectionMode.FAST and access.inspect_interface == "":
        out.add(
            "spec.inspectionMode",
            f"BMC driver {access.type} does not support fast (out-of-band) inspection",
        )


def _check_name(out: _Collector, name: str) -> None:
    if _NAME_INVALID.search(name):
        out.add(
            "metadata.name",
            "BareMetalHost resource name cannot contain characters other than [A-Za-z0-9._-]",
        )
    elif is_uuid(name):
        out.add("metadata.name", "BareMetalHost resource name cannot be a UUID")


def _check_root_device_hints(out: _Collector, host: BareMetalHost) -> None:
    hints = host.spec.root_device_hints
    if hints is None or not hints.device_name:
        return
    name = hints.device_name
    field = "spec.rootDeviceHints.deviceName"
    if not name.startswith("/dev/"):
        out.add(field, f'device name of root device hint must be a /dev/ path, not "{name}"')
        return
    subpath = name.removeprefix("/dev/").removeprefix("disk/by-path/")
    if "/" in subpath:
        out.add(
            field,
            "device name of root device hint must be path in /dev/ or /dev/disk/by-path/, "
            f'not "{name}"',
        )


def image_url_error(url: str) -> str | None:
    """Why ``url`` is not an acceptable image URL (Go wording), or ``None``."""
    try:
        scheme = parse_request_uri(url).scheme
    except GoURLError as exc:
        return str(exc)
    if scheme not in IMAGE_URL_SCHEMES:
        return f"invalid scheme in URL, {go_quote(scheme)} not allowed"
    return None


def _check_image(out: _Collector, image: Image) -> None:
    reason = image_url_error(image.url)
    if reason is not None:
        out.add("spec.image.url", f"image URL {image.url} is invalid: {reason}")
    try:
        image.checksum_info()
    except ChecksumError as exc:
        field = "spec.image.checksumType" if image.checksum else "spec.image.checksum"
        if image.is_oci():
            field = "spec.image.checksum"
        out.add(field, str(exc))


_JSON_ANNOTATIONS = (STATUS_ANNOTATION, HARDWARE_DETAILS_ANNOTATION, DETACHED_ANNOTATION)


def _is_json_annotation(key: str) -> bool:
    return (
        key in _JSON_ANNOTATIONS
        or key == REBOOT_ANNOTATION
        or key.startswith(REBOOT_ANNOTATION_PREFIX)
    )


def _check_annotations(out: _Collector, host: BareMetalHost) -> None:
    for key, value in host.annotations.items():
        field = _annotation_field(key)
        if _is_json_annotation(key) and len(value) > MAX_ANNOTATION_BYTES:
            # The API server refuses this much in all annotations together; bmo validate
            # and the decoders below need not read it.
            message: str | None = (
                f"the {key} annotation is {len(value)} characters long and exceeds the limit "
                f"of {MAX_ANNOTATION_BYTES}"
            )
        elif key == STATUS_ANNOTATION:
            message = _status_annotation_error(value)
        elif key == REBOOT_ANNOTATION or key.startswith(REBOOT_ANNOTATION_PREFIX):
            message = _reboot_annotation_error(value)
        elif key == INSPECT_ANNOTATION:
            message = None
            if value not in (INSPECT_ANNOTATION_DISABLED, ""):
                message = (
                    f"invalid value for the {INSPECT_ANNOTATION} annotation, "
                    'allowed are "disabled" or ""'
                )
        elif key == HARDWARE_DETAILS_ANNOTATION:
            message = _hardware_details_annotation_error(value, host.inspection_disabled())
        elif key == DETACHED_ANNOTATION:
            message = _detached_annotation_error(value)
        else:
            message = None
        if message is not None:
            out.add(field, message)


def _status_annotation_error(value: str) -> str | None:
    if value == "":
        return None
    try:
        data = go_json_decode(value, BareMetalHostStatus, strict=True, stream=True)
    except GoJSONError as exc:
        return f"error decoding status annotation: {exc}"
    operational = data.get("operationalStatus") or ""
    if operational not in _STATUS_ANNOTATION_OPERATIONAL:
        return f"invalid operationalStatus '{operational}' in the {STATUS_ANNOTATION} annotation"
    error_type = data.get("errorType") or ""
    if error_type not in _STATUS_ANNOTATION_ERROR_TYPES:
        return f"invalid errorType '{error_type}' in the {STATUS_ANNOTATION} annotation"
    return None


def _reboot_annotation_error(value: str) -> str | None:
    if value == "":
        return None
    try:
        data = go_json_decode(value, RebootAnnotationArguments, strict=False, stream=False)
    except GoJSONError as exc:
        return f"failed to unmarshal the data from the {REBOOT_ANNOTATION} annotation: {exc}"
    if (data.get("mode") or "") not in ("hard", "soft", ""):
        return (
            f'invalid mode in the {REBOOT_ANNOTATION} annotation, allowed are "hard", "soft" or ""'
        )
    return None


def _detached_annotation_error(value: str) -> str | None:
    """bmo's own check, written like upstream ``validateRebootAnnotation``: upstream's
    webhook accepts any detached value and the controller reads a bad one as the defaults,
    which silently turns ``deleteAction: delay`` typos into deletes."""
    if value == "":
        return None
    try:
        data = go_json_decode(value, DetachedAnnotationArguments, strict=False, stream=False)
    except GoJSONError as exc:
        return f"failed to unmarshal the data from the {DETACHED_ANNOTATION} annotation: {exc}"
    if (data.get("deleteAction") or "") not in (
        DetachedDeleteAction.DELAY,
        DetachedDeleteAction.DELETE,
        "",
    ):
        return (
            f"invalid deleteAction in the {DETACHED_ANNOTATION} annotation, allowed are "
            '"delay", "delete" or ""'
        )
    return None


def _hardware_details_annotation_error(value: str, inspection_disabled: bool) -> str | None:
    if value == "":
        return None
    if not inspection_disabled:
        return (
            "when hardware details are provided, inspection must be disabled "
            "(either via inspect.metal3.io annotation or inspectionMode field)"
        )
    try:
        go_json_decode(value, HardwareDetails, strict=True, stream=True)
    except GoJSONError as exc:
        return f"error decoding the {HARDWARE_DETAILS_ANNOTATION} annotation: {exc}"
    return None


def _check_inspection_mode(out: _Collector, host: BareMetalHost) -> None:
    mode = host.spec.inspection_mode
    annotation = host.annotations.get(INSPECT_ANNOTATION, "")
    if annotation and mode:
        annotation_disabled = annotation == INSPECT_ANNOTATION_DISABLED
        if annotation_disabled != (mode == InspectionMode.DISABLED):
            out.add(
                "spec.inspectionMode",
                "inspect.metal3.io annotation and inspectionMode field have contradicting values",
            )
    if mode and mode not in InspectionMode.ALL:
        out.add(
            "spec.inspectionMode",
            f"invalid inspectionMode value: {mode}, "
            "allowed values are 'disabled', 'agent', or 'fast'",
        )


def _check_network_interfaces(out: _Collector, host: BareMetalHost) -> None:
    seen: set[str] = set()
    for index, iface in enumerate(host.spec.network_interfaces):
        field = f"spec.networkInterfaces[{index}]"
        prefix = f"networkInterfaces[{index}]"
        if not iface.is_valid():
            out.add(field, f"{prefix}: must specify either name or macAddress")
            continue
        if iface.name and iface.mac_address:
            out.add(field, f"{prefix}: name and macAddress are mutually exclusive")
            continue
        key = iface.key()
        if key.lower() in seen:
            out.add(field, f"{prefix}: duplicate interface selector for {go_quote(key)}")
        seen.add(key.lower())
