"""From informer events to queue keys: event handlers, predicates and mappers.

Reconciles are level-triggered and take only ``namespace/name``, so a handler's whole job is
to decide *which* keys an event concerns and *whether* it is worth a reconcile: controller-
runtime's ``pkg/handler`` (``EnqueueRequestForObject``, ``EnqueueRequestForOwner``) and
``pkg/predicate``. Which kinds a controller watches, and with which predicate, is the
controller's business (its ``setup``); nothing here knows a particular kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from bmo.runtime.cache import KubeObject, object_key, resource_version

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
    """An update predicate: reconcile unless only the status changed (so a controller's own
    status writes do not each trigger a reconcile)."""
    return not status_only_change(old, new)


def owner_keys(api_group: str, kind: str) -> KeyMapper:
    """A mapper to the ``namespace/name`` of each owner of kind ``kind`` in group
    ``api_group`` in an object's ownerReferences, controller or not (controller-runtime's
    ``EnqueueRequestForOwner`` with ``MatchEveryOwner``). Owners live in the object's
    namespace: cross-namespace owner references are not allowed."""

    def keys(obj: KubeObject) -> list[str]:
        meta = _meta(obj)
        namespace = meta.get("namespace") or ""
        found: list[str] = []
        for ref in meta.get("ownerReferences") or ():
            api_version = str(ref.get("apiVersion", ""))
            if ref.get("kind") == kind and api_version.partition("/")[0] == api_group:
                key = f"{namespace}/{ref.get('name', '')}" if namespace else str(ref.get("name"))
                if key not in found:
                    found.append(key)
        return found

    return keys


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
