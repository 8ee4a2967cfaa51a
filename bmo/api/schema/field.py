"""One field's validation failure, rendered as the apiserver renders it.

Mirrors ``k8s.io/apimachinery/pkg/util/validation/field/errors.go`` (``Error``,
``ErrorType``): ``reason`` is the ``StatusCause`` reason (``FieldValueRequired``,
``FieldValueInvalid``, ``FieldValueNotSupported``, ...), ``message`` the text after the field
path, e.g. ``Invalid value: "x": spec.x in body should match '^a$'``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["FieldError", "child_path", "quote"]


@dataclass(frozen=True)
class FieldError:
    """One cause of a 422: ``field`` is a dotted path such as ``spec.online``."""

    field: str
    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def quote(value: Any) -> str:
    """Render a value the way the apiserver's field errors do (strings quoted, rest as JSON)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def child_path(path: str, name: str) -> str:
    """``field.Path.Child``: ``spec`` + ``online`` is ``spec.online``; at the root just the name."""
    return f"{path}.{name}" if path else name
