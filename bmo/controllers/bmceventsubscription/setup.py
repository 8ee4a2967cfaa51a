"""Register the BMCEventSubscription controller with a manager: upstream
``bmceventsubscription_controller.go SetupWithManager`` (``For(BMCEventSubscription)``
without status-only updates, ``Watches(BareMetalHost)``).

Upstream enqueues a host's own name, which finds a subscription only when it is named like
its host; bmo indexes subscriptions by ``spec.hostName`` and wakes each one naming the host
(a host appearing ends a "host not found" wait at once, not after 10 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bmo.api.bmceventsubscription import (
    BMC_EVENT_SUBSCRIPTION_KIND,
    BMC_EVENT_SUBSCRIPTION_PLURAL,
)
from bmo.api.constants import API_GROUP, API_VERSION
from bmo.controllers.bmceventsubscription.reconciler import BMCEventSubscriptionReconciler
from bmo.controllers.hosts import host_informer, sharded
from bmo.provisioner import ProvisionerFactory
from bmo.runtime.cache import KubeObject
from bmo.runtime.controller import Controller
from bmo.runtime.eventhandlers import EnqueueHandler, ignore_status_only
from bmo.runtime.informer import Informer, Resource
from bmo.runtime.manager import Manager
from bmo.runtime.queue import RateLimitingQueue
from bmo.settings import Settings

__all__ = ["BMC_EVENT_SUBSCRIPTIONS", "CONTROLLER_NAME", "HOST_NAME_INDEX", "setup"]

CONTROLLER_NAME: Final = "bmceventsubscription"
BMC_EVENT_SUBSCRIPTIONS: Final = Resource(
    API_GROUP, API_VERSION, BMC_EVENT_SUBSCRIPTION_PLURAL, BMC_EVENT_SUBSCRIPTION_KIND
)
HOST_NAME_INDEX: Final = "host-name"


def _meta_key(obj: KubeObject, name: str) -> str:
    return f"{(obj.get('metadata') or {}).get('namespace', '')}/{name}"


def host_name_keys(obj: KubeObject) -> list[str]:
    """``namespace/spec.hostName`` of a subscription."""
    host = (obj.get("spec") or {}).get("hostName")
    return [_meta_key(obj, str(host))] if host else []


@dataclass(frozen=True)
class BMCEventSubscriptionController:
    subscriptions: Informer
    hosts: Informer
    reconciler: BMCEventSubscriptionReconciler
    controller: Controller


def setup(
    manager: Manager,
    settings: Settings,
    *,
    provisioner_factory: ProvisionerFactory,
) -> BMCEventSubscriptionController:
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=CONTROLLER_NAME)
    subscriptions = manager.informer(
        BMC_EVENT_SUBSCRIPTIONS, indexers={HOST_NAME_INDEX: host_name_keys}
    )
    subscriptions.add_handler(EnqueueHandler(queue, update_predicate=ignore_status_only))
    hosts = host_informer(manager, settings)

    def subscriptions_of(obj: KubeObject) -> list[str]:
        meta = obj.get("metadata") or {}
        host_key = _meta_key(obj, str(meta.get("name", "")))
        return [
            _meta_key(sub, str((sub.get("metadata") or {}).get("name", "")))
            for sub in subscriptions.by_index(HOST_NAME_INDEX, host_key)
        ]

    hosts.add_handler(EnqueueHandler(queue, mapper=subscriptions_of))
    reconciler = BMCEventSubscriptionReconciler(
        manager.api_client, subscriptions, hosts, provisioner_factory, sharded=sharded(settings)
    )
    controller = manager.add_controller(
        Controller(CONTROLLER_NAME, reconciler, queue, settings.controller.concurrency)
    )
    return BMCEventSubscriptionController(subscriptions, hosts, reconciler, controller)
