"""String values shared with the Go operator: states, statuses, error types, annotations.

They are wire values (written to status, read from annotations, matched by other Metal3
components), so they are spelled exactly as upstream and never derived or reformatted.
"""

from __future__ import annotations

from typing import Final

API_GROUP: Final = "metal3.io"
API_VERSION: Final = "v1alpha1"
GROUP_VERSION: Final = f"{API_GROUP}/{API_VERSION}"
BMH_KIND: Final = "BareMetalHost"
BMH_PLURAL: Final = "baremetalhosts"
HARDWARE_DATA_KIND: Final = "HardwareData"
HARDWARE_DATA_PLURAL: Final = "hardwaredata"


class ProvisioningState:
    """``status.provisioning.state`` values: the ``ProvisioningState`` constants of
    ``apis/metal3.io/v1alpha1/baremetalhost_types.go``."""

    NONE: Final = ""
    UNMANAGED: Final = "unmanaged"
    REGISTERING: Final = "registering"
    MATCH_PROFILE: Final = "match profile"
    PREPARING: Final = "preparing"
    READY: Final = "ready"
    AVAILABLE: Final = "available"
    PROVISIONING: Final = "provisioning"
    PROVISIONED: Final = "provisioned"
    EXTERNALLY_PROVISIONED: Final = "externally provisioned"
    DEPROVISIONING: Final = "deprovisioning"
    INSPECTING: Final = "inspecting"
    POWERING_OFF_BEFORE_DELETE: Final = "powering off before delete"
    DELETING: Final = "deleting"

    ALL: Final = (
        NONE,
        UNMANAGED,
        REGISTERING,
        MATCH_PROFILE,
        PREPARING,
        READY,
        AVAILABLE,
        PROVISIONING,
        PROVISIONED,
        EXTERNALLY_PROVISIONED,
        DEPROVISIONING,
        INSPECTING,
        POWERING_OFF_BEFORE_DELETE,
        DELETING,
    )


class OperationalStatus:
    """``status.operationalStatus`` values: the ``OperationalStatus`` constants of
    ``apis/metal3.io/v1alpha1/baremetalhost_types.go``."""

    NONE: Final = ""
    OK: Final = "OK"
    DISCOVERED: Final = "discovered"
    ERROR: Final = "error"
    DELAYED: Final = "delayed"
    DETACHED: Final = "detached"
    SERVICING: Final = "servicing"

    ALL: Final = (NONE, OK, DISCOVERED, ERROR, DELAYED, DETACHED, SERVICING)


class ErrorType:
    """``status.errorType`` values: the ``ErrorType`` constants of
    ``apis/metal3.io/v1alpha1/baremetalhost_types.go``."""

    NONE: Final = ""
    PROVISIONED_REGISTRATION: Final = "provisioned registration error"
    REGISTRATION: Final = "registration error"
    INSPECTION: Final = "inspection error"
    PREPARATION: Final = "preparation error"
    PROVISIONING: Final = "provisioning error"
    POWER_MANAGEMENT: Final = "power management error"
    DETACH: Final = "detach error"
    SERVICING: Final = "servicing error"

    ALL: Final = (
        PROVISIONED_REGISTRATION,
        REGISTRATION,
        INSPECTION,
        PREPARATION,
        PROVISIONING,
        POWER_MANAGEMENT,
        DETACH,
        SERVICING,
    )

    EVENT_REASONS: Final = {
        PROVISIONED_REGISTRATION: "ProvisionedRegistrationError",
        REGISTRATION: "RegistrationError",
        INSPECTION: "InspectionError",
        PREPARATION: "PreparationError",
        PROVISIONING: "ProvisioningError",
        POWER_MANAGEMENT: "PowerManagementError",
        DETACH: "DetachError",
        SERVICING: "ServicingError",
    }


class BootMode:
    UEFI: Final = "UEFI"
    UEFI_SECURE_BOOT: Final = "UEFISecureBoot"
    LEGACY: Final = "legacy"
    DEFAULT: Final = UEFI
    ALL: Final = (UEFI, UEFI_SECURE_BOOT, LEGACY)


class InspectionMode:
    DISABLED: Final = "disabled"
    AGENT: Final = "agent"
    FAST: Final = "fast"
    ALL: Final = (DISABLED, AGENT, FAST)


