"""Attach and detach a DataImage when its host powers on: upstream
``internal/controller/metal3.io/baremetalhost_controller.go`` ``handleDataImageActions``,
``attachDataImage`` and ``detachDataImage``.

Pure over a provisioner and the DataImage's status: returns the new status and whether the
power-on must wait (``requeue_after``) for an attach/detach Ironic performs asynchronously.
Ironic's vmedia GET reports its own republished URL, so which URL is attached is what the
status remembers, cleared when the GET shows the drive empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import structlog

from bmo.api.bmc import access_details
from bmo.api.bmc.errors import BMCError
from bmo.api.dataimage import (
    AttachedImageReference,
    DataImage,
    DataImageError,
    DataImageStatus,
)
from bmo.hoststate.backoff import calculate_backoff
from bmo.provisioner import HostLocked, Provisioner, ProvisionerError

__all__ = [
    "DATA_IMAGE_UPDATE_DELAY",
    "DataImageOutcome",
    "handle_data_image_actions",
    "virtual_media_error",
]

log = structlog.get_logger(__name__)

#: ``dataImageUpdateDelay``: the shortest wait after an attach/detach or a failed GET.
DATA_IMAGE_UPDATE_DELAY: Final = 30.0


@dataclass(frozen=True)
class DataImageOutcome:
    """The status to write (``None``: unchanged) and how long the power-on must wait
    (``None``: nothing pending, power on now)."""

    status: DataImageStatus | None
    requeue_after: float | None


def virtual_media_error(bmc_address: str, allow_development: bool = False) -> str | None:
    """Why a host at ``bmc_address`` cannot take a DataImage, or ``None``.

    Only virtual-media drivers insert a CD (``redfish-virtualmedia``, ``idrac-virtualmedia``,
    ``ilo5-virtualmedia``...): upstream leaves Ironic to fail obscurely on the others; bmo
    says so up front.
    """
    try:
        details = access_details(bmc_address, False, allow_development=allow_development)
    except (BMCError, ValueError) as exc:
        return f"cannot attach a DataImage: the host's BMC address is invalid: {exc}"
    if details.supports_iso_preprovisioning:
        return None
    return (
        f'cannot attach a DataImage: BMC driver "{details.driver}" has no virtual media; '
        "use a virtual-media address such as redfish-virtualmedia:// or idrac-virtualmedia://"
    )


def _failed(status: DataImageStatus, message: str) -> DataImageStatus:
    previous = status.error.count if status.error is not None else 0
    return dataclasses.replace(status, error=DataImageError(previous + 1, message))


def _attached_url(status: DataImageStatus) -> str:
    return status.attached_image.url if status.attached_image is not None else ""


def handle_data_image_actions(
    prov: Provisioner, image: DataImage, now: Callable[[], datetime]
) -> DataImageOutcome:
    """One step towards "the drive holds ``spec.url``" (or nothing, when deleting)."""
    status = dataclasses.replace(image.status, last_reconciled=now())
    count = status.error.count if status.error is not None else 0
    backoff = max(DATA_IMAGE_UPDATE_DELAY, calculate_backoff(count))
    try:
        attached = prov.get_data_image_status()
    except HostLocked:
        return DataImageOutcome(status, backoff)
    except ProvisionerError as exc:
        log.info("cannot read virtual media", error=str(exc))
        return DataImageOutcome(_failed(status, str(exc)), backoff)

    attached_url = _attached_url(status)
    if not attached and attached_url:
        # The drive is empty after all (a failed attach, or ejected behind our back).
        return DataImageOutcome(
            dataclasses.replace(status, attached_image=AttachedImageReference("")), 0.0
        )

    if image.metadata.deletion_timestamp is not None:
        if attached:
            return _detach(prov, status, backoff)
        return DataImageOutcome(status, None)

    requested = image.spec.url
    if requested != attached_url:
        if attached_url:
            return _detach(prov, status, backoff)
        if requested:
            try:
                prov.attach_data_image(requested)
            except ProvisionerError as exc:
                return DataImageOutcome(_failed(status, str(exc)), backoff)
            # Assumed attached; the next GET corrects it if the attach failed.
            status = dataclasses.replace(status, attached_image=AttachedImageReference(requested))
            return DataImageOutcome(status, backoff)

    return DataImageOutcome(dataclasses.replace(status, error=DataImageError()), None)


def _detach(prov: Provisioner, status: DataImageStatus, backoff: float) -> DataImageOutcome:
    try:
        prov.detach_data_image()
    except ProvisionerError as exc:
        return DataImageOutcome(_failed(status, str(exc)), backoff)
    return DataImageOutcome(status, backoff)
