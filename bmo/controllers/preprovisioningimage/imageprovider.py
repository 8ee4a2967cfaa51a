"""The pluggable image provider behind the PreprovisioningImage controller.

Upstream ``pkg/imageprovider/imageprovider.go`` defines the interface (``ImageProvider``,
``ImageData``, ``GeneratedImage``, ``ImageBuildInvalidError``, ``ImageNotReadyError``) so that
a distribution can build per-host ISOs or initrds with network data baked in; its default,
``pkg/imageprovider/default.go``, serves the configured ``DEPLOY_*_URL`` images, chosen per
architecture. :class:`DefaultImageProvider` is that default over
:class:`bmo.api.deployimages.DeployImageSettings`; another provider is any object with the
four methods of :class:`ImageProvider`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bmo.api.deployimages import DeployImageSettings, GeneratedImage, ImageBuildInvalid
from bmo.api.preprovisioningimage import SecretStatus

__all__ = [
    "DefaultImageProvider",
    "GeneratedImage",
    "ImageBuildInvalid",
    "ImageData",
    "ImageNotReady",
    "ImageProvider",
    "NetworkData",
]

NetworkData = Mapping[str, bytes]
"""The network data Secret's ``data``, decoded (``imageprovider.NetworkData``)."""


class ImageNotReady(Exception):
    """The provider is still building: the image is marked not ready and asked again in
    10 s (``imageprovider.ImageNotReadyError``)."""


@dataclass(frozen=True)
class ImageData:
    """What to build (``imageprovider.ImageData``): which image object, in what format,
    for which architecture, with which network data Secret version."""

    name: str
    namespace: str
    format: str
    architecture: str
    network_data_status: SecretStatus = field(default_factory=SecretStatus)


@runtime_checkable
class ImageProvider(Protocol):
    """``imageprovider.ImageProvider``."""

    def supports_architecture(self, architecture: str) -> bool: ...

    def supports_format(self, image_format: str) -> bool: ...

    def build_image(self, data: ImageData, network_data: NetworkData) -> GeneratedImage:
        """The image's URLs. Raises :class:`ImageBuildInvalid` when it can never be built
        and :class:`ImageNotReady` while it is being built."""
        ...

    def discard_image(self, data: ImageData) -> None:
        """Forget a built image (its configuration changed or its object is going)."""
        ...


class DefaultImageProvider:
    """``envImageProvider``: the configured deploy images, nothing built, nothing kept."""

    def __init__(self, deploy_images: DeployImageSettings) -> None:
        self._images = deploy_images

    def supports_architecture(self, architecture: str) -> bool:
        # Upstream's default accepts any architecture: the URL falls back to the base one.
        return True

    def supports_format(self, image_format: str) -> bool:
        return self._images.supports_format(image_format)

    def build_image(self, data: ImageData, network_data: NetworkData) -> GeneratedImage:
        return self._images.build_image(data.format, data.architecture)

    def discard_image(self, data: ImageData) -> None:
        return None

    def can_start(self) -> bool:
        """Whether there is any image to serve (``PreprovisioningImageReconciler.CanStart``)."""
        return self._images.supports_any_format()
