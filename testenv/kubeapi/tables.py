"""Server-side ``meta.k8s.io/v1 Table`` output, as ``kubectl get`` asks for it."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from .resources import ResourceType

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)

_TOKEN = re.compile(r"\.([A-Za-z0-9_\-$/]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def json_path(obj: Any, path: str) -> Any:
    """The simple JSONPath subset printer columns use: ``.a.b``, ``.a[0]``, ``.a['k/x']``."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if not path.startswith("."):
        path = "." + path
    cur = obj
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            return None
        pos = m.end()
        if m.group(2) is not None:
            idx = int(m.group(2))
            cur = cur[idx] if isinstance(cur, list) and idx < len(cur) else None
        else:
            key = next(g for g in (m.group(1), m.group(3), m.group(4)) if g is not None)
            cur = cur.get(key) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


def parse_time(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


def _age(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    when = parse_time(value)
    if when is None:
        return "<invalid>"
    now = datetime.datetime.now(datetime.UTC)
    return human_duration((now - when).total_seconds())


def cell(column_type: str, value: Any) -> Any:
    """apiextensions-apiserver's cellForJSONValue (string columns print any value)."""
    if value is None:
        return None
    if column_type == "integer":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
        return None
    if column_type == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "date":
        return _age(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _columns(rt: ResourceType, version: str) -> list[tuple[dict[str, Any], str]]:
    """Column definitions with the JSONPath (or builtin computation) that fills each."""
    name_col = {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": NAME_DESCRIPTION,
        "priority": 0,
    }
    cols: list[tuple[dict[str, Any], str]] = [(name_col, ".metadata.name")]
    age = {
        "name": "Age",
        "type": "date",
        "format": "",
        "description": AGE_DESCRIPTION,
        "priority": 0,
    }
    if rt.is_custom:
        printer = rt.printer_columns.get(version) or []
        if not printer:  # like the apiserver: Age only when the CRD declares no columns
            cols.append((age, ".metadata.creationTimestamp"))
        for pc in printer:
            cols.append(
                (
                    {
                        "name": pc["name"],
                        "type": pc.get("type", "string"),
                        "format": pc.get("format", ""),
                        "description": pc.get("description", ""),
                        "priority": int(pc.get("priority", 0)),
                    },
                    pc.get("jsonPath", ""),
                )
            )
        return cols
    for name, typ, path in rt.builtin_columns:
        cols.append(
            ({"name": name, "type": typ, "format": "", "description": "", "priority": 0}, path)
        )
    cols.append((age, ".metadata.creationTimestamp"))
    return cols


def _builtin_value(obj: dict[str, Any], path: str) -> Any:
    if path == "#data":
        return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    if path == "#involved":
        inv = obj.get("involvedObject") or {}
        return f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}"
    return json_path(obj, path)


def _row_object(obj: dict[str, Any], include: str) -> Any:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def to_table(
    rt: ResourceType,
    version: str,
    objects: list[dict[str, Any]],
    resource_version: str,
    *,
    include_object: str = "Metadata",
    with_columns: bool = True,
    extra_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cols = _columns(rt, version)
    rows = []
    for obj in objects:
        cells = [cell(col["type"], _builtin_value(obj, path)) for col, path in cols]
        rows.append({"cells": cells, "object": _row_object(obj, include_object)})
    meta: dict[str, Any] = {"resourceVersion": resource_version}
    meta.update(extra_metadata or {})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [col for col, _ in cols] if with_columns else [],
        "rows": rows,
    }
