"""The configured deploy (IPA) images, chosen per CPU architecture.

Operators running mixed fleets set one kernel/ramdisk/ISO per architecture, with the
variables ironic-image also reads: ``DEPLOY_KERNEL_URL_AARCH64`` (the base name plus the
upper-cased architecture) or ``DEPLOY_KERNEL_BY_ARCH=x86_64:http://...,aarch64:http://...``,
falling back to the plain ``DEPLOY_KERNEL_URL``. This is upstream's default image provider
(``pkg/imageprovider/default.go``: ``envWithArchFallback``, ``lookupByArch``,
``SupportsFormat``, ``BuildImage``), kept pure over a snapshot of the environment so the
PreprovisioningImage controller and the Ironic provisioner can share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bmo.api.errors import APIError
from bmo.api.preprovisioningimage import PreprovisioningImageFormat

__all__ = [
    "DEPLOY_ISO_URL",
    "DEPLOY_KERNEL_URL",
    "DEPLOY_RAMDISK_URL",
    "DeployImageSettings",
    "DeployImages",
    "GeneratedImage",
    "ImageBuildInvalid",
    "lookup_by_arch",
]

DEPLOY_KERNEL_URL: Final = "DEPLOY_KERNEL_URL"
DEPLOY_RAMDISK_URL: Final = "DEPLOY_RAMDISK_URL"
DEPLOY_ISO_URL: Final = "DEPLOY_ISO_URL"
_PREFIX: Final = "DEPLOY_"


class ImageBuildInvalid(APIError, ValueError):
    """The provider cannot build that image at all (``imageprovider.ImageBuildInvalidError``);
    the PreprovisioningImage gets ``Error`` with reason ``ImageBuildInvalid``."""


@dataclass(frozen=True)
class GeneratedImage:
    """What a provider hands back (``imageprovider.GeneratedImage``); ``image_url`` is set."""

    image_url: str = ""
    kernel_url: str = ""
    extra_kernel_params: str = ""


@dataclass(frozen=True)
class DeployImages:
    """The kernel, ramdisk and ISO for one architecture; ``""`` where none is configured."""

    kernel: str = ""
    ramdisk: str = ""
    iso: str = ""


def lookup_by_arch(by_arch: str, arch: str) -> str:
    """The URL for ``arch`` in a ``BY_ARCH`` value (``arch:url`` pairs, comma-separated).

    The architecture matches case-insensitively, the URL is everything after the first
    colon (``file:///...`` works); nothing is trimmed. ``""`` when absent.
    """
    if not by_arch or not arch:
        return ""
    for entry in by_arch.split(","):
        entry_arch, colon, url = entry.partition(":")
        if colon and entry_arch.lower() == arch.lower():
            return url
    return ""


@dataclass(frozen=True)
class DeployImageSettings:
    """The ``DEPLOY_*`` variables, snapshotted so choices do not change under a running
    reconcile and no unrelated (possibly secret) variable is kept."""

    variables: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DeployImageSettings:
        return cls({k: v for k, v in environ.items() if k.startswith(_PREFIX)})

    def _get(self, name: str) -> str:
        return self.variables.get(name, "")

    def url(self, base: str, arch: str) -> str:
        """``base``'s URL for ``arch`` (``envWithArchFallback``): the per-architecture
        variable, then the ``BY_ARCH`` list, then ``base`` itself. An empty value counts as
        unset, as ``os.Getenv`` makes it."""
        if arch:
            per_arch = self._get(f"{base}_{arch.upper()}")
            if per_arch:
                return per_arch
            by_arch = lookup_by_arch(self._get(base.removesuffix("_URL") + "_BY_ARCH"), arch)
            if by_arch:
                return by_arch
        return self._get(base)

    def for_architecture(self, arch: str) -> DeployImages:
        """The images a host of ``arch`` boots (``""`` architecture: the base variables)."""
        return DeployImages(
            kernel=self.url(DEPLOY_KERNEL_URL, arch),
            ramdisk=self.url(DEPLOY_RAMDISK_URL, arch),
            iso=self.url(DEPLOY_ISO_URL, arch),
        )

    def supports_format(self, image_format: str) -> bool:
        """Whether the default provider serves ``image_format`` at all.

        Upstream decides on the base variables only: an ISO needs ``DEPLOY_ISO_URL``, an
        initrd needs both ``DEPLOY_RAMDISK_URL`` and ``DEPLOY_KERNEL_URL`` (without a kernel
        the BareMetalHost side cannot boot the initrd).
        """
        if image_format == PreprovisioningImageFormat.ISO:
            return bool(self._get(DEPLOY_ISO_URL))
        if image_format == PreprovisioningImageFormat.INITRD:
            return bool(self._get(DEPLOY_KERNEL_URL)) and bool(self._get(DEPLOY_RAMDISK_URL))
        return False

    def supports_any_format(self) -> bool:
        """Whether the PreprovisioningImage controller has anything to serve (``CanStart``)."""
        return any(self.supports_format(f) for f in PreprovisioningImageFormat.ALL)

    def build_image(self, image_format: str, arch: str) -> GeneratedImage:
        """The default provider's image (``envImageProvider.BuildImage``).

        Raises :class:`ImageBuildInvalid` for a format it does not know.
        """
        images = self.for_architecture(arch)
        if image_format == PreprovisioningImageFormat.ISO:
            return GeneratedImage(image_url=images.iso)
        if image_format == PreprovisioningImageFormat.INITRD:
            return GeneratedImage(image_url=images.ramdisk, kernel_url=images.kernel)
        # Upstream formats with %s between literal quotes, not %q.
        raise ImageBuildInvalid(f'unsupported image format "{image_format}"')
