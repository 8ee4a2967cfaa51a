"""The object store: one lock, one global resourceVersion, a bounded event history, and
per-watcher queues with condition variables. Stored objects are never mutated after a commit
(every write builds a new dict), so readers may serialize them outside the lock.
"""

from __future__ import annotations

import base64
import copy
import datetime
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import ApiError, FieldError, quote
from .resources import ResourceType, builtin_types, crd_to_type
from .schema import apply_defaults, check_structural, prune, validate
from .selectors import Predicate, always

Obj = dict[str, Any]
Key = tuple[str, str]  # (group, plural)

CRD_KEY: Key = ("apiextensions.k8s.io", "customresourcedefinitions")
NS_KEY: Key = ("", "namespaces")
SECRET_KEY: Key = ("", "secrets")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
SERVER_META = (
    "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "generation", "selfLink",
)  # fmt: skip

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QNAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    rv: int
    key: Key
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    old: Obj | None


class Watcher:
    """One open watch: events matching its filters are queued and its condition notified."""

    def __init__(
        self,
        lock: threading.RLock,
        rt: ResourceType,
        namespace: str | None,
        labels: Predicate,
        fields: Predicate,
    ) -> None:
        self.cond = threading.Condition(lock)
        self.rt = rt
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: deque[tuple[str, Obj]] = deque()
        self.closed = False
        self.abrupt = False

    def matches(self, obj: Obj) -> bool:
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.labels(obj) and self.fields(obj)

    def offer(self, ev: Event) -> None:
        """Called with the store lock held."""
        if ev.key != self.rt.key:
            return
        now = self.matches(ev.obj)
        if ev.type == "MODIFIED" and ev.old is not None:
            before = self.matches(ev.old)
            etype = {
                (True, True): "MODIFIED",
                (False, True): "ADDED",
                (True, False): "DELETED",
            }.get((before, now))
        else:
            etype = ev.type if now else None
        if etype:
            self.queue.append((etype, ev.obj))
            self.cond.notify_all()

    def close(self, abrupt: bool = False) -> None:
        """Called with the store lock held."""
        self.closed = True
        self.abrupt = abrupt
        self.cond.notify_all()


def _field_errors_name(rt: ResourceType, name: str) -> list[FieldError]:
    if rt.name_rule == "path":
        bad = [s for s in ("/", "%") if s in name] or (["."] if name in (".", "..") else [])
        if bad:
            return [
                FieldError(
                    "metadata.name",
                    "FieldValueInvalid",
                    f"Invalid value: {quote(name)}: may not contain '{bad[0]}'",
                )
            ]
        return []
    if rt.name_rule == "label":
        if len(name) > 63 or not _LABEL.match(name):
            return [
                FieldError(
                    "metadata.name",
                    "FieldValueInvalid",
                    f"Invalid value: {quote(name)}: a lowercase RFC 1123 label must consist of "
                    "lower case alphanumeric characters or '-', and must start and end with an "
                    "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                )
            ]
        return []
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        return [
            FieldError(
                "metadata.name",
                "FieldValueInvalid",
                f"Invalid value: {quote(name)}: a lowercase RFC 1123 subdomain must consist of "
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'example.com', regex used for validation is "
                r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            )
        ]
    return []


def _qualified_name_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QNAME.match(name))


def _meta_errors(rt: ResourceType, meta: Obj) -> list[FieldError]:
    errs = _field_errors_name(rt, str(meta.get("name", "")))
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errs.append(
                FieldError(
                    f"metadata.{field}",
                    "FieldValueTypeInvalid",
                    "Invalid value: must be a map of strings",
                )
            )
            continue
        for k, v in value.items():
            if not _qualified_name_ok(k):
                errs.append(
                    FieldError(
                        f"metadata.{field}",
                        "FieldValueInvalid",
                        f"Invalid value: {quote(k)}: name part must consist of alphanumeric "
                        "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                        "character, with an optional DNS subdomain prefix and '/'",
                    )
                )
            if field == "labels" and (len(v) > 63 or not _LABEL_VALUE.match(v)):
                errs.append(
                    FieldError(
                        "metadata.labels",
                        "FieldValueInvalid",
                        f"Invalid value: {quote(v)}: a valid label must be an empty string or "
                        "consist of alphanumeric characters, '-', '_' or '.', and must start and "
                        "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                        "'12345', regex used for validation is "
                        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                    )
                )
    for field in ("finalizers", "ownerReferences"):
        if field in meta and meta[field] is not None and not isinstance(meta[field], list):
            errs.append(
                FieldError(
                    f"metadata.{field}", "FieldValueTypeInvalid", "Invalid value: must be a list"
                )
            )
    return errs


