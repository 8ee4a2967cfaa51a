"""Virtual media for DataImages: is an image in the host's virtual CD, insert one, eject it.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``GetDataImageStatus``,
``AttachDataImage`` and ``DetachDataImage``. Ironic's vmedia GET always reports its own
republished URL, not the one attached, so only "is something inserted" is returned; the
caller remembers which URL it attached.
"""

from __future__ import annotations

from typing import Final

from bmo.ironic.provisioner.core import SHORT_DELAY, ProvisionerCore, log
from bmo.provisioner.errors import HostLocked, ProvisionerError

__all__ = ["VIRTUAL_MEDIA_GET_VERSION", "VirtualMediaVerbs"]

#: ``GET /v1/nodes/{node}/vmedia`` (``features.go HasVirtualMediaGetAPI``).
VIRTUAL_MEDIA_GET_VERSION: Final = (1, 93)


class VirtualMediaVerbs(ProvisionerCore):
    """``get_data_image_status``, ``attach_data_image`` and ``detach_data_image``."""

    def get_data_image_status(self) -> bool:
        if not self._supports(VIRTUAL_MEDIA_GET_VERSION):
            raise ProvisionerError(
                f"ironic version={self._client.microversion} doesn't support Virtual Media "
                "Get API, needs version>=1.93"
            )
        with self._translate("failed to get virtual media"):
            node = self._get_node()
            if node.reservation:
                # The GET would fail on a locked node anyway (ironic.go ErrNodeIsBusy).
                log.info("node %s is busy; retrying the virtual media GET later", node.uuid)
                raise HostLocked(f"node {node.uuid} is busy", self._delay(SHORT_DELAY))
            media = self._client.get_virtual_media(node.uuid)
        inserted = any(entry.get("inserted") is True for entry in media)
        log.info("node %s: virtual media %s", node.uuid, "inserted" if inserted else "empty")
        return inserted

    def attach_data_image(self, url: str) -> None:
        with self._translate("failed to attach virtual media"):
            node = self._get_node()
            self._client.attach_virtual_media(node.uuid, url)

    def detach_data_image(self) -> None:
        with self._translate("failed to detach virtual media"):
            node = self._get_node()
            self._client.detach_virtual_media(node.uuid)
