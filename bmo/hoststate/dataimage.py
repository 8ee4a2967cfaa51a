"""Is a DataImage change waiting for its host to power on? Upstream
``baremetalhost_controller.go manageHostPower`` runs ``handleDataImageActions`` before
powering a provisioned host on and holds the power-on while an attach or eject is under
way; in bmo the DataImage controller performs them and the host's power handling waits on
this answer.
"""

from __future__ import annotations

from typing import Final

from bmo.api.bmc import access_details
from bmo.api.bmc.errors import BMCError
from bmo.api.dataimage import DataImage

__all__ = ["DATA_IMAGE_WAIT", "data_image_pending"]

#: How long a power-on waits for a pending DataImage (``dataImageUpdateDelay``); the
#: DataImage's own status write wakes the host sooner.
DATA_IMAGE_WAIT: Final = 30.0


def data_image_pending(
    image: DataImage | None, bmc_address: str, allow_development: bool = False
) -> bool:
    """Whether ``image`` still has to be inserted or ejected before the host boots.

    A host whose BMC has no virtual media never waits: its DataImage reports the error
    instead, and the host must still power on.
    """
    if image is None:
        return False
    try:
        if not access_details(
            bmc_address, False, allow_development=allow_development
        ).supports_iso_preprovisioning:
            return False
    except BMCError:
        return False
    attached = image.status.attached_image.url if image.status.attached_image else ""
    if image.metadata.deletion_timestamp is not None:
        return bool(attached)
    return image.spec.url != attached
