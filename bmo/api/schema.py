"""Checks a raw manifest against the CRD's openAPIV3Schema, as the API server would.

``bmo validate`` runs this before the webhook rules so a typo'd field, a wrong type or an
enum value outside the CRD is caught offline. The CRDs are read from the copies shipped in
this package (``bmo/api/crds``), the same bytes as ``config/crd/bases``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml

from bmo.api.errors import SchemaLoadError
from bmo.api.validation import ValidationProblem

CRD_FILES = {
    "BareMetalHost": "metal3.io_baremetalhosts.yaml",
    "HardwareData": "metal3.io_hardwaredata.yaml",
}

_TYPE_NAMES = {
    "string": "string",
    "boolean": "boolean",
    "integer": "integer",
    "number": "number",
    "object": "object",
    "array": "array",
}


def crd_text(kind: str) -> str:
    """The CRD YAML for ``kind`` exactly as shipped."""
    try:
        name = CRD_FILES[kind]
    except KeyError:
        raise SchemaLoadError(f"bmo ships no CRD for kind {kind!r}") from None
    try:
        return resources.files("bmo.api").joinpath("crds", name).read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaLoadError(f"cannot read the packaged CRD {name}: {exc}") from None


@cache
def load_crd(kind: str) -> Mapping[str, Any]:
    crd = yaml.safe_load(crd_text(kind))
    if not isinstance(crd, dict):
        raise SchemaLoadError(f"the packaged CRD for {kind} is not a mapping")
    return crd


def openapi_schema(kind: str) -> Mapping[str, Any]:
    """The ``openAPIV3Schema`` of the single served version of ``kind``'s CRD."""
    version = load_crd(kind)["spec"]["versions"][0]
    schema: Mapping[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(value, sort_keys=True, default=str)[:80]


def _json_type(value: Any) -> str:
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
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _type_ok(expected: str, value: Any) -> bool:
    actual = _json_type(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == expected


def _valid_date_time(text: str) -> bool:
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return False
    return parsed.tzinfo is not None and "T" in text.upper()


def _check(schema: Mapping[str, Any], value: Any, path: str, out: list[ValidationProblem]) -> None:
    expected = schema.get("type")
    if value is None:
        if not schema.get("nullable") and expected is not None:
            out.append(
                ValidationProblem(
                    path, f"Invalid value: null: {path} in body must be of type {expected}: null"
                )
            )
        return
    if expected is not None and not _type_ok(expected, value):
        actual = _json_type(value)
        out.append(
            ValidationProblem(
                path,
                f'Invalid value: "{actual}": {path} in body must be of type '
                f'{_TYPE_NAMES.get(expected, expected)}: "{actual}"',
            )
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(_show(v) for v in schema["enum"])
        out.append(
            ValidationProblem(
                path, f"Unsupported value: {_show(value)}: supported values: {allowed}"
            )
        )
    if isinstance(value, str):
        _check_string(schema, value, path, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(schema, value, path, out)
    elif isinstance(value, list | tuple):
        _check_array(schema, list(value), path, out)
    elif isinstance(value, Mapping):
        _check_object(schema, value, path, out)


def _check_string(
    schema: Mapping[str, Any], value: str, path: str, out: list[ValidationProblem]
) -> None:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(
            ValidationProblem(path, f"Too long: may not be longer than {schema['maxLength']}")
        )
    if "minLength" in schema and len(value) < schema["minLength"]:
        out.append(
            ValidationProblem(
                path,
                f"Invalid value: {_show(value)}: {path} in body should be at least "
                f"{schema['minLength']} chars long",
            )
        )
    if "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(
            ValidationProblem(
                path,
                f"Invalid value: {_show(value)}: {path} in body should match '{schema['pattern']}'",
            )
        )
    if schema.get("format") == "date-time" and not _valid_date_time(value):
        out.append(
            ValidationProblem(
                path,
                f"Invalid value: {_show(value)}: {path} in body must be of type date-time: "
                f"{_show(value)}",
            )
        )


def _check_number(
    schema: Mapping[str, Any], value: float, path: str, out: list[ValidationProblem]
) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        out.append(
            ValidationProblem(
                path,
                f"Invalid value: {_show(value)}: {path} in body should be greater than or "
                f"equal to {schema['minimum']}",
            )
        )
    if "maximum" in schema and value > schema["maximum"]:
        out.append(
            ValidationProblem(
                path,
                f"Invalid value: {_show(value)}: {path} in body should be less than or "
                f"equal to {schema['maximum']}",
            )
        )


def _check_array(
    schema: Mapping[str, Any], value: list[Any], path: str, out: list[ValidationProblem]
) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        out.append(
            ValidationProblem(
                path, f"Too many: {len(value)}: must have at most {schema['maxItems']} items"
            )
        )
    if "minItems" in schema and len(value) < schema["minItems"]:
        out.append(
            ValidationProblem(
                path,
                f"Invalid value: {len(value)}: {path} in body should have at least "
                f"{schema['minItems']} items",
            )
        )
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            _check(items, item, f"{path}[{index}]", out)
    keys = schema.get("x-kubernetes-list-map-keys")
    if schema.get("x-kubernetes-list-type") == "map" and keys:
        seen: set[str] = set()
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                continue
            key = json.dumps({k: item.get(k) for k in keys}, sort_keys=True)
            if key in seen:
                out.append(ValidationProblem(f"{path}[{index}]", f"Duplicate value: {key}"))
            seen.add(key)


def _check_object(
    schema: Mapping[str, Any], value: Mapping[str, Any], path: str, out: list[ValidationProblem]
) -> None:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    for required in schema.get("required") or ():
        if required not in value:
            out.append(
                ValidationProblem(f"{path}.{required}" if path else required, "Required value")
            )
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") or "properties" not in schema
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        child = f"{path}.{key}" if path else str(key)
        if key in properties:
            _check(properties[key], item, child, out)
        elif isinstance(additional, Mapping):
            _check(additional, item, child, out)
        elif not preserve:
            out.append(ValidationProblem(child, "unknown field"))


def validate_manifest(document: Mapping[str, Any]) -> list[ValidationProblem]:
    """Schema problems of one BareMetalHost or HardwareData manifest (unknown fields too)."""
    kind = str(document.get("kind", ""))
    schema = openapi_schema(kind)
    problems: list[ValidationProblem] = []
    _check(schema, document, "", problems)
    return problems


def apply_defaults(kind: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with the CRD's ``default`` values filled in where absent."""
    result = json.loads(json.dumps(document))
    _default(openapi_schema(kind), result)
    assert isinstance(result, dict)
    return result


def _default(schema: Mapping[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        for key, prop in (schema.get("properties") or {}).items():
            if key not in value and "default" in prop:
                value[key] = json.loads(json.dumps(prop["default"]))
            if key in value:
                _default(prop, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _default(schema["items"], item)
