"""From informer events to queue keys: event handlers, predicates and mappers.

Reconciles are level-triggered and take only ``namespace/name``, so a handler's whole job is
to decide *which* keys an event concerns and *whether* it is worth a reconcile. The
BareMetalHost watch ignores status-only updates (the operator's own status writes would
otherwise trigger a reconcile each, reference §9.6); Secrets map to the hosts that own them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from bmo.runtime.cache import KubeObject, object_key, resource_version

BMH_API_GROUP = "metal3.io"
BMH_KIND = "BareMetalHost"
SECRET_ENVIRONMENT_LABEL = "environment.metal3.io"
SECRET_ENVIRONMENT_VALUE = "baremetal"
SECRET_LABEL_SELECTOR = f"{SECRET_ENVIRONMENT_LABEL}={SECRET_ENVIRONMENT_VALUE}"
OWNER_HOST_INDEX = "owner-host"

UpdatePredicate = Callable[[KubeObject, KubeObject], bool]
"""``(old, new) -> bool``: should this update be reconciled?"""

KeyMapper = Callable[[KubeObject], Iterable[str]]
"""The queue keys an object's event concerns."""


class EventHandler(Protocol):
    """What an informer calls; old is new on a periodic resync."""

    def on_add(self, obj: KubeObject) -> None: ...

    def on_update(self, old: KubeObject, new: KubeObject) -> None: ...

    def on_delete(self, obj: KubeObject) -> None: ...


class KeyQueue(Protocol):
    """The one queue method handlers need."""

    def add(self, key: str) -> None: ...


def _meta(obj: KubeObject) -> KubeObject:
    meta: KubeObject = obj.get("metadata") or {}
    return meta


def is_resync(old: KubeObject, new: KubeObject) -> bool:
    return old is new or (
        bool(resource_version(new)) and resource_version(old) == resource_version(new)
    )


def status_only_change(old: KubeObject, new: KubeObject) -> bool:
    """True when an update changed nothing a reconcile acts on: same ``generation`` (spec),
    finalizers, annotations, labels and deletionTimestamp. A resync is not a change."""
    if is_resync(old, new):
        return False
    a, b = _meta(old), _meta(new)
    return all(
        a.get(field) == b.get(field)
        for field in ("generation", "finalizers", "annotations", "labels", "deletionTimestamp")
    )


def ignore_status_only(old: KubeObject, new: KubeObject) -> bool:
    """The BareMetalHost update predicate: reconcile unless only the status changed."""
    return not status_only_change(old, new)


def owner_host_keys(obj: KubeObject) -> list[str]:
    """``namespace/name`` of each BareMetalHost in ``obj``'s ownerReferences (owners live in
    the object's namespace: cross-namespace owner references are not allowed)."""
    meta = _meta(obj)
    namespace = meta.get("namespace") or ""
    keys: list[str] = []
    for ref in meta.get("ownerReferences") or ():
        api_version = str(ref.get("apiVersion", ""))
        if ref.get("kind") == BMH_KIND and api_version.partition("/")[0] == BMH_API_GROUP:
            key = f"{namespace}/{ref.get('name', '')}" if namespace else str(ref.get("name"))
            if key not in keys:
                keys.append(key)
    return keys


def baremetal_secret_owner_keys(obj: KubeObject) -> list[str]:
    """Owner host keys of a Secret labelled ``environment.metal3.io=baremetal``; other
    Secrets concern no host."""
    labels = _meta(obj).get("labels") or {}
    if labels.get(SECRET_ENVIRONMENT_LABEL) != SECRET_ENVIRONMENT_VALUE:
        return []
    return owner_host_keys(obj)


class EnqueueHandler:
    """Enqueue each event's keys (by default the object's own key), filtering updates
    through ``update_predicate``. Adds and deletes always pass: a delete must reach the
    reconciler so it can clean up (or see NotFound and stop)."""

    def __init__(
        self,
        queue: KeyQueue,
        *,
        mapper: KeyMapper | None = None,
        update_predicate: UpdatePredicate | None = None,
    ) -> None:
        self.queue = queue
        self.mapper: KeyMapper = mapper or (lambda obj: [object_key(obj)])
        self.update_predicate = update_predicate

    def on_add(self, obj: KubeObject) -> None:
        self._enqueue(self.mapper(obj))

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        if self.update_predicate is not None and not self.update_predicate(old, new):
            return
        keys = list(self.mapper(new))
        if old is not new:
            # An owner reference removed by this update still concerns the old owner.
            keys.extend(k for k in self.mapper(old) if k not in keys)
        self._enqueue(keys)

    def on_delete(self, obj: KubeObject) -> None:
        self._enqueue(self.mapper(obj))

    def _enqueue(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.queue.add(key)


def host_handler(queue: KeyQueue) -> EnqueueHandler:
    """BareMetalHost events → the host's key, ignoring status-only updates."""
    return EnqueueHandler(queue, update_predicate=ignore_status_only)


def secret_owner_handler(queue: KeyQueue) -> EnqueueHandler:
    """Secret events → the keys of the BareMetalHosts owning them."""
    return EnqueueHandler(queue, mapper=baremetal_secret_owner_keys)
