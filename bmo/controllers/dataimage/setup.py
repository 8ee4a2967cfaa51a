"""Register the DataImage controller with a manager: upstream ``dataimage_controller.go
SetupWithManager`` (``For(DataImage)`` with a generation predicate).

Besides the DataImages (status-only updates ignored: they are this controller's own), the
controller watches the BareMetalHosts: it attaches the image when a host powers on, which
is a status change of the host, and a host's arrival or removal changes what the same-named
DataImage must do. The host cache is the manager's shared BareMetalHost informer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bmo.api.constants import API_GROUP, API_VERSION
from bmo.api.dataimage import DATA_IMAGE_KIND, DATA_IMAGE_PLURAL
from bmo.controllers.dataimage.reconciler import DataImageReconciler
from bmo.controllers.hosts import host_informer, sharded
from bmo.provisioner import ProvisionerFactory
from bmo.runtime.cache import KubeObject
from bmo.runtime.controller import Controller
from bmo.runtime.eventhandlers import EnqueueHandler, ignore_status_only
from bmo.runtime.informer import Informer, Resource
from bmo.runtime.manager import Manager
from bmo.runtime.queue import RateLimitingQueue
from bmo.settings import Settings

__all__ = ["CONTROLLER_NAME", "DATA_IMAGES", "DataImageController", "setup"]

CONTROLLER_NAME: Final = "dataimage"
DATA_IMAGES: Final = Resource(API_GROUP, API_VERSION, DATA_IMAGE_PLURAL, DATA_IMAGE_KIND)


@dataclass(frozen=True)
class DataImageController:
    """What :func:`setup` registered, for callers (tests) that look inside."""

    images: Informer
    hosts: Informer
    reconciler: DataImageReconciler
    controller: Controller


def setup(
    manager: Manager,
    settings: Settings,
    *,
    provisioner_factory: ProvisionerFactory,
) -> DataImageController:
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=CONTROLLER_NAME)
    images = manager.informer(DATA_IMAGES)
    images.add_handler(EnqueueHandler(queue, update_predicate=ignore_status_only))
    hosts = host_informer(manager, settings)

    def same_named_image(obj: KubeObject) -> list[str]:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        return [key] if images.get(key) is not None else []

    hosts.add_handler(EnqueueHandler(queue, mapper=same_named_image))
    reconciler = DataImageReconciler(
        manager.api_client,
        images,
        hosts,
        provisioner_factory,
        allow_development=settings.controller.development_drivers,
        sharded=sharded(settings),
    )
    controller = manager.add_controller(
        Controller(CONTROLLER_NAME, reconciler, queue, settings.controller.concurrency)
    )
    return DataImageController(images, hosts, reconciler, controller)