def _crd_errors(crd: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [FieldError("spec", "FieldValueRequired", "Required value")]
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    plural, kind = names.get("plural") or "", names.get("kind") or ""
    if not group:
        errs.append(FieldError("spec.group", "FieldValueRequired", "Required value"))
    elif "." not in group:
        errs.append(
            FieldError(
                "spec.group",
                "FieldValueInvalid",
                f"Invalid value: {quote(group)}: should be a domain with at least one dot",
            )
        )
    if not plural:
        errs.append(FieldError("spec.names.plural", "FieldValueRequired", "Required value"))
    elif not _LABEL.match(plural):
        errs.append(
            FieldError(
                "spec.names.plural",
                "FieldValueInvalid",
                f"Invalid value: {quote(plural)}: a lowercase RFC 1123 label is required",
            )
        )
    if not kind:
        errs.append(FieldError("spec.names.kind", "FieldValueRequired", "Required value"))
    name = crd.get("metadata", {}).get("name")
    if plural and group and name != f"{plural}.{group}":
        errs.append(
            FieldError(
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: {quote(name)}: must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errs.append(
            FieldError(
                "spec.scope",
                "FieldValueNotSupported",
                f"Unsupported value: {quote(spec.get('scope'))}: "
                'supported values: "Cluster", "Namespaced"',
            )
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        errs.append(
            FieldError(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
        return errs
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        errs.append(
            FieldError(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    for i, v in enumerate(versions):
        base = f"spec.versions[{i}]"
        if not isinstance(v, dict) or not v.get("name"):
            errs.append(FieldError(f"{base}.name", "FieldValueRequired", "Required value"))
            continue
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            errs.append(
                FieldError(
                    f"{base}.schema.openAPIV3Schema",
                    "FieldValueRequired",
                    "Required value: schemas are required",
                )
            )
        else:
            errs.extend(check_structural(schema, f"{base}.schema.openAPIV3Schema"))
        for j, col in enumerate(v.get("additionalPrinterColumns") or []):
            cpath = f"{base}.additionalPrinterColumns[{j}]"
            if not col.get("name"):
                errs.append(FieldError(f"{cpath}.name", "FieldValueRequired", "Required value"))
            if col.get("type") not in ("integer", "number", "string", "boolean", "date"):
                errs.append(
                    FieldError(
                        f"{cpath}.type",
                        "FieldValueNotSupported",
                        f"Unsupported value: {quote(col.get('type'))}: supported values: "
                        '"boolean", "date", "integer", "number", "string"',
                    )
                )
            if not col.get("jsonPath"):
                errs.append(FieldError(f"{cpath}.jsonPath", "FieldValueRequired", "Required value"))
    return errs


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

    # ------------------------------------------------------------ admission
    def _decode(self, rt: ResourceType, version: str, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        api_version = obj.get("apiVersion")
        if api_version and api_version not in [rt.api_version(v) for v in rt.versions]:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version(version)})"
            )
        if obj.get("kind") and obj["kind"] != rt.kind:
            raise errors.bad_request(
                f"the kind in the data ({obj['kind']}) does not match the expected kind ({rt.kind})"
            )
        obj["apiVersion"] = rt.api_version(rt.storage_version)
        obj["kind"] = rt.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        return obj

    def _admit(self, rt: ResourceType, version: str, obj: Obj, field_validation: str) -> list[str]:
        """Type-specific mutation and validation; returns warnings (unknown fields)."""
        warnings: list[str] = []
        errs = _meta_errors(rt, obj["metadata"])
        if rt.is_custom:
            schema = rt.schemas.get(version)
            if schema:
                unknown = prune(obj, schema)
                if unknown and field_validation == "Strict":
                    raise errors.bad_request(
                        "strict decoding error: "
                        + ", ".join(f'unknown field "{p}"' for p in unknown)
                    )
                if unknown and field_validation == "Warn":
                    warnings += [f'unknown field "{p}"' for p in unknown]
                apply_defaults(obj, schema)
                errs += validate(obj, schema)
        elif rt.key == SECRET_KEY:
            string_data = obj.pop("stringData", None)
            if string_data:
                data = dict(obj.get("data") or {})
                for k, v in string_data.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
                obj["data"] = data
            if not obj.get("type"):
                obj["type"] = "Opaque"
            for k, v in (obj.get("data") or {}).items():
                try:
                    base64.b64decode(str(v), validate=True)
                except ValueError:
                    errs.append(
                        FieldError(
                            f"data[{k}]",
                            "FieldValueInvalid",
                            "Invalid value: <secret contents redacted>: illegal base64 data",
                        )
                    )
        elif rt.key == NS_KEY:
            status = dict(obj.get("status") or {})
            status["phase"] = (
                "Terminating" if obj["metadata"].get("deletionTimestamp") else "Active"
            )
            obj["status"] = status
        elif rt.key == CRD_KEY:
            errs += _crd_errors(obj)
            if not errs:
                self._crd_defaults(obj)
        if errs:
            raise errors.invalid(
                rt.qualified_kind, str(obj["metadata"].get("name", "")), errs, rt.group, rt.kind
            )
        return warnings

    def _crd_defaults(self, crd: Obj) -> None:
        spec = crd["spec"]
        names = spec["names"]
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
        spec.setdefault("conversion", {"strategy": "None"})
        for v in spec["versions"]:
            v.setdefault("served", True)
        group, plural = spec["group"], names["plural"]
        existing = self.types.get((group, plural))
        if existing is not None and not existing.is_custom:
            raise errors.invalid(
                "CustomResourceDefinition.apiextensions.k8s.io",
                crd["metadata"]["name"],
                [
                    FieldError(
                        "spec.names.plural",
                        "FieldValueInvalid",
                        f"Invalid value: {quote(plural)}: is served by a built-in type",
                    )
                ],
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
            )
        storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
        old_status = crd.get("status") or {}
        stored = list(old_status.get("storedVersions") or [])
        if storage not in stored:
            stored.append(storage)
        now = now_rfc3339()
        crd["status"] = {
            "acceptedNames": dict(names),
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
            "storedVersions": stored,
        }  # fmt: skip

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
        obj = self._decode(rt, version, body)
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
            warnings = self._admit(rt, version, obj, field_validation)
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
        new = self._decode(rt, version, body)
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
            new = self._decode(rt, version, patched)
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
        warnings = self._admit(rt, version, new, field_validation)
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

    # ------------------------------------------------------------ helpers for tests
    def all_objects(self) -> Iterable[tuple[ResourceType, Obj]]:
        with self.lock:
            return [(self.types[k], o) for k, objs in self.objects.items() for o in objs.values()]
