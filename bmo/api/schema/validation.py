"""Validation of custom resources against their ``openAPIV3Schema``, with the apiserver's messages.

One validator for both users: the Kubernetes API emulator (``testenv.kubeapi``) validates every
write with ``validate``, and ``bmo validate`` checks manifests offline with ``validate_value``
(through ``bmo.api.schema.manifest``). The checks and wording mirror
``k8s.io/apiextensions-apiserver/pkg/apiserver/validation/validation.go
ValidateCustomResource`` over ``k8s.io/kube-openapi/pkg/validation/validate`` (``type.go``,
``validator.go``, ``slice_validator.go``, ``object_validator.go``, ``schema_props.go``) and the
list-type checks of ``k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype/validation.go
ValidateListSetsAndMaps``.

Patterns use Python's ``re.search`` (unanchored, like Go's RE2 ``MatchString``); CEL rules
(``x-kubernetes-validations``) are accepted and not evaluated.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from typing import Any

from bmo.api.schema.field import FieldError, child_path, quote

__all__ = ["Schema", "compile_pattern", "is_date_time", "validate", "validate_value"]

Schema = dict[str, Any]

_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME_OF_DAY = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))")


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A schema ``pattern`` compiled once; CRDs repeat the same few patterns on every write."""
    return re.compile(pattern)


def _is_date(text: str) -> bool:
    """``k8s.io/kube-openapi/pkg/validation/strfmt/date.go IsDate``: a valid ``YYYY-MM-DD``."""
    if _FULL_DATE.fullmatch(text) is None:
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_date_time(text: str) -> bool:
    """``k8s.io/kube-openapi/pkg/validation/strfmt/time.go IsDateTime``, quirks included.

    A full date, a ``T`` (either case) and ``HH:MM:SS[.frac]`` with ``Z`` or a ``±hh:mm``
    offset; only the text between the first and second ``T`` is checked as the time.
    """
    if len(text) < 4:
        return False
    parts = text.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _TIME_OF_DAY.fullmatch(parts[1])
    if match is None:
        return False
    return match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(value: Any, typ: str) -> bool:
    actual = _type_name(value)
    if typ == "number":
        return actual in ("number", "integer")
    if typ == "integer" and isinstance(value, float):
        return value.is_integer()
    return actual == typ


def validate(obj: dict[str, Any], schema: Schema) -> list[FieldError]:
    """Validate a whole custom resource, as the emulator does on every write.

    ``apiVersion``, ``kind`` and ``metadata`` are skipped: the emulator checks those itself,
    as the apiserver does before schema validation.
    """
    errs: list[FieldError] = []
    props = schema.get("properties") or {}
    for key in schema.get("required") or []:
        if key not in obj and key not in ("apiVersion", "kind", "metadata"):
            errs.append(FieldError(key, "FieldValueRequired", "Required value"))
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key in props:
            _validate(value, props[key], key, errs)
    return errs


def validate_value(value: Any, schema: Schema, path: str) -> list[FieldError]:
    """Validate ``value`` against one schema node; ``path`` is its field path ("" at the root).

    ``bmo validate`` checks a whole manifest this way (root included), and tests check a
    schema's own ``default`` values against their node.
    """
    errs: list[FieldError] = []
    _validate(value, schema, path, errs)
    return errs


def _invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", f"Invalid value: {quote(value)}: {detail}")


def _validate(value: Any, s: Any, path: str, errs: list[FieldError]) -> None:
    if not isinstance(s, dict):
        return
    if value is None:
        if s.get("nullable") or (
            not s.get("type") and s.get("x-kubernetes-preserve-unknown-fields")
        ):
            return
        typ = s.get("type") or "object"
        errs.append(
            FieldError(
                path,
                "FieldValueTypeInvalid",
                f'Invalid value: "null": {path} in body must be of type {typ}: "null"',
            )
        )
        return
    typ = s.get("type")
    if s.get("x-kubernetes-int-or-string"):
        if _type_name(value) not in ("integer", "string"):
            errs.append(
                FieldError(
                    path,
                    "FieldValueTypeInvalid",
                    f'Invalid value: "{_type_name(value)}": {path} in body must be of type '
                    f'integer,string: "{_type_name(value)}"',
                )
            )
            return
    elif typ and not _type_ok(value, typ):
        actual = _type_name(value)
        errs.append(
            FieldError(
                path,
                "FieldValueTypeInvalid",
                f'Invalid value: "{actual}": {path} in body must be of type {typ}: "{actual}"',
            )
        )
        return
    if "enum" in s and isinstance(s["enum"], list) and value not in s["enum"]:
        allowed = ", ".join(
            quote(v)
            if isinstance(v, str)
            else quote(str(v).lower() if isinstance(v, bool) else str(v))
            for v in s["enum"]
        )
        errs.append(
            FieldError(
                path,
                "FieldValueNotSupported",
                f"Unsupported value: {quote(value)}: supported values: {allowed}",
            )
        )
    if isinstance(value, str):
        _validate_string(value, s, path, errs)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _validate_number(value, s, path, errs)
    elif isinstance(value, list):
        _validate_list(value, s, path, errs)
    elif isinstance(value, dict):
        _validate_object(value, s, path, errs)
    _validate_junctions(value, s, path, errs)


