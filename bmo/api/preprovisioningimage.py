"""The PreprovisioningImage object: a request for a deploy (IPA) image built for one host.

With ``-build-preprov-image`` bmo creates one per host (same name), naming the formats the
host's BMC can boot, its architecture and its preprovisioning network data; an image
provider answers in ``status`` with the image URL and a ``Ready`` condition. Field names,
JSON tags and the condition vocabulary follow upstream's
``apis/metal3.io/v1alpha1/preprovisioningimage_types.go`` and the reasons and messages of
``internal/controller/metal3.io/preprovisioningimage_controller.go``.
"""

# jfield() returns a dataclasses.field() carrying the JSON name, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bmo.api.codec import from_json, jfield, to_json
from bmo.api.constants import GROUP_VERSION
from bmo.api.meta import Condition, ObjectMeta

__all__ = [
    "CONDITION_IMAGE_ERROR",
    "CONDITION_IMAGE_READY",
    "PREPROVISIONING_IMAGE_KIND",
    "PREPROVISIONING_IMAGE_PLURAL",
    "ImageConditionReason",
    "ImageStatusMessage",
    "PreprovisioningImage",
    "PreprovisioningImageFormat",
    "PreprovisioningImageSpec",
    "PreprovisioningImageStatus",
    "SecretStatus",
    "choose_format",
]

PREPROVISIONING_IMAGE_KIND: Final = "PreprovisioningImage"
PREPROVISIONING_IMAGE_PLURAL: Final = "preprovisioningimages"

CONDITION_IMAGE_READY: Final = "Ready"
"""The image is built and can be downloaded (``ConditionImageReady``)."""
CONDITION_IMAGE_ERROR: Final = "Error"
"""The image could not be built (``ConditionImageError``)."""


class PreprovisioningImageFormat:
    """``ImageFormat`` of a PreprovisioningImage (not the BareMetalHost image formats)."""

    ISO: Final = "iso"
    INITRD: Final = "initrd"
    ALL: Final = (ISO, INITRD)


class ImageConditionReason:
    """Condition reasons the PreprovisioningImage controller writes (``imageConditionReason``)."""

    SUCCESS: Final = "ImageSuccess"
    CONFIGURATION_ERROR: Final = "ConfigurationError"
    MISSING_NETWORK_DATA: Final = "MissingNetworkData"
    BUILD_INVALID: Final = "ImageBuildInvalid"


class ImageStatusMessage:
    """Condition messages of upstream's ``PreprovisioningImageReconciler.update``."""

    ARCHITECTURE_NOT_SUPPORTED: Final = "Architecture not supported"
    NO_ACCEPTABLE_FORMAT: Final = "No acceptable image format supported"
    NETWORK_DATA_MISSING: Final = "NetworkData secret not found"
    CONFIG_CHANGED: Final = "Config changed"
    GENERATED: Final = "Generated image"


@dataclass(frozen=True)
class PreprovisioningImageSpec:
    network_data_name: str = jfield("networkDataName", default="")
    architecture: str = jfield("architecture", default="")
    accept_formats: tuple[str, ...] = jfield("acceptFormats", default=())


@dataclass(frozen=True)
class SecretStatus:
    """Which version of the network data Secret an image was built with."""

    name: str = jfield("name", default="")
    version: str = jfield("version", default="")


@dataclass(frozen=True)
class PreprovisioningImageStatus:
    image_url: str = jfield("imageUrl", default="")
    kernel_url: str = jfield("kernelUrl", default="")
    extra_kernel_params: str = jfield("extraKernelParams", default="")
    format: str = jfield("format", default="")
    # A value struct: Go emits ``"networkData": {}`` even when it is empty.
    network_data: SecretStatus = jfield("networkData", default_factory=SecretStatus)
    architecture: str = jfield("architecture", default="")
    conditions: tuple[Condition, ...] = jfield("conditions", default=())

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type (``meta.FindStatusCondition``), or ``None``."""
        return next((c for c in self.conditions if c.type == type_), None)

    def is_ready(self) -> bool:
        """``Ready`` is ``True``: the image at ``image_url`` may be handed to Ironic."""
        ready = self.condition(CONDITION_IMAGE_READY)
        return ready is not None and ready.status == "True"

    def error_message(self) -> str | None:
        """The build failure when ``Error`` is ``True`` (the host reports it), else ``None``."""
        error = self.condition(CONDITION_IMAGE_ERROR)
        if error is None or error.status != "True":
            return None
        return error.message


@dataclass(frozen=True)
class PreprovisioningImage:
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: PreprovisioningImageSpec = field(default_factory=PreprovisioningImageSpec)
    status: PreprovisioningImageStatus = field(default_factory=PreprovisioningImageStatus)
    api_version: str = GROUP_VERSION
    kind: str = PREPROVISIONING_IMAGE_KIND

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata.to_dict(),
            "spec": to_json(self.spec),
            "status": to_json(self.status),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprovisioningImage:
        """Decode an object as read from the API; unknown spec/status keys are dropped."""
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=from_json(PreprovisioningImageSpec, data.get("spec"), "spec"),
            status=from_json(PreprovisioningImageStatus, data.get("status"), "status"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or PREPROVISIONING_IMAGE_KIND),
        )

    def config_changed(self, image_format: str, network_data: SecretStatus) -> bool:
        """Whether the built image no longer answers the spec (upstream ``configChanged``).

        A different format, architecture or network data Secret version means the image
        must be discarded and rebuilt.
        """
        status = self.status
        return not (
            status.format == image_format
            and status.architecture == self.spec.architecture
            and status.network_data == network_data
        )


def choose_format(accept_formats: Iterable[str], supports: Callable[[str], bool]) -> str:
    """The first acceptable format the provider supports, ``""`` if none (``getImageFormat``).

    The requester lists formats most preferred first, so order decides, not the provider.
    """
    return next((f for f in accept_formats if supports(f)), "")
