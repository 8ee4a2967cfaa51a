"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an approximation of strategic merge.

Strategic merge patch here: maps merge like a merge patch; a list merges by key only when the
patch says so (``$setElementOrder/<field>`` names the key, ``$patch: delete`` elements remove),
otherwise it replaces. That covers what kubectl sends for Secrets, ConfigMaps and simple
Deployments without the Go types' patch metadata.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _unprocessable(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, dict):
            if part not in cur:
                raise _unprocessable(f"doc is missing path: {path!r}")
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError) as e:
                raise _unprocessable(f"doc is missing path: {path!r}") from e
        else:
            raise _unprocessable(f"doc is missing path: {path!r}")
    return cur


def _add(doc: Any, parts: list[str], value: Any, path: str, replace: bool = False) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _unprocessable(f"replace operation does not apply: doc is missing key: {path}")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
            return doc
        try:
            idx = int(last)
        except ValueError as e:
            raise _unprocessable(f"invalid array index {last!r} in {path!r}") from e
        if replace:
            if not 0 <= idx < len(parent):
                raise _unprocessable(
                    f"replace operation does not apply: doc is missing path: {path}"
                )
            parent[idx] = value
        else:
            if not 0 <= idx <= len(parent):
                raise _unprocessable(f"add operation does not apply: index out of range: {path}")
            parent.insert(idx, value)
    else:
        raise _unprocessable(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        raise _unprocessable("cannot remove the whole document")
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError) as e:
            raise _unprocessable(
                f"remove operation does not apply: doc is missing path: {path}"
            ) from e
    raise _unprocessable(f"remove operation does not apply: doc is missing path: {path}")


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _unprocessable(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        parts = _pointer(path)
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), path)
        elif kind == "replace":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), path, replace=True)
        elif kind == "remove":
            _remove(doc, parts, path)
        elif kind in ("move", "copy"):
            src = op.get("from", "")
            src_parts = _pointer(src)
            value = (
                _remove(doc, src_parts, src)
                if kind == "move"
                else copy.deepcopy(_walk(doc, src_parts, src))
            )
            doc = _add(doc, parts, value, path)
        elif kind == "test":
            if _walk(doc, parts, path) != op.get("value"):
                raise _unprocessable(f"testing value {path} failed")
        else:
            raise _unprocessable(f"unexpected kind of JSON patch operation: {kind!r}")
    return doc


# ------------------------------------------------------------------ strategic merge (approximate)
_DELETE = object()


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip(v)
            for k, v in value.items()
            if not (k.startswith(("$setElementOrder/", "$deleteFromPrimitiveList/")))
            and k not in ("$patch", "$retainKeys")
        }
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    result = _smp(target, patch)
    return {} if result is _DELETE else result


def _smp(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, patch.get(f"$setElementOrder/{key}"))
        elif isinstance(value, dict):
            merged = _smp(result.get(key), value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/") and isinstance(value, list):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in value]
        elif key.startswith("$setElementOrder/"):
            name = key.split("/", 1)[1]
            if name not in patch and isinstance(result.get(name), list):
                result[name] = _merge_list(result[name], [], value)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_key(items: list[Any], order: Any) -> str | None:
    if (
        isinstance(order, list)
        and order
        and all(isinstance(o, dict) and len(o) == 1 for o in order)
    ):
        return str(next(iter(order[0])))
    for item in items:
        if isinstance(item, dict) and "$patch" in item:
            keys = [k for k in item if not k.startswith("$")]
            if len(keys) == 1:
                return str(keys[0])
    return None


def _merge_list(current: Any, items: list[Any], order: Any) -> list[Any]:
    key = _merge_key(items, order)
    cur = list(current) if isinstance(current, list) else []
    if key is None:
        if isinstance(order, list) and order and not any(isinstance(o, dict) for o in order):
            merged = cur + [v for v in items if v not in cur]  # primitive set-like list
            rank = {repr(v): i for i, v in enumerate(order)}
            return sorted(merged, key=lambda v: rank.get(repr(v), len(rank)))
        return [_strip(v) for v in items]
    for item in items:
        if not isinstance(item, dict):
            continue
        idx = next(
            (i for i, c in enumerate(cur) if isinstance(c, dict) and c.get(key) == item.get(key)),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                cur.pop(idx)
            continue
        if idx is None:
            cur.append(_strip(item))
        else:
            cur[idx] = _smp(cur[idx], item)
    if isinstance(order, list):
        rank = {repr(o.get(key)): i for i, o in enumerate(order) if isinstance(o, dict)}
        cur.sort(key=lambda c: rank.get(repr(c.get(key)) if isinstance(c, dict) else "", len(rank)))
    return cur
