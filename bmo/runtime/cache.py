"""The informer's local cache: deep-frozen object snapshots keyed ``namespace/name``, with
secondary indexes.

Objects are shared between the informer thread, event handlers and every reconcile worker,
so they are stored read-only (``MappingProxyType`` all the way down, lists as tuples): a
handler that tries to mutate one gets a ``TypeError`` instead of silently corrupting what
every other reader sees. Code that needs to change an object calls :func:`thaw` for a
private, mutable deep copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

KubeObject = Mapping[str, Any]
"""A Kubernetes object as its JSON dict, frozen when it comes from the cache."""

IndexFunc = Callable[[KubeObject], Iterable[str]]
"""Maps an object to the index values it should be found under (possibly none)."""

NAMESPACE_INDEX = "namespace"


def freeze(value: Any) -> Any:
    """Deep read-only copy of a JSON value: dicts become ``MappingProxyType``, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def freeze_decoded(value: Any) -> Any:
    """:func:`freeze` for a value ``json.loads`` just returned and nobody else holds: its
    dicts are wrapped in place instead of copied (a list still becomes a new tuple).

    The informer decodes every watch event and list item and caches it; copying each dict
    again to freeze it cost twice the decoding. JSON objects only ever hold ``str`` keys,
    ``dict``, ``list`` and scalars, so exact type checks stand in for :func:`freeze`'s
    ``Mapping`` test (an ABC check, slow on every scalar). The caller must drop its own
    references to the mutable dicts: they are the frozen object's storage now.
    """
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            item_kind = type(item)
            if item_kind is dict or item_kind is list:
                value[key] = freeze_decoded(item)
        return MappingProxyType(value)
    if kind is list:
        return tuple(
            [freeze_decoded(item) if type(item) in _CONTAINERS else item for item in value]
        )
    return value


_CONTAINERS = (dict, list)


def thaw(value: Any) -> Any:
    """Deep mutable copy of a (frozen) JSON value, e.g. to build an update body."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def object_key(obj: KubeObject) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones (the
    key client-go's ``MetaNamespaceKeyFunc`` produces)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """``(namespace, name)`` from a key; namespace is ``""`` for cluster-scoped objects."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else ("", namespace)


def resource_version(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def index_by_namespace(obj: KubeObject) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [str(namespace)] if namespace else []


class Store:
    """Thread-safe map of key → frozen object, with named indexes kept in step.

    Every mutation happens under one lock, so a reader never sees an object without its
    index entries or vice versa.
    """

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, KubeObject] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace}
        self._indexers.update(indexers or {})
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes after creation (e.g. by a controller wiring up); existing items are
        indexed immediately."""
        with self._lock:
            for name, func in indexers.items():
                if name in self._indexers:
                    raise ValueError(f"index {name!r} already exists")
                self._indexers[name] = func
                self._indices[name] = {}
                for key, obj in self._items.items():
                    self._index_one(name, key, obj)

    def has_index(self, name: str) -> bool:
        with self._lock:
            return name in self._indexers

    def upsert(self, obj: KubeObject) -> tuple[KubeObject | None, KubeObject]:
        """Store a frozen copy of ``obj``; returns ``(previous, stored)``."""
        frozen: KubeObject = obj if isinstance(obj, MappingProxyType) else freeze(obj)
        key = object_key(frozen)
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._unindex(key, old)
            self._items[key] = frozen
            for name in self._indexers:
                self._index_one(name, key, frozen)
        return old, frozen

    def delete(self, key: str) -> KubeObject | None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._unindex(key, old)
        return old

    def get(self, key: str) -> KubeObject | None:
        with self._lock:
            return self._items.get(key)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def objects(self) -> list[KubeObject]:
        with self._lock:
            return list(self._items.values())

    def by_index(self, index: str, value: str) -> list[KubeObject]:
        with self._lock:
            if index not in self._indices:
                raise KeyError(f"no index named {index!r}")
            keys = self._indices[index].get(value, set())
            return [self._items[k] for k in sorted(keys)]

    def index_keys(self, index: str, value: str) -> list[str]:
        with self._lock:
            if index not in self._indices:
                raise KeyError(f"no index named {index!r}")
            return sorted(self._indices[index].get(value, set()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _index_one(self, name: str, key: str, obj: KubeObject) -> None:
        for value in self._indexers[name](obj):
            self._indices[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: KubeObject) -> None:
        for name, func in self._indexers.items():
            bucket = self._indices[name]
            for value in func(obj):
                keys = bucket.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del bucket[value]
