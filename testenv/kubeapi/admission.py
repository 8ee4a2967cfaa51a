"""Admission: what every write goes through before it is stored.

Decoding (apiVersion and kind checked against the URL), metadata rules (RFC 1123 names, label
and annotation keys and values), Secret ``stringData`` folding, CRD validation and defaulting,
and, for custom resources, the structural schema: pruning unknown fields, defaults, then
validation. Error messages are kube-apiserver's, word for word, because clients match them.
"""

from __future__ import annotations

import base64
import copy
import datetime
import re
from collections.abc import Mapping
from typing import Any

from bmo.api.schema import FieldError, apply_defaults, check_structural, prune, quote, validate

from . import errors
from .resources import CRD_KEY, NS_KEY, SECRET_KEY, Key, Obj, ResourceType

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QNAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_errors(rt: ResourceType, name: str) -> list[FieldError]:
    if rt.name_rule == "path":
        bad = [s for s in ("/", "%") if s in name] or (["."] if name in (".", "..") else [])
        if bad:
            return [
                FieldError(
                    "metadata.name",
                    "FieldValueInvalid",
                    f"Invalid value: {quote(name)}: may not contain '{bad[0]}'",
                )
            ]
        return []
    if rt.name_rule == "label":
        if len(name) > 63 or not _LABEL.match(name):
            return [
                FieldError(
                    "metadata.name",
                    "FieldValueInvalid",
                    f"Invalid value: {quote(name)}: a lowercase RFC 1123 label must consist of "
                    "lower case alphanumeric characters or '-', and must start and end with an "
                    "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                )
            ]
        return []
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        return [
            FieldError(
                "metadata.name",
                "FieldValueInvalid",
                f"Invalid value: {quote(name)}: a lowercase RFC 1123 subdomain must consist of "
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'example.com', regex used for validation is "
                r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            )
        ]
    return []


def _qualified_name_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QNAME.match(name))


def meta_errors(rt: ResourceType, meta: Obj) -> list[FieldError]:
    errs = name_errors(rt, str(meta.get("name", "")))
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errs.append(
                FieldError(
                    f"metadata.{field}",
                    "FieldValueTypeInvalid",
                    "Invalid value: must be a map of strings",
                )
            )
            continue
        for k, v in value.items():
            if not _qualified_name_ok(k):
                errs.append(
                    FieldError(
                        f"metadata.{field}",
                        "FieldValueInvalid",
                        f"Invalid value: {quote(k)}: name part must consist of alphanumeric "
                        "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                        "character, with an optional DNS subdomain prefix and '/'",
                    )
                )
            if field == "labels" and (len(v) > 63 or not _LABEL_VALUE.match(v)):
                errs.append(
                    FieldError(
                        "metadata.labels",
                        "FieldValueInvalid",
                        f"Invalid value: {quote(v)}: a valid label must be an empty string or "
                        "consist of alphanumeric characters, '-', '_' or '.', and must start and "
                        "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                        "'12345', regex used for validation is "
                        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                    )
                )
    for field in ("finalizers", "ownerReferences"):
        if field in meta and meta[field] is not None and not isinstance(meta[field], list):
            errs.append(
                FieldError(
                    f"metadata.{field}", "FieldValueTypeInvalid", "Invalid value: must be a list"
                )
            )
    return errs


