"""Register the PreprovisioningImage controller with a manager (upstream ``main.go``: only
with ``-build-preprov-image``, and only when the image provider ``CanStart``; then
``PreprovisioningImageReconciler.SetupWithManager``: ``For(PreprovisioningImage)``,
``Owns(Secret, MatchEveryOwner)``).

The Secret informer is the manager's labelled-Secret one the BareMetalHost controller uses
(one watch, one cache); a change to a claimed network data Secret wakes the images that own
it, so an image is rebuilt when its network data changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import structlog

from bmo.api.constants import (
    API_GROUP,
    API_VERSION,
    SECRET_ENVIRONMENT_LABEL,
    SECRET_ENVIRONMENT_VALUE,
)
from bmo.api.deployimages import DeployImageSettings
from bmo.api.preprovisioningimage import PREPROVISIONING_IMAGE_KIND, PREPROVISIONING_IMAGE_PLURAL
from bmo.controllers.preprovisioningimage.imageprovider import DefaultImageProvider, ImageProvider
from bmo.controllers.preprovisioningimage.reconciler import PreprovisioningImageReconciler
from bmo.provisioner import ProvisionerFactory
from bmo.runtime.controller import Controller
from bmo.runtime.eventhandlers import EnqueueHandler, owner_keys
from bmo.runtime.informer import SECRETS, Informer, Resource
from bmo.runtime.manager import Manager
from bmo.runtime.queue import RateLimitingQueue
from bmo.settings import Settings

__all__ = [
    "CONTROLLER_NAME",
    "PREPROVISIONING_IMAGES",
    "PreprovisioningImageController",
    "setup",
]

log = structlog.get_logger(__name__)

CONTROLLER_NAME: Final = "preprovisioningimage"
PREPROVISIONING_IMAGES: Final = Resource(
    API_GROUP, API_VERSION, PREPROVISIONING_IMAGE_PLURAL, PREPROVISIONING_IMAGE_KIND
)
_SECRET_LABEL_SELECTOR: Final = f"{SECRET_ENVIRONMENT_LABEL}={SECRET_ENVIRONMENT_VALUE}"

owner_image_keys: Final = owner_keys(API_GROUP, PREPROVISIONING_IMAGE_KIND)
"""``namespace/name`` of each PreprovisioningImage in an object's ownerReferences."""


@dataclass(frozen=True)
class PreprovisioningImageController:
    """What :func:`setup` registered, for callers (tests) that look inside."""

    images: Informer
    secrets: Informer
    reconciler: PreprovisioningImageReconciler
    controller: Controller


def setup(
    manager: Manager,
    settings: Settings,
    *,
    provisioner_factory: ProvisionerFactory,
    provider: ImageProvider | None = None,
    environ: Mapping[str, str] | None = None,
) -> PreprovisioningImageController | None:
    """Register the controller; ``None`` (nothing registered) without
    ``-build-preprov-image`` or when the default provider has no image to serve.

    ``provider`` replaces the default provider (which reads ``DEPLOY_*`` from ``environ``,
    ``os.environ`` by default). ``provisioner_factory`` is unused: images need no backend.
    """
    del provisioner_factory
    if not settings.controller.build_preprov_image:
        return None
    if provider is None:
        default = DefaultImageProvider(
            DeployImageSettings.from_environ(os.environ if environ is None else environ)
        )
        if not default.can_start():
            log.info("not starting preprovisioning image controller; no image data available")
            return None
        provider = default
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=CONTROLLER_NAME)
    images = manager.informer(PREPROVISIONING_IMAGES)
    images.add_handler(EnqueueHandler(queue))
    secrets = manager.informer(SECRETS, label_selector=_SECRET_LABEL_SELECTOR)
    secrets.add_handler(EnqueueHandler(queue, mapper=owner_image_keys))
    reconciler = PreprovisioningImageReconciler(manager.api_client, images, secrets, provider)
    controller = manager.add_controller(
        Controller(CONTROLLER_NAME, reconciler, queue, settings.controller.concurrency)
    )
    return PreprovisioningImageController(images, secrets, reconciler, controller)
