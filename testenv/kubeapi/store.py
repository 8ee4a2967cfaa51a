"""The object store: one lock, one global resourceVersion, a bounded event history, and
per-watcher queues with condition variables. Stored objects are never mutated after a commit
(every write builds a new dict), so readers may serialize them outside the lock. What a write
must pass before it is stored lives in :mod:`.admission`; open watches in :mod:`.watch`.
"""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from collections import deque
from typing import Any

from bmo.api.schema import FieldError, quote

from . import errors
from .admission import admit, decode, now_rfc3339
from .errors import ApiError
from .resources import (
    CRD_KEY,
    NS_KEY,
    Key,
    Obj,
    ResourceType,
    builtin_types,
    crd_to_type,
)
from .selectors import Predicate, always
from .watch import Event, Watcher

__all__ = ["CRD_KEY", "NS_KEY", "Key", "Obj", "Store"]

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
SERVER_META = (
    "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "generation", "selfLink",
)  # fmt: skip


_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class Store:
    def __init__(self, history_limit: int = 1000) -> None:
        self.lock = threading.RLock()
        self.history_limit = max(1, history_limit)
        self.types: dict[Key, ResourceType] = {}
        self.objects: dict[Key, dict[tuple[str, str], Obj]] = {}
        self.uids: dict[str, tuple[Key, str, str]] = {}
        self.owner_uids: set[str] = set()  # uids ever named in an ownerReference
        self.rv = 0
        self.history: deque[Event] = deque()
        self.compacted_rv = 0
        self.watchers: set[Watcher] = set()
        for rt in builtin_types():
            self._register(rt)
        ns_type = self.types[NS_KEY]
        for name in (*PROTECTED_NAMESPACES, "kube-node-lease"):
            self.create(ns_type, "v1", "", {"metadata": {"name": name}})
        # Anything older than start-up is outside the watch window, as on a real apiserver.
        self.compacted_rv = self.rv

    # ------------------------------------------------------------ types
    def _register(self, rt: ResourceType) -> None:
        self.types[rt.key] = rt
        self.objects.setdefault(rt.key, {})

    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.types.get((group, plural))
        if rt is None or version not in rt.versions:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rt

    def served_types(self) -> list[ResourceType]:
        with self.lock:
            return list(self.types.values())

    # ------------------------------------------------------------ reads
    def _get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.objects[rt.key].get((namespace if rt.namespaced else "", name))
        if obj is None:
            raise errors.not_found(rt.group_resource, name, rt.group, rt.plural)
        return obj

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        with self.lock:
            return self._get(rt, namespace, name)

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: Predicate = always,
        fields: Predicate = always,
    ) -> tuple[list[Obj], str]:
        with self.lock:
            items = [
                obj
                for (ns, _), obj in sorted(self.objects[rt.key].items())
                if (namespace is None or ns == namespace) and labels(obj) and fields(obj)
            ]
            return items, str(self.rv)

    @property
    def resource_version(self) -> str:
        with self.lock:
            return str(self.rv)

    # ------------------------------------------------------------ commit
    def _commit(self, rt: ResourceType, etype: str, obj: Obj, old: Obj | None = None) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        k = (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        if etype == "DELETED":
            self.objects[rt.key].pop(k, None)
            self.uids.pop(meta.get("uid", ""), None)
        else:
            self.objects[rt.key][k] = obj
            self.uids[meta["uid"]] = (rt.key, k[0], k[1])
            for ref in meta.get("ownerReferences") or []:
                if isinstance(ref, dict) and ref.get("uid"):
                    self.owner_uids.add(str(ref["uid"]))
        ev = Event(self.rv, rt.key, etype, obj, old)
        self.history.append(ev)
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft().rv
        for w in list(self.watchers):
            w.offer(ev)
        if rt.key == CRD_KEY:
            self._crd_changed(etype, obj)

    def _crd_changed(self, etype: str, crd: Obj) -> None:
        new = crd_to_type(crd)
        if etype == "DELETED":
            rt = self.types.get(new.key)
            if rt is not None and rt.is_custom:
                for obj in list(self.objects[rt.key].values()):
                    self._commit(rt, "DELETED", copy.deepcopy(obj))
                for w in list(self.watchers):
                    if w.rt.key == rt.key:
                        w.close()
                del self.types[rt.key]
                del self.objects[rt.key]
            return
        self._register(new)
        for w in self.watchers:  # open watches see the new schema and columns
            if w.rt.key == new.key:
                w.rt = new

    # ------------------------------------------------------------ writes
    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not rt.namespaced:
            return
        ns = self.objects[NS_KEY].get(("", namespace))
        if ns is None:
            raise errors.not_found("namespaces", namespace, "", "namespaces")
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                rt.group_resource,
                name,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def create(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        body: Any,
        *,
        dry_run: bool = False,
        field_validation: str = "",
    ) -> tuple[Obj, list[str]]:
        obj = decode(rt, version, body)
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for k in SERVER_META:
            meta.pop(k, None)
        if rt.is_custom and rt.status_subresource:
            obj.pop("status", None)
        with self.lock:
            if not meta.get("name") and meta.get("generateName"):
                for _ in range(100):
                    suffix = "".join(secrets.choice(_GENERATE_CHARS) for _ in range(5))
                    candidate = f"{meta['generateName']}{suffix}"
                    if (namespace if rt.namespaced else "", candidate) not in self.objects[rt.key]:
                        meta["name"] = candidate
                        break
            name = meta.get("name")
            if not name:
                raise errors.invalid(
                    rt.qualified_kind,
                    "",
                    [
                        FieldError(
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )
                    ],
                    rt.group,
                    rt.kind,
                )
            self._check_namespace(rt, namespace, name)
            warnings = admit(rt, version, obj, field_validation, self.types)
            if (namespace if rt.namespaced else "", name) in self.objects[rt.key]:
                raise errors.already_exists(rt.group_resource, name, rt.group, rt.plural)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if rt.has_generation:
                meta["generation"] = 1
            if dry_run:
                return obj, warnings
            self._commit(rt, "ADDED", obj)
            return obj, warnings

    def update(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "",
    ) -> tuple[Obj, list[str]]:
        new = decode(rt, version, body)
        given = new["metadata"].get("name")
        if given and given != name:
            raise errors.bad_request(
                f"the name of the object ({given}) does not match the name on the URL ({name})"
            )
        with self.lock:
            old = self._get(rt, namespace, name)
            rv = new["metadata"].get("resourceVersion")
            if rv:
                if str(rv) != old["metadata"]["resourceVersion"]:
                    raise errors.conflict(rt.group_resource, name, rt.group, rt.plural)
            elif rt.is_custom:
                raise errors.invalid(
                    rt.qualified_kind,
                    name,
                    [
                        FieldError(
                            "metadata.resourceVersion",
                            "FieldValueInvalid",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                    rt.group,
                    rt.kind,
                )
            return self._write_update(rt, version, old, new, subresource, dry_run, field_validation)

    def patch(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        apply: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "",
    ) -> tuple[Obj, list[str]]:
        """``apply`` maps the current object (a deep copy) to the patched one."""
        with self.lock:
            old = self._get(rt, namespace, name)
            current = copy.deepcopy(old)
            current["apiVersion"] = rt.api_version(version)
            patched = apply(current)
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata", {}), dict):
                raise ApiError(422, "Invalid", "the patched object is not a valid object")
            new = decode(rt, version, patched)
            meta = new["metadata"]
            rv = meta.get("resourceVersion")
            if rv and str(rv) != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.group_resource, name, rt.group, rt.plural)
            if meta.get("name", name) != name:
                raise errors.bad_request("metadata.name cannot be changed by a patch")
            return self._write_update(rt, version, old, new, subresource, dry_run, field_validation)

    def _write_update(
        self,
        rt: ResourceType,
        version: str,
        old: Obj,
        new: Obj,
        subresource: str | None,
        dry_run: bool,
        field_validation: str,
    ) -> tuple[Obj, list[str]]:
        old_meta = old["metadata"]
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            meta = new["metadata"]
            for k in (*SERVER_META, "name", "namespace"):
                if k in old_meta:
                    meta[k] = old_meta[k]
                else:
                    meta.pop(k, None)
            if rt.status_subresource:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        meta = new["metadata"]
        warnings = admit(rt, version, new, field_validation, self.types)
        if old_meta.get("deletionTimestamp"):
            before = old_meta.get("finalizers") or []
            added = [f for f in meta.get("finalizers") or [] if f not in before]
            if added:
                shown = ", ".join(quote(f) for f in added)
                raise errors.invalid(
                    rt.qualified_kind,
                    old_meta["name"],
                    [
                        FieldError(
                            "metadata.finalizers",
                            "FieldValueForbidden",
                            "Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers []string{{{shown}}}",
                        )
                    ],
                    rt.group,
                    rt.kind,
                )
        if rt.has_generation and self._spec_changed(rt, old, new):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == old:
            return old, warnings  # a no-op write: no new resourceVersion, no event
        if dry_run:
            return new, warnings
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._commit(rt, "DELETED", new)
            self._after_removal(rt, new, "Background")
            return new, warnings
        self._commit(rt, "MODIFIED", new, old)
        return new, warnings

    @staticmethod
    def _spec_changed(rt: ResourceType, old: Obj, new: Obj) -> bool:
        drop = {"metadata", "apiVersion", "kind"} | ({"status"} if rt.status_subresource else set())
        return {k: v for k, v in old.items() if k not in drop} != {
            k: v for k, v in new.items() if k not in drop
        }

    # ------------------------------------------------------------ deletes
    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        options: Obj | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Returns the object (final state) and whether it is gone (False: being finalized)."""
        options = options or {}
        with self.lock:
            obj = self._get(rt, namespace, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
                raise errors.conflict(
                    rt.group_resource, name, rt.group, rt.plural,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                    f"{obj['metadata'].get('uid')}",
                )  # fmt: skip
            if (
                pre.get("resourceVersion")
                and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]
            ):
                raise errors.conflict(
                    rt.group_resource, name, rt.group, rt.plural,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {obj['metadata']['resourceVersion']}",
                )  # fmt: skip
            if dry_run:
                return obj, not obj["metadata"].get("finalizers")
            if rt.key == NS_KEY:
                if name in PROTECTED_NAMESPACES:
                    raise errors.forbidden("namespaces", name, "this namespace may not be deleted")
                return self._delete_namespace(obj)
            policy = str(options.get("propagationPolicy") or "Background")
            if options.get("orphanDependents") is True:
                policy = "Orphan"
            return self._delete_object(rt, obj, policy)

    def _delete_object(self, rt: ResourceType, obj: Obj, policy: str) -> tuple[Obj, bool]:
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return obj, False
            new = copy.deepcopy(obj)
            nmeta = new["metadata"]
            nmeta["deletionTimestamp"] = now_rfc3339()
            nmeta["deletionGracePeriodSeconds"] = 0
            if nmeta.get("generation"):
                nmeta["generation"] = int(nmeta["generation"]) + 1
            self._commit(rt, "MODIFIED", new, obj)
            return new, False
        gone = copy.deepcopy(obj)
        self._commit(rt, "DELETED", gone)
        self._after_removal(rt, gone, policy)
        return gone, True

    def _after_removal(self, rt: ResourceType, obj: Obj, policy: str) -> None:
        """Garbage-collect dependents; finish a terminating namespace that became empty."""
        uid = obj["metadata"].get("uid")
        owned = uid in self.owner_uids
        self.owner_uids.discard(str(uid))
        for key, objs in list(self.objects.items()) if owned else []:
            for dep in list(objs.values()):
                refs = dep["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == uid for r in refs):
                    continue
                remaining = [r for r in refs if r.get("uid") != uid]
                dep_rt = self.types[key]
                if policy == "Orphan" or any(r.get("uid") in self.uids for r in remaining):
                    new = copy.deepcopy(dep)
                    if remaining:
                        new["metadata"]["ownerReferences"] = remaining
                    else:
                        new["metadata"].pop("ownerReferences", None)
                    self._commit(dep_rt, "MODIFIED", new, dep)
                else:
                    self._delete_object(dep_rt, dep, "Background")
        ns_name = obj["metadata"].get("namespace")
        if rt.namespaced and ns_name:
            ns = self.objects[NS_KEY].get(("", ns_name))
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self._finish_namespace(ns)

    def _namespace_empty(self, name: str) -> bool:
        return not any(
            ns == name
            for key, objs in self.objects.items()
            if self.types[key].namespaced
            for ns, _ in objs
        )

    def _finish_namespace(self, ns: Obj) -> None:
        if self._namespace_empty(ns["metadata"]["name"]):
            self._commit(self.types[NS_KEY], "DELETED", copy.deepcopy(ns))

    def _delete_namespace(self, ns: Obj) -> tuple[Obj, bool]:
        name = ns["metadata"]["name"]
        if not ns["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(ns)
            new["metadata"]["deletionTimestamp"] = now_rfc3339()
            new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
            self._commit(self.types[NS_KEY], "MODIFIED", new, ns)
            ns = new
        for key, objs in list(self.objects.items()):
            rt = self.types[key]
            if not rt.namespaced:
                continue
            for (ons, _), obj in list(objs.items()):
                if ons == name:
                    self._delete_object(rt, obj, "Background")
        current = self.objects[NS_KEY].get(("", name))
        if current is None:  # removing its last object finished the namespace
            return ns, True
        if self._namespace_empty(name):
            gone = copy.deepcopy(current)
            self._commit(self.types[NS_KEY], "DELETED", gone)
            return gone, True
        return current, False

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: Predicate,
        fields: Predicate,
        options: Obj | None = None,
    ) -> list[Obj]:
        with self.lock:
            items, _ = self.list_objects(rt, namespace, labels, fields)
            out = []
            for obj in items:
                meta = obj["metadata"]
                got, _ = self.delete(rt, meta.get("namespace", ""), meta["name"], options)
                out.append(got)
            return out

    # ------------------------------------------------------------ CRDs
    def apply_crd(self, crd: Obj) -> Obj:
        """Create a CRD, or replace the spec of an existing one (unconditionally)."""
        rt = self.types[CRD_KEY]
        name = (crd.get("metadata") or {}).get("name", "")
        with self.lock:
            existing = self.objects[CRD_KEY].get(("", name))
            if existing is None:
                return self.create(rt, "v1", "", crd)[0]
            body = copy.deepcopy(crd)
            body.setdefault("metadata", {})["resourceVersion"] = existing["metadata"][
                "resourceVersion"
            ]
            return self.update(rt, "v1", "", name, body)[0]

    # ------------------------------------------------------------ watches
    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: Predicate,
        fields: Predicate,
        resource_version: str | None,
    ) -> Watcher:
        """Register a watcher: from ``resource_version`` (replaying history; 410 when it is
        older than the window) or, without one, starting with ADDED for every current object."""
        with self.lock:
            w = Watcher(self.lock, rt, namespace, labels, fields)
            if resource_version in (None, "", "0"):
                items, _ = self.list_objects(rt, namespace, labels, fields)
                w.queue.extend(("ADDED", obj) for obj in items)
            else:
                try:
                    rv = int(str(resource_version))
                except ValueError as e:
                    raise errors.bad_request(f"invalid resource version: {resource_version}") from e
                if rv < self.compacted_rv:
                    raise errors.gone(f"too old resource version: {rv} ({self.compacted_rv})")
                for ev in self.history:
                    if ev.rv > rv:
                        w.offer(ev)
            self.watchers.add(w)
            return w

    def unwatch(self, w: Watcher) -> None:
        with self.lock:
            self.watchers.discard(w)

    def drop_watches(self, abrupt: bool = False, key: Key | None = None) -> int:
        with self.lock:
            dropped = [w for w in self.watchers if key is None or w.rt.key == key]
            for w in dropped:
                w.close(abrupt)
            return len(dropped)

    def close(self) -> None:
        self.drop_watches()
