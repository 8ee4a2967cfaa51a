"""``bmo validate``'s schema step: a manifest checked against its CRD as the apiserver would.

Runs before the webhook rules so a typo'd field, a wrong type or an enum value outside the
CRD is caught offline: fields the apiserver would prune are reported as unknown (what
``kubectl``'s strict field validation rejects), then the schema is validated, root included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bmo.api.schema.crds import openapi_schema
from bmo.api.schema.pruning import unknown_fields
from bmo.api.schema.validation import validate_value
from bmo.api.validation import ValidationProblem

__all__ = ["validate_manifest"]


def validate_manifest(document: Mapping[str, Any]) -> list[ValidationProblem]:
    """Schema problems of one BareMetalHost or HardwareData manifest (unknown fields too)."""
    schema = openapi_schema(str(document.get("kind", "")))
    problems = [
        ValidationProblem(path, "unknown field") for path in unknown_fields(dict(document), schema)
    ]
    problems.extend(
        ValidationProblem(error.field, error.message)
        for error in validate_value(document, schema, "")
    )
    return problems
