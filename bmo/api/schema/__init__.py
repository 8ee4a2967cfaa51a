"""The CRDs' ``openAPIV3Schema`` enforced as the Kubernetes apiserver enforces it.

One implementation with two users: ``bmo validate`` (offline checks of manifests, through
``validate_manifest``) and the Kubernetes API emulator in ``testenv.kubeapi`` (structural
check at CRD creation, then pruning, defaulting and validation of every custom-resource write).
Messages and field paths are the apiserver's, so both users report what a cluster would.

``crds`` loads the packaged CRDs; ``field`` is the field-error type; ``structural``,
``pruning``, ``defaulting`` and ``validation`` are the apiserver's four steps; ``manifest`` is
``bmo validate``'s entry point. Import from here.
"""

from __future__ import annotations

from bmo.api.schema.crds import CRD_FILES, crd_text, load_crd, openapi_schema
from bmo.api.schema.defaulting import apply_defaults
from bmo.api.schema.field import FieldError, quote
from bmo.api.schema.manifest import validate_manifest
from bmo.api.schema.pruning import prune, unknown_fields
from bmo.api.schema.structural import check_structural
from bmo.api.schema.validation import Schema, validate, validate_value

__all__ = [
    "CRD_FILES",
    "FieldError",
    "Schema",
    "apply_defaults",
    "check_structural",
    "crd_text",
    "load_crd",
    "openapi_schema",
    "prune",
    "quote",
    "unknown_fields",
    "validate",
    "validate_manifest",
    "validate_value",
]