class AutomatedCleaningMode:
    METADATA: Final = "metadata"
    DISABLED: Final = "disabled"
    ALL: Final = (METADATA, DISABLED)


class ChecksumType:
    MD5: Final = "md5"
    SHA256: Final = "sha256"
    SHA512: Final = "sha512"
    AUTO: Final = "auto"
    ALL: Final = (MD5, SHA256, SHA512, AUTO)


class ImageFormat:
    RAW: Final = "raw"
    QCOW2: Final = "qcow2"
    VDI: Final = "vdi"
    VMDK: Final = "vmdk"
    LIVE_ISO: Final = "live-iso"
    ALL: Final = (RAW, QCOW2, VDI, VMDK, LIVE_ISO)


class RebootMode:
    HARD: Final = "hard"
    SOFT: Final = "soft"


class DetachedDeleteAction:
    DELAY: Final = "delay"
    DELETE: Final = "delete"


HARDWARE_RAID_LEVELS: Final = ("0", "1", "2", "5", "6", "1+0", "5+0", "6+0")
SOFTWARE_RAID_LEVELS: Final = ("0", "1", "1+0")
DISK_TYPES: Final = ("HDD", "SSD", "NVME")

# Annotations: ``apis/metal3.io/v1alpha1/baremetalhost_types.go`` (``PausedAnnotation``,
# ``DetachedAnnotation``, ``StatusAnnotation``, ``RebootAnnotationPrefix``,
# ``InspectAnnotationPrefix``, ``HardwareDetailsAnnotation``).
PAUSED_ANNOTATION: Final = "baremetalhost.metal3.io/paused"
DETACHED_ANNOTATION: Final = "baremetalhost.metal3.io/detached"
STATUS_ANNOTATION: Final = "baremetalhost.metal3.io/status"
REBOOT_ANNOTATION: Final = "reboot.metal3.io"
REBOOT_ANNOTATION_PREFIX: Final = REBOOT_ANNOTATION + "/"
INSPECT_ANNOTATION: Final = "inspect.metal3.io"
INSPECT_ANNOTATION_DISABLED: Final = "disabled"
HARDWARE_DETAILS_ANNOTATION: Final = "inspect.metal3.io/hardwaredetails"

# Finalizers: ``BareMetalHostFinalizer`` and friends in ``apis/metal3.io/v1alpha1/*_types.go``,
# ``secretutils.SecretsFinalizer`` in ``pkg/secretutils/secret_manager.go``.
BMH_FINALIZER: Final = "baremetalhost.metal3.io"
SECRET_FINALIZER: Final = "baremetalhost.metal3.io/secret"
HARDWARE_DATA_FINALIZER: Final = "baremetalhost.metal3.io/hardwareData"
PREPROVISIONING_IMAGE_FINALIZER: Final = "baremetalhost.metal3.io/preprovisioningImage"
PPI_OWN_FINALIZER: Final = "preprovisioningimage.metal3.io"
DATA_IMAGE_FINALIZER: Final = "dataimage.metal3.io"
BMC_EVENT_SUBSCRIPTION_FINALIZER: Final = "bmceventsubscription.metal3.io"
HOST_CLAIM_FINALIZER: Final = "metal3.io/hostclaim"

# Label BMO puts on the Secrets it uses: ``pkg/secretutils/label.go`` (``LabelEnvironmentName``,
# ``LabelEnvironmentValue``).
SECRET_ENVIRONMENT_LABEL: Final = "environment.metal3.io"
SECRET_ENVIRONMENT_VALUE: Final = "baremetal"

# Condition types: ``apis/metal3.io/v1alpha1/baremetalhost_types.go`` (``ManageableCondition``,
# ...), set by the controller's ``computeConditions`` (``internal/controller/metal3.io``).
CONDITION_MANAGEABLE: Final = "Manageable"
CONDITION_PROVISIONED: Final = "Provisioned"
CONDITION_READY: Final = "Ready"
CONDITION_AVAILABLE_FOR_PROVISIONING: Final = "AvailableForProvisioning"
CONDITION_PROGRESSING: Final = "Progressing"
CONDITION_HEALTHY: Final = "Healthy"
