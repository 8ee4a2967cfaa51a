"""Register the HostFirmwareSettings controller with a manager: upstream
``hostfirmwaresettings_controller.go`` ``SetupWithManager``.

It watches HostFirmwareSettings (``For``, only spec changes: upstream's generation
predicate), BareMetalHosts of the same name (enrolment, state changes), and keeps
FirmwareSchemas in a cache so a pass reads the shared schema without a GET.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bmo.api.constants import API_GROUP, API_VERSION, GROUP_VERSION
from bmo.api.firmware import (
    FIRMWARE_SCHEMA_KIND,
    FIRMWARE_SCHEMA_PLURAL,
    HFS_KIND,
    HFS_PLURAL,
    HostFirmwareSettings,
)
from bmo.controllers.baremetalhost.events import EventRecorder, EventTarget
from bmo.controllers.hostfirmwaresettings.reconciler import HostFirmwareSettingsReconciler
from bmo.controllers.hostfirmwaresettings.subresource import generation_changed, host_moved
from bmo.controllers.hosts import host_informer
from bmo.provisioner import ProvisionerFactory
from bmo.runtime.controller import Controller
from bmo.runtime.eventhandlers import EnqueueHandler
from bmo.runtime.informer import Informer, Resource
from bmo.runtime.manager import Manager
from bmo.runtime.queue import RateLimitingQueue
from bmo.settings import Settings

__all__ = [
    "CONTROLLER_NAME",
    "FIRMWARESCHEMAS",
    "HOSTFIRMWARESETTINGS",
    "SOURCE_COMPONENT",
    "SettingsController",
    "SettingsEvents",
    "setup",
]

CONTROLLER_NAME: Final = "hostfirmwaresettings"
HOSTFIRMWARESETTINGS: Final = Resource(API_GROUP, API_VERSION, HFS_PLURAL, HFS_KIND)
FIRMWARESCHEMAS: Final = Resource(
    API_GROUP, API_VERSION, FIRMWARE_SCHEMA_PLURAL, FIRMWARE_SCHEMA_KIND
)
SOURCE_COMPONENT: Final = "metal3-hostfirmwaresettings-controller"
REPORTING_CONTROLLER: Final = "metal3.io/hostfirmwaresettings-controller"


class SettingsEvents:
    """``ValidationFailed`` events on a HostFirmwareSettings, from the controller's own
    source component (upstream ``hostfirmwaresettings_controller.go publishEvent``)."""

    def __init__(self, recorder: EventRecorder) -> None:
        self._recorder = recorder

    def publish(self, hfs: HostFirmwareSettings, reason: str, message: str) -> None:
        target = EventTarget(
            name=hfs.metadata.name,
            namespace=hfs.metadata.namespace,
            uid=hfs.metadata.uid,
            kind=HFS_KIND,
            api_version=GROUP_VERSION,
        )
        self._recorder.emit(target, reason, message)


@dataclass(frozen=True)
class SettingsController:
    """What :func:`setup` registered, for tests that look inside."""

    settings: Informer
    schemas: Informer
    reconciler: HostFirmwareSettingsReconciler
    controller: Controller


def setup(
    manager: Manager,
    settings: Settings,
    *,
    provisioner_factory: ProvisionerFactory,
    max_requeue_after: float | None = None,
) -> SettingsController:
    """Register the HostFirmwareSettings controller (``max_requeue_after``: tests only)."""
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=CONTROLLER_NAME)
    hfs = manager.informer(HOSTFIRMWARESETTINGS)
    hfs.add_handler(EnqueueHandler(queue, update_predicate=generation_changed))
    hosts = host_informer(manager, settings)
    hosts.add_handler(EnqueueHandler(queue, update_predicate=host_moved))
    schemas = manager.informer(FIRMWARESCHEMAS)
    recorder = EventRecorder(
        manager.api_client,
        reporting_instance=settings.pod.name,
        source_component=SOURCE_COMPONENT,
        reporting_controller=REPORTING_CONTROLLER,
    )
    reconciler = HostFirmwareSettingsReconciler(
        manager.api_client,
        hosts,
        hfs,
        schemas,
        provisioner_factory,
        events=SettingsEvents(recorder),
        max_requeue_after=max_requeue_after,
    )
    controller = manager.add_controller(
        Controller(CONTROLLER_NAME, reconciler, queue, settings.controller.concurrency)
    )
    return SettingsController(hfs, schemas, reconciler, controller)
