"""Register the BareMetalHost controller with a manager: controller-runtime's
``SetupWithManager``, as upstream ``internal/controller/metal3.io/baremetalhost_controller.go``
``SetupWithManager`` does it, with the Secret cache restriction of upstream ``main.go``.

What the controller watches, and why:

* **BareMetalHosts** (``For``) - only those matching ``--host-label-selector`` when the
  fleet is split between several bmo Deployments - through upstream's
  ``updateEventHandler`` predicate: an update that changed only the status - the
  controller's own writes - does not trigger a reconcile. Redelivered every sync period as
  a safety net.
* **Secrets labelled** ``environment.metal3.io=baremetal`` (``Owns(&Secret{},
  MatchEveryOwner)``; ``main.go`` limits the manager's Secret cache to that label): a change
  wakes every host that owns the Secret. Indexed by owner host.
* **HardwareData**: read from the cache on every pass instead of a GET each; no handler,
  since upstream does not watch it either.
* **HostFirmwareSettings, HostFirmwareComponents, HostUpdatePolicy** (same name as the
  host): read from caches on every pass into the state machine's firmware input. A change
  (the firmware controllers flagging ``ChangeDetected``) wakes the host at once instead of at
  its next power poll.
* **PreprovisioningImages**, with ``-build-preprov-image`` only (``Owns`` in upstream's
  ``SetupWithManager(mgr, preprovImgEnable, ...)``): any change wakes the owning host, so a
  host waiting for its image is not left polling.

:func:`setup` is the package's one entry point for ``bmo run``; every controller package
offers one with the same signature.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bmo.api.constants import (
    API_GROUP,
    API_VERSION,
    BMH_KIND,
    BMH_PLURAL,
    HARDWARE_DATA_KIND,
    HARDWARE_DATA_PLURAL,
    SECRET_ENVIRONMENT_LABEL,
    SECRET_ENVIRONMENT_VALUE,
    OperationalStatus,
)
from bmo.api.dataimage import DATA_IMAGE_KIND, DATA_IMAGE_PLURAL
from bmo.api.firmware import HFC_KIND, HFC_PLURAL, HFS_KIND, HFS_PLURAL
from bmo.api.hostupdatepolicy import HUP_KIND, HUP_PLURAL
from bmo.controllers.baremetalhost import metrics
from bmo.controllers.baremetalhost.eventqueue import BackgroundEvents
from bmo.controllers.baremetalhost.events import EventRecorder
from bmo.controllers.baremetalhost.firmware import FirmwareObjects
from bmo.controllers.baremetalhost.preprovimage import PREPROVISIONING_IMAGES
from bmo.controllers.baremetalhost.reconciler import (
    HostEventSink,
    HostReconciler,
    HostReconcilerSettings,
)
from bmo.controllers.hosts import host_informer
from bmo.hoststate.actions import WATCHED_POWER_POLL_DELAY
from bmo.provisioner import HostWatcher, ProvisionerFactory
from bmo.runtime.cache import KubeObject, Store
from bmo.runtime.controller import Controller
from bmo.runtime.eventhandlers import (
    EnqueueHandler,
    KeyQueue,
    ignore_status_only,
    is_resync,
    owner_keys,
)
from bmo.runtime.informer import SECRETS, Informer, Resource
from bmo.runtime.manager import Manager, RateLimitedApiClient
from bmo.runtime.queue import RateLimitingQueue
from bmo.runtime.settings import DEFAULT_SYNC_PERIOD
from bmo.settings import Settings

__all__ = [
    "BAREMETALHOSTS",
    "CONTROLLER_NAME",
    "DATAIMAGES",
    "HARDWAREDATA",
    "HOSTFIRMWARECOMPONENTS",
    "HOSTFIRMWARESETTINGS",
    "HOSTUPDATEPOLICIES",
    "OWNER_HOST_INDEX",
    "SECRET_LABEL_SELECTOR",
    "HostController",
    "baremetal_secret_owner_keys",
    "host_handler",
    "owner_host_keys",
    "secret_owner_handler",
    "setup",
]

CONTROLLER_NAME: Final = "baremetalhost"
BAREMETALHOSTS: Final = Resource(API_GROUP, API_VERSION, BMH_PLURAL, BMH_KIND)
HARDWAREDATA: Final = Resource(API_GROUP, API_VERSION, HARDWARE_DATA_PLURAL, HARDWARE_DATA_KIND)
HOSTFIRMWARESETTINGS: Final = Resource(API_GROUP, API_VERSION, HFS_PLURAL, HFS_KIND)
HOSTFIRMWARECOMPONENTS: Final = Resource(API_GROUP, API_VERSION, HFC_PLURAL, HFC_KIND)
HOSTUPDATEPOLICIES: Final = Resource(API_GROUP, API_VERSION, HUP_PLURAL, HUP_KIND)
DATAIMAGES: Final = Resource(API_GROUP, API_VERSION, DATA_IMAGE_PLURAL, DATA_IMAGE_KIND)
SECRET_LABEL_SELECTOR: Final = f"{SECRET_ENVIRONMENT_LABEL}={SECRET_ENVIRONMENT_VALUE}"
OWNER_HOST_INDEX: Final = "owner-host"

owner_host_keys: Final = owner_keys(API_GROUP, BMH_KIND)
"""``namespace/name`` of each BareMetalHost in an object's ownerReferences."""


