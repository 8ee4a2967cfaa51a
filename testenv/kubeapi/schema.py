"""Structural openAPIV3Schema: the CRD-time structural check, then pruning, defaulting and
validation of custom resources, with the apiserver's field paths and messages.

Patterns use Python's ``re.search`` (unanchored, like Go's RE2 ``MatchString``); CEL rules
(``x-kubernetes-validations``) are accepted and not evaluated.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

from .errors import FieldError, quote

Schema = dict[str, Any]

TYPES = {"object", "array", "string", "integer", "number", "boolean"}

KNOWN_KEYWORDS = {
    "type", "format", "title", "description", "default", "maximum", "exclusiveMaximum",
    "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties", "required", "items",
    "allOf", "oneOf", "anyOf", "not", "properties", "additionalProperties", "nullable",
    "example", "externalDocs",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string", "x-kubernetes-list-map-keys", "x-kubernetes-list-type",
    "x-kubernetes-map-type", "x-kubernetes-validations",
}  # fmt: skip

FORBIDDEN_KEYWORDS = {
    "$ref", "$schema", "id", "definitions", "dependencies", "patternProperties", "additionalItems",
}  # fmt: skip

# ObjectMeta fields a custom resource keeps; anything else under metadata is dropped.
OBJECT_META_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
}  # fmt: skip

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$"
)


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ------------------------------------------------------------------ structural check (CRD time)
def check_structural(schema: Any, path: str) -> list[FieldError]:
    """What a real apiserver rejects as non-structural (or not a valid schema) at CRD creation."""
    errs: list[FieldError] = []
    if not isinstance(schema, dict):
        return [FieldError(path, "FieldValueRequired", "Required value: schemas are required")]
    if schema.get("type") != "object":
        errs.append(
            FieldError(
                _child(path, "type"),
                "FieldValueInvalid",
                f"Invalid value: {quote(schema.get('type', ''))}: must be object at the root",
            )
        )
    _check_node(schema, path, errs, in_junction=False, is_root=True)
    return errs


def _check_node(
    s: Any, path: str, errs: list[FieldError], *, in_junction: bool, is_root: bool = False
) -> None:
    if not isinstance(s, dict):
        errs.append(FieldError(path, "FieldValueInvalid", "Invalid value: must be a schema object"))
        return
    for key in s:
        if key in FORBIDDEN_KEYWORDS:
            errs.append(
                FieldError(_child(path, key), "FieldValueForbidden", "Forbidden: must not be used")
            )
        elif key not in KNOWN_KEYWORDS:
            errs.append(
                FieldError(
                    _child(path, key),
                    "FieldValueForbidden",
                    f'Forbidden: unknown field "{key}" in a structural schema',
                )
            )
    typ = s.get("type")
    special = bool(s.get("x-kubernetes-int-or-string")) or bool(
        s.get("x-kubernetes-preserve-unknown-fields")
    )
    if typ is not None and typ not in TYPES:
        errs.append(
            FieldError(
                _child(path, "type"),
                "FieldValueNotSupported",
                f"Unsupported value: {quote(typ)}: supported values: "
                + ", ".join(quote(t) for t in sorted(TYPES)),
            )
        )
    if not in_junction and not is_root and not typ and not special:
        errs.append(
            FieldError(
                _child(path, "type"),
                "FieldValueRequired",
                "Required value: must not be empty for specified object fields",
            )
        )
    if s.get("uniqueItems") is True:
        errs.append(
            FieldError(
                _child(path, "uniqueItems"),
                "FieldValueForbidden",
                "Forbidden: uniqueItems cannot be set to true since the runtime complexity "
                "becomes quadratic",
            )
        )
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(
            FieldError(
                _child(path, "x-kubernetes-preserve-unknown-fields"),
                "FieldValueInvalid",
                "Invalid value: false: must be true or undefined",
            )
        )
    if "properties" in s and isinstance(s.get("additionalProperties"), dict):
        errs.append(
            FieldError(
                _child(path, "additionalProperties"),
                "FieldValueForbidden",
                "Forbidden: additionalProperties and properties are mutual exclusive",
            )
        )
    if "pattern" in s:
        try:
            compile_pattern(str(s["pattern"]))
        except re.error as e:
            errs.append(
                FieldError(
                    _child(path, "pattern"),
                    "FieldValueInvalid",
                    f"Invalid value: {quote(s['pattern'])}: "
                    f"must be a valid regular expression: {e}",
                )
            )
    for key in ("enum", "required", "allOf", "anyOf", "oneOf", "x-kubernetes-list-map-keys"):
        if key in s and not isinstance(s[key], list):
            errs.append(
                FieldError(_child(path, key), "FieldValueInvalid", "Invalid value: must be a list")
            )
    lt = s.get("x-kubernetes-list-type")
    if lt is not None:
        if lt not in ("atomic", "set", "map"):
            errs.append(
                FieldError(
                    _child(path, "x-kubernetes-list-type"),
                    "FieldValueNotSupported",
                    f'Unsupported value: {quote(lt)}: supported values: "atomic", "set", "map"',
                )
            )
        if lt == "map" and not s.get("x-kubernetes-list-map-keys"):
            errs.append(
                FieldError(
                    _child(path, "x-kubernetes-list-map-keys"),
                    "FieldValueRequired",
                    "Required value: must not be empty if x-kubernetes-list-type is map",
                )
            )
    props = s.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            errs.append(
                FieldError(
                    _child(path, "properties"), "FieldValueInvalid", "Invalid value: must be a map"
                )
            )
        else:
            for name, sub in props.items():
                _check_node(sub, f"{path}.properties[{name}]", errs, in_junction=in_junction)
    items = s.get("items")
    if items is not None:
        if isinstance(items, list):
            errs.append(
                FieldError(
                    _child(path, "items"),
                    "FieldValueForbidden",
                    "Forbidden: items must be a schema object and not an array",
                )
            )
        else:
            _check_node(items, _child(path, "items"), errs, in_junction=in_junction)
    elif typ == "array" and not in_junction:
        errs.append(
            FieldError(
                _child(path, "items"), "FieldValueRequired", "Required value: must be specified"
            )
        )
    addl = s.get("additionalProperties")
    if isinstance(addl, dict):
        _check_node(addl, _child(path, "additionalProperties"), errs, in_junction=in_junction)
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(s.get(key) or [] if isinstance(s.get(key), list) else []):
            _check_node(sub, f"{path}.{key}[{i}]", errs, in_junction=True)
    if isinstance(s.get("not"), dict):
        _check_node(s["not"], _child(path, "not"), errs, in_junction=True)


# ------------------------------------------------------------------ pruning
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
            child = _child(path, key)
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


# ------------------------------------------------------------------ defaulting
def apply_defaults(obj: Any, s: Schema) -> None:
    """Fill ``default`` for absent properties, recursing into present objects, lists and maps."""
    if isinstance(obj, dict):
        for key, sub in (s.get("properties") or {}).items():
            if not isinstance(sub, dict):
                continue
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                apply_defaults(obj[key], sub)
        addl = s.get("additionalProperties")
        if isinstance(addl, dict):
            for key in obj:
                apply_defaults(obj[key], addl)
    elif isinstance(obj, list) and isinstance(s.get("items"), dict):
        for item in obj:
            apply_defaults(item, s["items"])


# ------------------------------------------------------------------ validation
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
    """Validate a whole custom resource (metadata is checked elsewhere)."""
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
    if s.get("format") == "date-time" and not _DATE_TIME.match(value):
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
            errs.append(FieldError(_child(path, key), "FieldValueRequired", "Required value"))
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
            _validate(sub, props[key], _child(path, key), errs)
        elif isinstance(addl, dict):
            _validate(sub, addl, _child(path, key), errs)


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
