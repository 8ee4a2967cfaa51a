"""Pruning: dropping the fields a custom resource's schema does not declare.

Mirrors ``k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning/algorithm.go Prune``
(with ``ObjectMeta`` coerced as ``pkg/apiserver/schema/objectmeta/coerce.go`` does), and the
dropping of ``null`` for non-nullable fields before defaulting
(``pkg/apiserver/schema/defaulting/prunenulls.go PruneNonNullableNullsWithoutDefaults``).
The emulator prunes every write; ``bmo validate`` reports the paths pruning would drop as
unknown fields, as ``fieldValidation=Strict`` does.
"""

from __future__ import annotations

import copy
from typing import Any

from bmo.api.schema.field import child_path
from bmo.api.schema.validation import Schema

__all__ = ["OBJECT_META_FIELDS", "prune", "unknown_fields"]

# ObjectMeta fields a custom resource keeps; anything else under metadata is dropped.
OBJECT_META_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
}  # fmt: skip


def prune(obj: dict[str, Any], schema: Schema) -> list[str]:
    """Drop fields the schema does not declare (in place); returns their paths.

    Also drops ``null`` for fields that are not ``nullable`` (so a default can apply), as the
    apiserver does before defaulting.
    """
    unknown: list[str] = []
    for key in list(obj):
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            meta = obj["metadata"]
            if isinstance(meta, dict):
                for mk in list(meta):
                    if mk not in OBJECT_META_FIELDS:
                        del meta[mk]
                        unknown.append(f"metadata.{mk}")
            continue
        props = schema.get("properties") or {}
        if key in props:
            if obj[key] is None and not props[key].get("nullable"):
                del obj[key]
            else:
                obj[key] = _prune_value(obj[key], props[key], key, unknown)
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            del obj[key]
            unknown.append(key)
    return unknown


def _prune_value(value: Any, s: Schema, path: str, unknown: list[str]) -> Any:
    if isinstance(value, dict):
        if s.get("x-kubernetes-embedded-resource"):
            keep = {"apiVersion", "kind", "metadata"}
        else:
            keep = set()
        props = s.get("properties")
        addl = s.get("additionalProperties")
        preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        for key in list(value):
            child = child_path(path, key)
            if props is not None and key in props:
                if value[key] is None and not props[key].get("nullable"):
                    del value[key]
                else:
                    value[key] = _prune_value(value[key], props[key], child, unknown)
            elif isinstance(addl, dict):
                if value[key] is None and not addl.get("nullable"):
                    del value[key]
                else:
                    value[key] = _prune_value(value[key], addl, child, unknown)
            elif addl is True or preserve or key in keep:
                continue
            elif props is None and s.get("type") != "object":
                continue  # int-or-string / untyped nodes: nothing to prune against
            else:
                del value[key]
                unknown.append(child)
    elif isinstance(value, list) and isinstance(s.get("items"), dict):
        items = s["items"]
        for i, item in enumerate(value):
            value[i] = _prune_value(item, items, f"{path}[{i}]", unknown)
    return value


def unknown_fields(obj: dict[str, Any], schema: Schema) -> list[str]:
    """The paths ``prune`` would drop from ``obj``, leaving ``obj`` untouched."""
    return prune(copy.deepcopy(obj), schema)