def baremetal_secret_owner_keys(obj: KubeObject) -> list[str]:
    """Owner host keys of a Secret labelled ``environment.metal3.io=baremetal``; other
    Secrets concern no host."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(SECRET_ENVIRONMENT_LABEL) != SECRET_ENVIRONMENT_VALUE:
        return []
    return list(owner_host_keys(obj))


def host_handler(queue: KeyQueue) -> EnqueueHandler:
    """BareMetalHost events → the host's key, ignoring status-only updates (upstream
    ``baremetalhost_controller.go`` ``updateEventHandler``)."""
    return EnqueueHandler(queue, update_predicate=ignore_status_only)


def same_name_handler(queue: KeyQueue) -> EnqueueHandler:
    """HostFirmwareSettings/Components/UpdatePolicy events → the same-named host's key
    (a resync, which changes nothing, is ignored)."""
    return EnqueueHandler(queue, update_predicate=lambda old, new: not is_resync(old, new))


DELAYED_INDEX: Final = "operational-status-delayed"


def _delayed_index(obj: KubeObject) -> list[str]:
    """Hosts waiting for a provisioning slot (``status.operationalStatus: delayed``)."""
    status = obj.get("status") or {}
    value = status.get("operationalStatus") if isinstance(status, Mapping) else None
    return [str(value)] if value == OperationalStatus.DELAYED else []


class DelayedHosts:
    """Wakes hosts waiting for a provisioning slot, the longest waiting first, only as many
    as there are free slots.

    Waking every delayed host whenever one slot frees made a herd: with 180 hosts waiting
    for 20 slots, each freed slot had all of them clear ``delayed`` (a status write), find
    the slot taken by the first and write ``delayed`` again, while the queue they filled
    delayed the hosts actually holding slots. The wait is ordered by when a host was first
    seen delayed (hosts first seen together by name); a woken host that finds the slot taken
    stays delayed and keeps its place.
    """

    def __init__(self, store: Store, queue: KeyQueue) -> None:
        self._store = store
        self._queue = queue
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # key → order first seen delayed
        self._next = 0

    def wake(self, free: int) -> None:
        keys = self._store.index_keys(DELAYED_INDEX, OperationalStatus.DELAYED)
        with self._lock:
            seen: dict[str, int] = {}
            for key in sorted(keys, key=lambda k: (self._seen.get(k, self._next), k)):
                order = self._seen.get(key)
                if order is None:
                    order, self._next = self._next, self._next + 1
                seen[key] = order
            self._seen = seen  # hosts no longer delayed are forgotten
            woken = list(seen)[:free]
        for key in woken:
            self._queue.add(key)


def secret_owner_handler(queue: KeyQueue) -> EnqueueHandler:
    """Secret events → the keys of the BareMetalHosts owning them."""
    return EnqueueHandler(queue, mapper=baremetal_secret_owner_keys)


def _background_events(manager: Manager, settings: Settings) -> BackgroundEvents:
    """Events written by their own thread through their own client: the same QPS and burst
    as the controller's but a separate token bucket, as controller-runtime's recorder
    provider builds its client from the manager's ``rest.Config``. A burst of events thus
    never delays a reconcile's reads and writes."""
    client = RateLimitedApiClient(
        manager.api_client.configuration, qps=settings.kube.qps, burst=settings.kube.burst
    )
    recorder = BackgroundEvents(EventRecorder(client, reporting_instance=settings.pod.name))
    manager.add_stop_hook(recorder.close)
    return recorder


