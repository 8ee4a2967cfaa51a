"""Go ``encoding/json``-shaped (de)serialisation for the API dataclasses.

The Go operator's objects are what users, other controllers and our own status annotation
round-trip through, so the shape must match what Go emits, not what is "clean":

* value (non-pointer) structs are always emitted, even with ``omitempty``;
* ``omitempty`` drops ``""``, ``0``, ``false``, empty lists/maps and nil pointers only;
* a nil slice without ``omitempty`` is ``null``, an empty one ``[]``;
* a zero value ``metav1.Time`` is ``null``; times are RFC 3339, UTC, whole seconds.

Each dataclass field carries its JSON name and tag in ``dataclasses.field`` metadata (see
:func:`jfield`); the Python type says whether it is a pointer (``X | None``), a slice
(``tuple[X, ...]``, or ``tuple[X, ...] | None`` when nil and empty differ), a map
(``Mapping[str, str]``), a time (``datetime``), free JSON (``Any``) or a nested struct.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, Union

from bmo.api.errors import DecodeError

T = TypeVar("T")

_JSON = "json"
_OMITEMPTY = "omitempty"
_EXTRA = "extra"


def jfield(
    name: str,
    *,
    omitempty: bool = True,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field serialised as ``name`` (Go tag ``json:"name[,omitempty]"``)."""
    metadata = {_JSON: name, _OMITEMPTY: omitempty}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def extra_field() -> Any:
    """A catch-all for keys the type does not model, re-emitted verbatim (ObjectMeta)."""
    return dataclasses.field(default_factory=dict, metadata={_EXTRA: True})


# --- type descriptions -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Kind:
    """What a field's Python type means on the wire."""

    tag: str  # "str" "int" "bool" "float" "time" "any" "map" "struct" "seq" "opt"
    inner: Kind | None = None
    cls: type | None = None


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    attr: str
    json: str
    omitempty: bool
    kind: Kind
    extra: bool = False


_PRIMS: dict[Any, str] = {str: "str", int: "int", bool: "bool", float: "float"}


def _kind_of(tp: Any) -> Kind:
    if tp in _PRIMS:
        return Kind(_PRIMS[tp])
    if tp is datetime:
        return Kind("time")
    if tp is Any:
        return Kind("any")
    origin = typing.get_origin(tp)
    args: tuple[Any, ...] = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        if len(present) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        return Kind("opt", inner=_kind_of(present[0]))
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"only tuple[X, ...] is supported, not {tp!r}")
        return Kind("seq", inner=_kind_of(args[0]))
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        return Kind("map", inner=_kind_of(args[1]) if args else Kind("any"))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return Kind("struct", cls=tp)
    raise TypeError(f"unsupported field type {tp!r}")


def fields_of(cls: type) -> tuple[FieldInfo, ...]:
    """The serialised fields of an API dataclass, in Go declaration order."""
    return _fields_of(cls)


@cache
def _fields_of(cls: Any) -> tuple[FieldInfo, ...]:
    hints = typing.get_type_hints(cls)
    out: list[FieldInfo] = []
    for f in dataclasses.fields(cls):
        if f.metadata.get(_EXTRA):
            out.append(FieldInfo(f.name, "", False, Kind("any"), extra=True))
            continue
        if _JSON not in f.metadata:
            continue
        kind = _kind_of(hints[f.name])
        out.append(FieldInfo(f.name, f.metadata[_JSON], f.metadata[_OMITEMPTY], kind))
    return tuple(out)


# --- times ---------------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """``metav1.Time`` wire form: UTC, whole seconds, ``Z`` suffix."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, path: str = "") -> datetime:
    """Parse RFC 3339 the way ``metav1.Time`` does, keeping whole seconds (what Go re-emits)."""
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise DecodeError(path, f"invalid RFC 3339 time {text!r}") from None
    if parsed.tzinfo is None or "T" not in text.upper():
        raise DecodeError(path, f"invalid RFC 3339 time {text!r}")
    return parsed.astimezone(UTC).replace(microsecond=0)


# --- encoding ------------------------------------------------------------------------------


def _is_empty(kind: Kind, value: Any) -> bool:
    if value is None:
        return True
    if kind.tag in ("str", "int", "bool", "float"):
        return not value
    if kind.tag in ("seq", "map"):
        return len(value) == 0
    # Value structs and non-nil pointers are never "empty" to encoding/json.
    return False


