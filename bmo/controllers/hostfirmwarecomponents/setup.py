"""Register the HostFirmwareComponents controller with a manager: upstream
``hostfirmwarecomponents_controller.go`` ``SetupWithManager`` (``For`` HostFirmwareComponents
and ``Watches`` BareMetalHost of the same name, updates filtered to spec changes; here a host's
provisioning state change counts too, so components are read again once preparing or
servicing ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bmo.api.constants import API_GROUP, API_VERSION, GROUP_VERSION
from bmo.api.firmware import HFC_KIND, HFC_PLURAL, HostFirmwareComponents
from bmo.controllers.baremetalhost.events import EventRecorder, EventTarget
from bmo.controllers.hostfirmwarecomponents.reconciler import HostFirmwareComponentsReconciler
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
    "HOSTFIRMWARECOMPONENTS",
    "ComponentsController",
    "ComponentsEvents",
    "setup",
]

CONTROLLER_NAME: Final = "hostfirmwarecomponents"
HOSTFIRMWARECOMPONENTS: Final = Resource(API_GROUP, API_VERSION, HFC_PLURAL, HFC_KIND)
SOURCE_COMPONENT: Final = "metal3-hostfirmwarecomponents-controller"
REPORTING_CONTROLLER: Final = "metal3.io/hostfirmwarecomponents-controller"


class ComponentsEvents:
    """``ValidationFailed`` events on a HostFirmwareComponents (upstream
    ``hostfirmwarecomponents_controller.go publishEvent``)."""

    def __init__(self, recorder: EventRecorder) -> None:
        self._recorder = recorder

    def publish(self, hfc: HostFirmwareComponents, reason: str, message: str) -> None:
        target = EventTarget(
            name=hfc.metadata.name,
            namespace=hfc.metadata.namespace,
            uid=hfc.metadata.uid,
            kind=HFC_KIND,
            api_version=GROUP_VERSION,
        )
        self._recorder.emit(target, reason, message)


@dataclass(frozen=True)
class ComponentsController:
    components: Informer
    reconciler: HostFirmwareComponentsReconciler
    controller: Controller


def setup(
    manager: Manager,
    settings: Settings,
    *,
    provisioner_factory: ProvisionerFactory,
    max_requeue_after: float | None = None,
) -> ComponentsController:
    """Register the HostFirmwareComponents controller (``max_requeue_after``: tests only)."""
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=CONTROLLER_NAME)
    hfc = manager.informer(HOSTFIRMWARECOMPONENTS)
    hfc.add_handler(EnqueueHandler(queue, update_predicate=generation_changed))
    hosts = host_informer(manager, settings)
    hosts.add_handler(EnqueueHandler(queue, update_predicate=host_moved))
    recorder = EventRecorder(
        manager.api_client,
        reporting_instance=settings.pod.name,
        source_component=SOURCE_COMPONENT,
        reporting_controller=REPORTING_CONTROLLER,
    )
    reconciler = HostFirmwareComponentsReconciler(
        manager.api_client,
        hosts,
        hfc,
        provisioner_factory,
        events=ComponentsEvents(recorder),
        max_requeue_after=max_requeue_after,
    )
    controller = manager.add_controller(
        Controller(CONTROLLER_NAME, reconciler, queue, settings.controller.concurrency)
    )
    return ComponentsController(hfc, reconciler, controller)