@dataclass(frozen=True)
class HostController:
    """What :func:`setup` registered, for callers (tests) that look inside."""

    hosts: Informer
    secrets: Informer
    hardware: Informer
    firmware: tuple[Informer, Informer, Informer]
    reconciler: HostReconciler
    controller: Controller


def setup(
    manager: Manager,
    settings: Settings,
    *,
    provisioner_factory: ProvisionerFactory,
    host_settings: HostReconcilerSettings | None = None,
    events: HostEventSink | None = None,
) -> HostController:
    """Register the BareMetalHost controller's informers, handlers and controller.

    ``host_settings`` defaults to ``settings``' (tests cap requeue delays); ``events``
    replaces the Kubernetes event recorder (tests observe what is published, and when).
    """
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=CONTROLLER_NAME)
    # A shard (``--host-label-selector``) lists and watches only its hosts: another shard's
    # host is never in this cache, so a Secret or requeue naming it reconciles to nothing.
    hosts = host_informer(manager, settings)
    hosts.add_handler(host_handler(queue))
    secrets = manager.informer(
        SECRETS,
        label_selector=SECRET_LABEL_SELECTOR,
        indexers={OWNER_HOST_INDEX: owner_host_keys},
        resync_period=DEFAULT_SYNC_PERIOD,
    )
    secrets.add_handler(secret_owner_handler(queue))
    hardware = manager.informer(HARDWAREDATA)
    firmware = (
        manager.informer(HOSTFIRMWARESETTINGS),
        manager.informer(HOSTFIRMWARECOMPONENTS),
        manager.informer(HOSTUPDATEPOLICIES),
    )
    for informer in firmware:
        informer.add_handler(same_name_handler(queue))
    # A DataImage attached or ejected (its status written) wakes its same-named host, whose
    # power-on waits for it (upstream reads the DataImage in manageHostPower).
    data_images = manager.informer(DATAIMAGES)
    data_images.add_handler(EnqueueHandler(queue))
    preprov_images: Informer | None = None
    if settings.controller.build_preprov_image:
        # ``Owns(&PreprovisioningImage{})``: a built (or failed) image wakes its host.
        preprov_images = manager.informer(PREPROVISIONING_IMAGES)
        preprov_images.add_handler(EnqueueHandler(queue, mapper=owner_host_keys))
    reconciler_settings = host_settings or HostReconcilerSettings.from_settings(settings)
    watched = isinstance(provisioner_factory, HostWatcher) and provisioner_factory.watch_hosts(
        # The backend saw the host's machine change (Ironic's node cache): reconcile now.
        lambda namespace, name: queue.add(f"{namespace}/{name}")
    )
    if watched:
        # Every change of a machine wakes its host, so the steady-state power check (upstream
        # ``manageHostPower``'s one-minute ``steadyStateResult``) is only a safety net.
        reconciler_settings = dataclasses.replace(
            reconciler_settings,
            machine=dataclasses.replace(
                reconciler_settings.machine, power_poll_delay=WATCHED_POWER_POLL_DELAY
            ),
        )
    reconciler = HostReconciler(
        manager.api_client,
        hosts,
        secrets,
        provisioner_factory,
        reconciler_settings,
        events=events if events is not None else _background_events(manager, settings),
        hardware_store=hardware,
        firmware=FirmwareObjects(manager.api_client, *firmware),
        preprov_image_store=preprov_images,
        data_image_store=data_images,
    )
    controller = manager.add_controller(
        Controller(CONTROLLER_NAME, reconciler, queue, settings.controller.concurrency)
    )
    if isinstance(provisioner_factory, HostWatcher):
        # A provisioning slot came free: the hosts waiting for one try now. Upstream leaves
        # them to their 1-2 minute backoff (``recordActionDelayed``), so with
        # PROVISIONING_LIMIT below the fleet most of a batch sat idle while slots were free.
        store = hosts.store
        if not store.has_index(DELAYED_INDEX):
            store.add_indexers({DELAYED_INDEX: _delayed_index})

        provisioner_factory.watch_capacity(DelayedHosts(store, queue).wake)
    metrics.install_host_collector(hosts.objects)
    # A stopped manager's cache no longer follows the cluster: report no hosts rather than
    # the last ones seen.
    manager.add_stop_hook(metrics.uninstall_host_collector)
    return HostController(hosts, secrets, hardware, firmware, reconciler, controller)