def _validate_string(value: str, s: Schema, path: str, errs: list[FieldError]) -> None:
    if "maxLength" in s and len(value) > int(s["maxLength"]):
        errs.append(
            FieldError(
                path, "FieldValueTooLong", f"Too long: may not be longer than {s['maxLength']}"
            )
        )
    if "minLength" in s and len(value) < int(s["minLength"]):
        errs.append(
            _invalid(path, value, f"{path} in body should be at least {s['minLength']} chars long")
        )
    if "pattern" in s and not compile_pattern(str(s["pattern"])).search(value):
        errs.append(_invalid(path, value, f"{path} in body should match '{s['pattern']}'"))
    if s.get("format") == "date-time" and not is_date_time(value):
        errs.append(
            _invalid(path, value, f"{path} in body must be of type date-time: {quote(value)}")
        )


def _validate_number(value: float, s: Schema, path: str, errs: list[FieldError]) -> None:
    if "minimum" in s:
        lo = s["minimum"]
        if s.get("exclusiveMinimum") and value <= lo:
            errs.append(_invalid(path, value, f"{path} in body should be greater than {lo}"))
        elif value < lo:
            errs.append(
                _invalid(path, value, f"{path} in body should be greater than or equal to {lo}")
            )
    if "maximum" in s:
        hi = s["maximum"]
        if s.get("exclusiveMaximum") and value >= hi:
            errs.append(_invalid(path, value, f"{path} in body should be less than {hi}"))
        elif value > hi:
            errs.append(
                _invalid(path, value, f"{path} in body should be less than or equal to {hi}")
            )
    if s.get("multipleOf"):
        q = value / s["multipleOf"]
        if abs(q - round(q)) > 1e-9:
            errs.append(
                _invalid(path, value, f"{path} in body should be a multiple of {s['multipleOf']}")
            )


def _validate_list(value: list[Any], s: Schema, path: str, errs: list[FieldError]) -> None:
    if "maxItems" in s and len(value) > int(s["maxItems"]):
        errs.append(
            FieldError(
                path,
                "FieldValueTooMany",
                f"Too many: {len(value)}: must have at most {s['maxItems']} items",
            )
        )
    if "minItems" in s and len(value) < int(s["minItems"]):
        errs.append(
            _invalid(path, len(value), f"{path} in body should have at least {s['minItems']} items")
        )
    items = s.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _validate(item, items, f"{path}[{i}]", errs)
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                errs.append(
                    FieldError(
                        f"{path}[{i}]", "FieldValueDuplicate", f"Duplicate value: {quote(item)}"
                    )
                )
            seen.append(item)
    elif list_type == "map":
        keys = s.get("x-kubernetes-list-map-keys") or []
        seen_keys: list[tuple[Any, ...]] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            k = tuple(item.get(key) for key in keys)
            if k in seen_keys:
                shown = {key: item.get(key) for key in keys}
                errs.append(
                    FieldError(f"{path}[{i}]", "FieldValueDuplicate", f"Duplicate value: {shown}")
                )
            seen_keys.append(k)


def _validate_object(value: dict[str, Any], s: Schema, path: str, errs: list[FieldError]) -> None:
    for key in s.get("required") or []:
        if key not in value:
            errs.append(FieldError(child_path(path, key), "FieldValueRequired", "Required value"))
    if "maxProperties" in s and len(value) > int(s["maxProperties"]):
        errs.append(
            FieldError(
                path,
                "FieldValueTooMany",
                f"Too many: {len(value)}: must have at most {s['maxProperties']} items",
            )
        )
    if "minProperties" in s and len(value) < int(s["minProperties"]):
        errs.append(
            _invalid(
                path,
                len(value),
                f"{path} in body should have at least {s['minProperties']} properties",
            )
        )
    props = s.get("properties") or {}
    addl = s.get("additionalProperties")
    for key, sub in value.items():
        if key in props:
            _validate(sub, props[key], child_path(path, key), errs)
        elif isinstance(addl, dict):
            _validate(sub, addl, child_path(path, key), errs)


def _validate_junctions(value: Any, s: Schema, path: str, errs: list[FieldError]) -> None:
    def passes(sub: Schema) -> bool:
        found: list[FieldError] = []
        _validate(value, sub, path, found)
        return not found

    if s.get("x-kubernetes-int-or-string"):
        return  # its anyOf [integer, string] was checked above
    for sub in s.get("allOf") or []:
        _validate(value, sub, path, errs)
    any_of = s.get("anyOf")
    if any_of and not any(passes(sub) for sub in any_of):
        errs.append(
            _invalid(path, value, f"{path} in body must match at least one schema in anyOf")
        )
    one_of = s.get("oneOf")
    if one_of and sum(1 for sub in one_of if passes(sub)) != 1:
        errs.append(_invalid(path, value, f"{path} in body must match exactly one schema in oneOf"))
    if isinstance(s.get("not"), dict) and passes(s["not"]):
        errs.append(_invalid(path, value, f"{path} in body must not validate the schema (not)"))