def crd_errors(crd: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [FieldError("spec", "FieldValueRequired", "Required value")]
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    plural, kind = names.get("plural") or "", names.get("kind") or ""
    if not group:
        errs.append(FieldError("spec.group", "FieldValueRequired", "Required value"))
    elif "." not in group:
        errs.append(
            FieldError(
                "spec.group",
                "FieldValueInvalid",
                f"Invalid value: {quote(group)}: should be a domain with at least one dot",
            )
        )
    if not plural:
        errs.append(FieldError("spec.names.plural", "FieldValueRequired", "Required value"))
    elif not _LABEL.match(plural):
        errs.append(
            FieldError(
                "spec.names.plural",
                "FieldValueInvalid",
                f"Invalid value: {quote(plural)}: a lowercase RFC 1123 label is required",
            )
        )
    if not kind:
        errs.append(FieldError("spec.names.kind", "FieldValueRequired", "Required value"))
    name = crd.get("metadata", {}).get("name")
    if plural and group and name != f"{plural}.{group}":
        errs.append(
            FieldError(
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: {quote(name)}: must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errs.append(
            FieldError(
                "spec.scope",
                "FieldValueNotSupported",
                f"Unsupported value: {quote(spec.get('scope'))}: "
                'supported values: "Cluster", "Namespaced"',
            )
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        errs.append(
            FieldError(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
        return errs
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        errs.append(
            FieldError(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    for i, v in enumerate(versions):
        base = f"spec.versions[{i}]"
        if not isinstance(v, dict) or not v.get("name"):
            errs.append(FieldError(f"{base}.name", "FieldValueRequired", "Required value"))
            continue
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            errs.append(
                FieldError(
                    f"{base}.schema.openAPIV3Schema",
                    "FieldValueRequired",
                    "Required value: schemas are required",
                )
            )
        else:
            errs.extend(check_structural(schema, f"{base}.schema.openAPIV3Schema"))
        for j, col in enumerate(v.get("additionalPrinterColumns") or []):
            cpath = f"{base}.additionalPrinterColumns[{j}]"
            if not col.get("name"):
                errs.append(FieldError(f"{cpath}.name", "FieldValueRequired", "Required value"))
            if col.get("type") not in ("integer", "number", "string", "boolean", "date"):
                errs.append(
                    FieldError(
                        f"{cpath}.type",
                        "FieldValueNotSupported",
                        f"Unsupported value: {quote(col.get('type'))}: supported values: "
                        '"boolean", "date", "integer", "number", "string"',
                    )
                )
            if not col.get("jsonPath"):
                errs.append(FieldError(f"{cpath}.jsonPath", "FieldValueRequired", "Required value"))
    return errs


def decode(rt: ResourceType, version: str, body: Any) -> Obj:
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    obj = copy.deepcopy(body)
    api_version = obj.get("apiVersion")
    if api_version and api_version not in [rt.api_version(v) for v in rt.versions]:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version(version)})"
        )
    if obj.get("kind") and obj["kind"] != rt.kind:
        raise errors.bad_request(
            f"the kind in the data ({obj['kind']}) does not match the expected kind ({rt.kind})"
        )
    obj["apiVersion"] = rt.api_version(rt.storage_version)
    obj["kind"] = rt.kind
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    return obj


def admit(
    rt: ResourceType,
    version: str,
    obj: Obj,
    field_validation: str,
    served: Mapping[Key, ResourceType],
) -> list[str]:
    """Type-specific mutation and validation; returns warnings (unknown fields)."""
    warnings: list[str] = []
    errs = meta_errors(rt, obj["metadata"])
    if rt.is_custom:
        schema = rt.schemas.get(version)
        if schema:
            unknown = prune(obj, schema)
            if unknown and field_validation == "Strict":
                raise errors.bad_request(
                    "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown)
                )
            if unknown and field_validation == "Warn":
                warnings += [f'unknown field "{p}"' for p in unknown]
            apply_defaults(obj, schema)
            errs += validate(obj, schema)
    elif rt.key == SECRET_KEY:
        string_data = obj.pop("stringData", None)
        if string_data:
            data = dict(obj.get("data") or {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        if not obj.get("type"):
            obj["type"] = "Opaque"
        for k, v in (obj.get("data") or {}).items():
            try:
                base64.b64decode(str(v), validate=True)
            except ValueError:
                errs.append(
                    FieldError(
                        f"data[{k}]",
                        "FieldValueInvalid",
                        "Invalid value: <secret contents redacted>: illegal base64 data",
                    )
                )
    elif rt.key == NS_KEY:
        status = dict(obj.get("status") or {})
        status["phase"] = "Terminating" if obj["metadata"].get("deletionTimestamp") else "Active"
        obj["status"] = status
    elif rt.key == CRD_KEY:
        errs += crd_errors(obj)
        if not errs:
            crd_defaults(obj, served)
    if errs:
        raise errors.invalid(
            rt.qualified_kind, str(obj["metadata"].get("name", "")), errs, rt.group, rt.kind
        )
    return warnings


def crd_defaults(crd: Obj, served: Mapping[Key, ResourceType]) -> None:
    spec = crd["spec"]
    names = spec["names"]
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})
    for v in spec["versions"]:
        v.setdefault("served", True)
    group, plural = spec["group"], names["plural"]
    existing = served.get((group, plural))
    if existing is not None and not existing.is_custom:
        raise errors.invalid(
            "CustomResourceDefinition.apiextensions.k8s.io",
            crd["metadata"]["name"],
            [
                FieldError(
                    "spec.names.plural",
                    "FieldValueInvalid",
                    f"Invalid value: {quote(plural)}: is served by a built-in type",
                )
            ],
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
        )
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    old_status = crd.get("status") or {}
    stored = list(old_status.get("storedVersions") or [])
    if storage not in stored:
        stored.append(storage)
    now = now_rfc3339()
    crd["status"] = {
        "acceptedNames": dict(names),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": stored,
    }  # fmt: skip
