"""Writing a BareMetalHost: metadata and status updates, and remembering what they returned.

Upstream ``internal/controller/metal3.io/baremetalhost_controller.go`` writes through
``r.Update`` (metadata: finalizers, annotations, spec.architecture) and ``saveHostStatus``
(the status subresource). Here every write is a full ``PUT`` carrying the
``resourceVersion`` the pass read (optimistic concurrency), built from the raw cached object
so fields this version of bmo does not model survive. A 409 means someone else changed the
host: :class:`WriteConflict`, and the work queue retries the pass from fresh state.

The informer cache lags our own writes by a watch event. :class:`WrittenHosts` remembers the
object each pass's last write returned and hands it out while the cache still shows a
version that write replaced (the one the pass read, or one an earlier write of the same
pass returned), so a pass never redoes the previous one from stale status nor writes
from an outdated resourceVersion (a 409, and one more request against the budget).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from kubernetes import client as k8s

from bmo.api.codec import keep_unknown
from bmo.api.constants import API_GROUP, API_VERSION, BMH_PLURAL
from bmo.api.host import BareMetalHostStatus
from bmo.runtime.cache import KubeObject, resource_version, thaw
from bmo.runtime.controller import ReconcileError
from bmo.runtime.errors import Conflict, kube_errors
from bmo.runtime.jsonapi import JsonApi, custom_object_path

__all__ = [
    "HostWriter",
    "MetadataChange",
    "WriteConflict",
    "WrittenHosts",
    "change_finalizers",
    "remove_annotations",
]

MetadataChange = Callable[[dict[str, Any]], None]
"""Edits a mutable copy of the host (its metadata, or spec fields upstream sets with
``r.Update``)."""


class WriteConflict(ReconcileError):
    """An object changed since it was read (HTTP 409): retry the pass from fresh state."""


class HostWriter:
    """Writes one host, always from the latest object the server gave back.

    Raises :class:`WriteConflict` on a 409 and :class:`~bmo.runtime.errors.KubeError` for
    any other API failure.
    """

    def __init__(self, api: k8s.CustomObjectsApi, raw: KubeObject) -> None:
        # Both writes are plain JSON PUTs of the raw object: the thin path sends the bytes
        # ``replace_namespaced_custom_object(_status)`` would, without their pydantic
        # argument validation and body sanitizing (see ``bmo.runtime.jsonapi``).
        self._json = JsonApi(api.api_client)
        self.raw: KubeObject = raw
        self.writes = 0
        #: The resourceVersion each write returned, in order.
        self.versions: list[str] = []

    @property
    def namespace(self) -> str:
        return str(self.raw["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.raw["metadata"]["name"])

    def update_metadata(self, change: MetadataChange) -> None:
        body: dict[str, Any] = thaw(self.raw)
        change(body)
        self.raw = self._put(None, body)

    def write_status(self, status: BareMetalHostStatus) -> None:
        body: dict[str, Any] = thaw(self.raw)
        # Status fields a newer operator wrote and this bmo does not model ride along.
        body["status"] = keep_unknown(BareMetalHostStatus, body.get("status"), status.to_dict())
        self.raw = self._put("status", body)

    def _put(self, subresource: str | None, body: dict[str, Any]) -> KubeObject:
        """``r.Update`` (``subresource`` None) or ``r.Status().Update`` of the host."""
        try:
            with kube_errors():
                result: KubeObject = self._json.put(
                    custom_object_path(
                        API_GROUP,
                        API_VERSION,
                        self.namespace,
                        BMH_PLURAL,
                        self.name,
                        subresource=subresource,
                    ),
                    body,
                )
        except Conflict:
            raise WriteConflict(
                f"BareMetalHost {self.namespace}/{self.name} changed since it was read "
                f"(resourceVersion {resource_version(self.raw)}); retrying"
            ) from None
        self.writes += 1
        self.versions.append(resource_version(result))
        return result


def remove_annotations(keys: Iterable[str]) -> MetadataChange:
    def change(body: dict[str, Any]) -> None:
        annotations = body["metadata"].get("annotations") or {}
        for key in keys:
            annotations.pop(key, None)
        body["metadata"]["annotations"] = annotations

    return change


def change_finalizers(add: str | None = None, remove: str | None = None) -> MetadataChange:
    def change(body: dict[str, Any]) -> None:
        finalizers = [f for f in body["metadata"].get("finalizers") or [] if f != remove]
        if add is not None and add not in finalizers:
            finalizers.append(add)
        body["metadata"]["finalizers"] = finalizers

    return change


class WrittenHosts:
    """Per host key: the resourceVersions our own writes have replaced, and the object the
    last write returned. Thread-safe (workers reconcile different keys at once)."""

    def __init__(self) -> None:
        self._written: dict[str, tuple[frozenset[str], KubeObject]] = {}
        self._lock = threading.Lock()

    def freshest(self, key: str, cached: KubeObject) -> KubeObject:
        """What we wrote last while the cache still shows what it replaced, else the cache
        (which has then caught up, or been overtaken by someone else's change)."""
        with self._lock:
            memo = self._written.get(key)
            if memo is None:
                return cached
            if resource_version(cached) in memo[0]:
                return memo[1]
            del self._written[key]
            return cached

    def remember(self, key: str, replaced: Iterable[str], obj: KubeObject) -> None:
        """``replaced``: the versions a pass's writes superseded (what it read, from the
        cache or from an earlier memo, and every version but the last its writes returned).
        Versions an earlier pass replaced still are, when this pass started from its memo."""
        meta = obj.get("metadata") or {}
        stale = set(replaced)
        with self._lock:
            previous = self._written.get(key)
            if previous is not None and resource_version(previous[1]) in stale:
                stale |= previous[0]
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self._written.pop(key, None)
            else:
                self._written[key] = (frozenset(stale), obj)

    def forget(self, key: str) -> None:
        with self._lock:
            self._written.pop(key, None)
