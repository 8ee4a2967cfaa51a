"""Defaulting: filling the schema's ``default`` values into a custom resource.

Mirrors ``k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting/algorithm.go
Default``: a default applies to an absent property of an object that is present; nothing is
created just to hold a default.
"""

from __future__ import annotations

import copy
from typing import Any

from bmo.api.schema.validation import Schema

__all__ = ["apply_defaults"]


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
