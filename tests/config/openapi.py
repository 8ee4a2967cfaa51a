"""A strict structural check of built-in objects against the Kubernetes API types.

The emulator stores built-in kinds as given (it checks only apiVersion, kind and
metadata), so a misspelt field would pass there and be rejected by a real API server
(``kubectl apply --validate=strict``) or silently dropped. The official client's model
classes carry every type's fields and their types; walking an object against them finds
unknown fields, wrong scalar types and missing required fields.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes.client as models

_LIST = re.compile(r"^(?:list\[|List\[)(.+)\]$")
_DICT = re.compile(r"^(?:dict\(str, (.+)\)|Dict\[str, (.+)\])$")

MODEL_FOR = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "Secret"): "V1Secret",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Service"): "V1Service",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"): (
        "V1ValidatingWebhookConfiguration"
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): "V1CustomResourceDefinition",
}


def problems(obj: dict[str, Any]) -> list[str]:
    """Every structural problem in a built-in object; [] when it is well-formed."""
    model = MODEL_FOR.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if model is None:
        return [f"no API type known for {obj.get('apiVersion')} {obj.get('kind')}"]
    out: list[str] = []
    _walk(obj, model, obj["kind"], out)
    return out


def _walk(value: Any, type_name: str, path: str, out: list[str]) -> None:
    if type_name == "object":  # IntOrString, RawExtension, Quantity-as-object, free JSON
        return
    if m := _LIST.match(type_name):
        if not isinstance(value, list):
            out.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            _walk(item, m.group(1), f"{path}[{i}]", out)
        return
    if m := _DICT.match(type_name):
        if not isinstance(value, dict):
            out.append(f"{path}: expected a map")
            return
        for key, item in value.items():
            _walk(item, m.group(1) or m.group(2), f"{path}[{key}]", out)
        return
    scalar: dict[str, type | tuple[type, ...]] = {
        "str": str,
        "int": int,
        "bool": bool,
        "float": (int, float),
        "datetime": str,
        "bytes": str,
    }
    if type_name in scalar:
        expected = scalar[type_name]
        if not isinstance(value, expected) or (type_name == "int" and isinstance(value, bool)):
            out.append(f"{path}: expected {type_name}, got {type(value).__name__}")
        return
    cls = getattr(models, type_name)
    if not isinstance(value, dict):
        out.append(f"{path}: expected an object ({type_name})")
        return
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            out.append(f"{path}.{key}: unknown field for {type_name}")
            continue
        _walk(item, cls.openapi_types[attr], f"{path}.{key}", out)
    for attr in _required(cls):
        if cls.attribute_map[attr] not in value:
            out.append(f"{path}: required field {cls.attribute_map[attr]} missing")


def _required(cls: Any) -> list[str]:
    """Required attributes, from the (pydantic) model's field definitions."""
    return [name for name, info in cls.model_fields.items() if info.is_required()]
