"""The host's side of the PreprovisioningImage handshake, as pure decisions.

With ``-build-preprov-image`` a host does not boot the configured deploy images: it asks
for an image of its own (a PreprovisioningImage with its name) and registers with what the
image provider built. These are the decisions of upstream
``internal/controller/metal3.io/baremetalhost_controller.go`` ``registerHost`` (which states
need an image), ``getPreprovImage`` (the spec to ask for) and ``preprovImageAvailable``
(whether a built image answers that spec). The reconciler does the reading and writing.
"""

from __future__ import annotations

from collections.abc import Sequence

from bmo.api.constants import AutomatedCleaningMode, OperationalStatus, ProvisioningState
from bmo.api.host import BareMetalHost
from bmo.api.preprovisioningimage import (
    CONDITION_IMAGE_ERROR,
    CONDITION_IMAGE_READY,
    PreprovisioningImage,
    PreprovisioningImageSpec,
)
from bmo.provisioner.types import PreprovisioningImage as BuiltImage

__all__ = [
    "NO_ACCEPTABLE_FORMATS",
    "PreprovImageBuildError",
    "available_image",
    "expected_spec",
    "host_architecture",
    "wanted_formats",
]

S = ProvisioningState

NO_ACCEPTABLE_FORMATS = "no acceptable formats for preprovisioning image"


class PreprovImageBuildError(Exception):
    """The host's image cannot be had (``imageBuildError``); ``str()`` is recorded as the
    host's registration error."""


def host_architecture(host: BareMetalHost, controller_architecture: str) -> str:
    """``getHostArchitecture``: the spec, else the inspected CPU, else the controller's."""
    if host.spec.architecture:
        return host.spec.architecture
    hardware = host.status.hardware
    if hardware is not None and hardware.cpu.arch:
        return hardware.cpu.arch
    return controller_architecture


def wanted_formats(host: BareMetalHost, formats: Sequence[str] | None) -> tuple[str, ...] | None:
    """The provisioner's formats, or ``None`` where this host's state needs no image
    (the ``switch`` of ``registerHost``)."""
    if formats is None:
        return None
    state = host.status.provisioning.state
    if state in (S.REGISTERING, S.DELETING, S.POWERING_OFF_BEFORE_DELETE):
        return None
    if state in (S.PROVISIONED, S.EXTERNALLY_PROVISIONED) and (
        host.status.operational_status != OperationalStatus.SERVICING
    ):
        return None
    if (
        state == S.DEPROVISIONING
        and host.spec.automated_cleaning_mode == AutomatedCleaningMode.DISABLED
    ):
        return None
    return tuple(formats)


def expected_spec(
    host: BareMetalHost, formats: Sequence[str], controller_architecture: str
) -> PreprovisioningImageSpec:
    """The spec of the host's PreprovisioningImage (``getPreprovImage``)."""
    if not formats:
        raise PreprovImageBuildError(NO_ACCEPTABLE_FORMATS)
    return PreprovisioningImageSpec(
        network_data_name=host.spec.preprovisioning_network_data_name,
        architecture=host_architecture(host, controller_architecture),
        accept_formats=tuple(formats),
    )


def available_image(
    image: PreprovisioningImage, network_data_version: str | None
) -> BuiltImage | None:
    """The built image when it answers its spec and is Ready (``preprovImageAvailable``);
    ``None`` while it is pending. ``network_data_version`` is the current
    ``resourceVersion`` of the spec's network data Secret (``None``: no Secret named).

    Raises :class:`PreprovImageBuildError` with the provider's message when the image is
    in error: the host cannot register without it.
    """
    spec, status = image.spec, image.status
    if status.architecture != spec.architecture:
        return None
    if status.format not in spec.accept_formats:
        return None
    if spec.network_data_name and status.network_data.version != network_data_version:
        return None
    if status.network_data.name != spec.network_data_name:
        return None
    error = status.condition(CONDITION_IMAGE_ERROR)
    if error is not None and error.status == "True":
        raise PreprovImageBuildError(error.message)
    ready = status.condition(CONDITION_IMAGE_READY)
    if (
        ready is None
        or ready.status != "True"
        or ready.observed_generation != image.metadata.generation
    ):
        return None
    return BuiltImage(
        image_url=status.image_url,
        format=status.format,
        kernel_url=status.kernel_url,
        extra_kernel_params=status.extra_kernel_params,
    )
