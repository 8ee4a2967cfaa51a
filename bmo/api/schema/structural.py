"""The CRD-time check of an ``openAPIV3Schema``: what the apiserver refuses as non-structural.

Mirrors ``k8s.io/apiextensions-apiserver/pkg/apiserver/schema/validation.go
ValidateStructural`` and the keyword checks of
``pkg/apis/apiextensions/validation/validation.go ValidateCustomResourceDefinitionOpenAPISchema``,
with their field paths and messages. Used by the Kubernetes API emulator when a CRD is
created; ``bmo`` itself only ships schemas that pass it.
"""

from __future__ import annotations

import re
from typing import Any

from bmo.api.schema.field import FieldError, child_path, quote
from bmo.api.schema.validation import compile_pattern

__all__ = ["check_structural"]

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


def check_structural(schema: Any, path: str) -> list[FieldError]:
    """What a real apiserver rejects as non-structural (or not a valid schema) at CRD creation."""
    errs: list[FieldError] = []
    if not isinstance(schema, dict):
        return [FieldError(path, "FieldValueRequired", "Required value: schemas are required")]
    if schema.get("type") != "object":
        errs.append(
            FieldError(
                child_path(path, "type"),
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
                FieldError(
                    child_path(path, key), "FieldValueForbidden", "Forbidden: must not be used"
                )
            )
        elif key not in KNOWN_KEYWORDS:
            errs.append(
                FieldError(
                    child_path(path, key),
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
                child_path(path, "type"),
                "FieldValueNotSupported",
                f"Unsupported value: {quote(typ)}: supported values: "
                + ", ".join(quote(t) for t in sorted(TYPES)),
            )
        )
    if not in_junction and not is_root and not typ and not special:
        errs.append(
            FieldError(
                child_path(path, "type"),
                "FieldValueRequired",
                "Required value: must not be empty for specified object fields",
            )
        )
    if s.get("uniqueItems") is True:
        errs.append(
            FieldError(
                child_path(path, "uniqueItems"),
                "FieldValueForbidden",
                "Forbidden: uniqueItems cannot be set to true since the runtime complexity "
                "becomes quadratic",
            )
        )
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(
            FieldError(
                child_path(path, "x-kubernetes-preserve-unknown-fields"),
                "FieldValueInvalid",
                "Invalid value: false: must be true or undefined",
            )
        )
    if "properties" in s and isinstance(s.get("additionalProperties"), dict):
        errs.append(
            FieldError(
                child_path(path, "additionalProperties"),
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
                    child_path(path, "pattern"),
                    "FieldValueInvalid",
                    f"Invalid value: {quote(s['pattern'])}: "
                    f"must be a valid regular expression: {e}",
                )
            )
    for key in ("enum", "required", "allOf", "anyOf", "oneOf", "x-kubernetes-list-map-keys"):
        if key in s and not isinstance(s[key], list):
            errs.append(
                FieldError(
                    child_path(path, key), "FieldValueInvalid", "Invalid value: must be a list"
                )
            )
    lt = s.get("x-kubernetes-list-type")
    if lt is not None:
        if lt not in ("atomic", "set", "map"):
            errs.append(
                FieldError(
                    child_path(path, "x-kubernetes-list-type"),
                    "FieldValueNotSupported",
                    f'Unsupported value: {quote(lt)}: supported values: "atomic", "set", "map"',
                )
            )
        if lt == "map" and not s.get("x-kubernetes-list-map-keys"):
            errs.append(
                FieldError(
                    child_path(path, "x-kubernetes-list-map-keys"),
                    "FieldValueRequired",
                    "Required value: must not be empty if x-kubernetes-list-type is map",
                )
            )
    props = s.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            errs.append(
                FieldError(
                    child_path(path, "properties"),
                    "FieldValueInvalid",
                    "Invalid value: must be a map",
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
                    child_path(path, "items"),
                    "FieldValueForbidden",
                    "Forbidden: items must be a schema object and not an array",
                )
            )
        else:
            _check_node(items, child_path(path, "items"), errs, in_junction=in_junction)
    elif typ == "array" and not in_junction:
        errs.append(
            FieldError(
                child_path(path, "items"), "FieldValueRequired", "Required value: must be specified"
            )
        )
    addl = s.get("additionalProperties")
    if isinstance(addl, dict):
        _check_node(addl, child_path(path, "additionalProperties"), errs, in_junction=in_junction)
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(s.get(key) or [] if isinstance(s.get(key), list) else []):
            _check_node(sub, f"{path}.{key}[{i}]", errs, in_junction=True)
    if isinstance(s.get("not"), dict):
        _check_node(s["not"], child_path(path, "not"), errs, in_junction=True)