def _encode(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    tag = kind.tag
    if tag == "struct":
        return to_json(value)
    if tag == "opt":
        assert kind.inner is not None
        return _encode(kind.inner, value)
    if tag == "seq":
        assert kind.inner is not None
        return [_encode(kind.inner, v) for v in value]
    if tag == "map":
        assert kind.inner is not None
        return {k: _encode(kind.inner, v) for k, v in value.items()}
    if tag == "time":
        return format_time(value)
    if tag == "float":
        # Go prints integral floats without a fraction (2400 not 2400.0).
        return int(value) if float(value).is_integer() and abs(value) < 1e21 else value
    if tag == "any":
        return _copy_json(value)
    return value


def to_json(obj: Any) -> dict[str, Any]:
    """Encode an API dataclass to the dict Go's ``encoding/json`` would produce."""
    out: dict[str, Any] = {}
    for info in fields_of(type(obj)):
        value = getattr(obj, info.attr)
        if info.extra:
            for key, extra_value in value.items():
                out.setdefault(key, _copy_json(extra_value))
            continue
        if info.omitempty and _is_empty(info.kind, value):
            continue
        out[info.json] = _encode(info.kind, value)
    return out


def keep_unknown(cls: type, stored: Any, encoded: dict[str, Any]) -> dict[str, Any]:
    """``encoded`` (``to_json`` of a ``cls``) plus the keys of ``stored`` that ``cls`` does
    not model, in nested structs too.

    A newer operator may have written fields this version does not know; writing the whole
    object back must not drop them (the API server keeps them when the installed CRD names
    them). Keys ``cls`` models are never carried: an omitted one was cleared on purpose.
    """
    if not isinstance(stored, Mapping):
        return encoded
    infos = fields_of(cls)
    if any(info.extra for info in infos):
        return encoded  # the type keeps its unknown keys itself
    known = {info.json: info for info in infos}
    out = dict(encoded)
    for key, value in stored.items():
        info = known.get(key)
        if info is None:
            out.setdefault(key, _copy_json(value))
            continue
        kind = info.kind.inner if info.kind.tag == "opt" else info.kind
        current = out.get(key)
        if (
            kind is not None
            and kind.tag == "struct"
            and kind.cls is not None
            and isinstance(current, dict)
        ):
            out[key] = keep_unknown(kind.cls, value, current)
    return out


def _copy_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy_json(v) for v in value]
    return value


# --- decoding ------------------------------------------------------------------------------


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _decode(kind: Kind, value: Any, path: str) -> Any:
    tag = kind.tag
    if tag == "opt":
        assert kind.inner is not None
        return None if value is None else _decode(kind.inner, value, path)
    if tag == "str":
        if not isinstance(value, str):
            raise DecodeError(path, f"expected a string, got {_type_name(value)}")
        return value
    if tag == "bool":
        if not isinstance(value, bool):
            raise DecodeError(path, f"expected a boolean, got {_type_name(value)}")
        return value
    if tag == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(path, f"expected an integer, got {_type_name(value)}")
        return value
    if tag == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(path, f"expected a number, got {_type_name(value)}")
        return float(value)
    if tag == "time":
        if not isinstance(value, str):
            raise DecodeError(path, f"expected an RFC 3339 time string, got {_type_name(value)}")
        return parse_time(value, path)
    if tag == "any":
        return _copy_json(value)
    if tag == "seq":
        assert kind.inner is not None
        if not isinstance(value, list | tuple):
            raise DecodeError(path, f"expected a list, got {_type_name(value)}")
        return tuple(_decode(kind.inner, v, f"{path}[{i}]") for i, v in enumerate(value))
    if tag == "map":
        assert kind.inner is not None
        if not isinstance(value, Mapping):
            raise DecodeError(path, f"expected a map, got {_type_name(value)}")
        return {str(k): _decode(kind.inner, v, f"{path}[{k}]") for k, v in value.items()}
    if tag == "struct":
        assert kind.cls is not None
        return from_json(kind.cls, value, path)
    raise AssertionError(tag)


def from_json(cls: type[T], data: Any, path: str = "") -> T:
    """Decode ``data`` into ``cls``; unknown keys are ignored (the CRD prunes them anyway).

    A ``null`` or missing key leaves the field at its zero value, as Go does.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise DecodeError(path, f"expected an object, got {_type_name(data)}")
    kwargs: dict[str, Any] = {}
    known: set[str] = set()
    extra_attr = None
    for info in fields_of(cls):
        if info.extra:
            extra_attr = info.attr
            continue
        known.add(info.json)
        if info.json not in data:
            continue
        value = data[info.json]
        if value is None:
            if info.kind.tag == "opt":
                kwargs[info.attr] = None
            continue
        kwargs[info.attr] = _decode(info.kind, value, _join(path, info.json))
    if extra_attr is not None:
        kwargs[extra_attr] = {k: _copy_json(v) for k, v in data.items() if k not in known}
    return cls(**kwargs)
