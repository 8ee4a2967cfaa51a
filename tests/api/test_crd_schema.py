"""The CRDs: one source of truth, structurally sound, in step with the models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from bmo.api.codec import Kind, fields_of
from bmo.api.hardware import HardwareDataSpec
from bmo.api.host import BareMetalHostSpec, BareMetalHostStatus
from bmo.api.schema import (
    CRD_FILES,
    apply_defaults,
    crd_text,
    load_crd,
    openapi_schema,
    validate_value,
)
from bmo.api.schema import validate_manifest as check

ROOT = Path(__file__).resolve().parents[2]

# Keywords a kube-apiserver accepts in a structural CRD schema (the subset we use may grow).
ALLOWED_KEYWORDS = {
    "type", "description", "properties", "required", "items", "enum", "pattern", "format",
    "default", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
    "nullable", "additionalProperties", "x-kubernetes-map-type", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-preserve-unknown-fields",
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(CRD_FILES))
def test_packaged_crd_is_byte_identical_to_config(kind: str) -> None:
    config = ROOT / "config" / "crd" / "bases" / CRD_FILES[kind]
    assert config.read_text(encoding="utf-8") == crd_text(kind)


def test_kustomization_lists_every_crd() -> None:
    kustomization = yaml.safe_load((ROOT / "config/crd/kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        f"bases/{name}" for name in CRD_FILES.values()
    )


def _walk(schema: Mapping[str, Any], path: str) -> list[tuple[str, Mapping[str, Any]]]:
    nodes = [(path, schema)]
    for key, child in (schema.get("properties") or {}).items():
        nodes.extend(_walk(child, f"{path}.{key}"))
    if isinstance(schema.get("items"), Mapping):
        nodes.extend(_walk(schema["items"], f"{path}[]"))
    return nodes


@pytest.mark.parametrize("kind", sorted(CRD_FILES))
def test_schema_is_structural(kind: str) -> None:
    for path, node in _walk(openapi_schema(kind), ""):
        assert set(node) <= ALLOWED_KEYWORDS, (path, set(node) - ALLOWED_KEYWORDS)
        assert "type" in node, f"{path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        if "default" in node:
            assert check_value(node, node["default"]) == [], path
        if node.get("nullable"):
            assert node["type"] in ("array", "string", "object"), path
        for required in node.get("required") or ():
            assert required in node["properties"], (path, required)
        if node.get("x-kubernetes-list-type") == "map":
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in node["items"]["required"], (path, key)


def check_value(schema: Mapping[str, Any], value: Any) -> list[Any]:
    return list(validate_value(value, dict(schema), "x"))


def test_bmh_crd_metadata() -> None:
    crd = load_crd("BareMetalHost")
    spec = crd["spec"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert spec["group"] == "metal3.io" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "BareMetalHost",
        "listKind": "BareMetalHostList",
        "plural": "baremetalhosts",
        "singular": "baremetalhost",
        "shortNames": ["bmh", "bmhost"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = [
        (c["name"], c["jsonPath"], c["type"], c.get("priority", 0))
        for c in version["additionalPrinterColumns"]
    ]
    assert columns == [
        ("Status", ".status.operationalStatus", "string", 1),
        ("State", ".status.provisioning.state", "string", 0),
        ("Consumer", ".spec.consumerRef.name", "string", 0),
        ("BMC", ".spec.bmc.address", "string", 1),
        ("Online", ".spec.online", "string", 0),
        ("Error", ".status.errorType", "string", 0),
        ("Age", ".metadata.creationTimestamp", "date", 0),
    ]
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["properties"]["spec"]["required"] == ["online"]
    assert sorted(schema["properties"]["status"]["required"]) == [
        "errorCount", "errorMessage", "operationalStatus", "poweredOn", "provisioning",
        "provisioningFailCount",
    ]  # fmt: skip
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["maxItems"] == 32
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_hardware_data_crd_metadata() -> None:
    spec = load_crd("HardwareData")["spec"]
    assert spec["names"]["shortNames"] == ["hd"]
    assert spec["names"]["plural"] == "hardwaredata"
    (version,) = spec["versions"]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Age"]
    assert "subresources" not in version


# --- models <-> schema ---------------------------------------------------------------------

_SCALARS = {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}


def _compare(kind: Kind, node: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if kind.tag == "opt":
        assert kind.inner is not None
        _compare(kind.inner, node, path, errors)
    elif kind.tag in _SCALARS:
        if node.get("type") != _SCALARS[kind.tag]:
            errors.append(f"{path}: model {kind.tag}, schema {node.get('type')}")
    elif kind.tag == "time":
        if node.get("type") != "string" or node.get("format") != "date-time":
            errors.append(f"{path}: model time, schema {node}")
    elif kind.tag == "seq":
        assert kind.inner is not None
        if node.get("type") != "array":
            errors.append(f"{path}: model list, schema {node.get('type')}")
        else:
            _compare(kind.inner, node["items"], f"{path}[]", errors)
    elif kind.tag == "struct":
        assert kind.cls is not None
        if node.get("type") != "object":
            errors.append(f"{path}: model object, schema {node.get('type')}")
        else:
            _compare_struct(kind.cls, node, path, errors)
    else:
        errors.append(f"{path}: unexpected model kind {kind.tag}")


def _compare_struct(cls: type, node: Mapping[str, Any], path: str, errors: list[str]) -> None:
    fields = {f.json: f for f in fields_of(cls) if not f.extra}
    properties = node.get("properties") or {}
    for name in sorted(set(fields) - set(properties)):
        errors.append(f"{path}.{name}: in model {cls.__name__}, not in schema")
    for name in sorted(set(properties) - set(fields)):
        errors.append(f"{path}.{name}: in schema, not in model {cls.__name__}")
    for name in sorted(set(fields) & set(properties)):
        _compare(fields[name].kind, properties[name], f"{path}.{name}", errors)


@pytest.mark.parametrize(
    ("kind", "part", "cls"),
    [
        ("BareMetalHost", "spec", BareMetalHostSpec),
        ("BareMetalHost", "status", BareMetalHostStatus),
        ("HardwareData", "spec", HardwareDataSpec),
    ],
)
def test_models_and_schema_in_step(kind: str, part: str, cls: type) -> None:
    errors: list[str] = []
    _compare_struct(cls, openapi_schema(kind)["properties"][part], part, errors)
    assert errors == []


def test_sync_check_detects_drift() -> None:
    node = dict(openapi_schema("BareMetalHost")["properties"]["spec"])
    node["properties"] = {**node["properties"], "extraThing": {"type": "string"}}
    node["properties"].pop("online")
    errors: list[str] = []
    _compare_struct(BareMetalHostSpec, node, "spec", errors)
    assert errors == [
        "spec.online: in model BareMetalHostSpec, not in schema",
        "spec.extraThing: in schema, not in model BareMetalHostSpec",
    ]


# --- the schema checker --------------------------------------------------------------------


def bmh(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "h"},
        "spec": {"online": True, **spec},
    }


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"online": "yes"}, "spec.online", 'must be of type boolean: "string"'),
        ({"bootMode": "BIOS"}, "spec.bootMode", 'Unsupported value: "BIOS"'),
        ({"bootMACAddress": "zz"}, "spec.bootMACAddress", "should match"),
        ({"automatedCleaningMode": "always"}, "spec.automatedCleaningMode", "Unsupported"),
        ({"inspectionMode": "slow"}, "spec.inspectionMode", "Unsupported"),
        ({"image": {"checksum": "x"}}, "spec.image.url", "Required value"),
        ({"image": {"url": "http://x", "format": "iso"}}, "spec.image.format", "Unsupported"),
        ({"bmc": {"address": "ipmi://x"}}, "spec.bmc.credentialsName", "Required value"),
        ({"rootDeviceHints": {"minSizeGigabytes": -1}}, "spec.rootDeviceHints.minSizeGigabytes",
         "greater than or equal to 0"),
        ({"raid": {"hardwareRAIDVolumes": [{"level": "7"}]}},
         "spec.raid.hardwareRAIDVolumes[0].level", "Unsupported"),
        ({"raid": {"hardwareRAIDVolumes": [{"level": "1", "name": "n" * 65}]}},
         "spec.raid.hardwareRAIDVolumes[0].name", "Too long"),
        ({"raid": {"softwareRAIDVolumes": [{"level": "1"}] * 3}},
         "spec.raid.softwareRAIDVolumes", "Too many: 3"),
        ({"raid": {"softwareRAIDVolumes": [{"level": "1", "physicalDisks": [{}]}]}},
         "spec.raid.softwareRAIDVolumes[0].physicalDisks", "at least 2 items"),
        ({"networkInterfaces": [{"name": "eth 0", "hostNetworkAttachment": {}}]},
         "spec.networkInterfaces[0].name", "should match"),
        ({"networkInterfaces": [{"name": "eth0"}]},
         "spec.networkInterfaces[0].hostNetworkAttachment", "Required value"),
        ({"bogus": 1}, "spec.bogus", "unknown field"),
    ],
)  # fmt: skip
def test_schema_rejects(spec: dict[str, Any], field: str, message: str) -> None:
    document = bmh(**spec)
    if spec.get("online") == "yes":
        document["spec"]["online"] = "yes"
    problems = {p.field: p.message for p in check(document)}
    assert field in problems, problems
    assert message in problems[field]


def test_schema_missing_online() -> None:
    document = bmh()
    del document["spec"]["online"]
    assert [(p.field, p.message) for p in check(document)] == [("spec.online", "Required value")]


def test_schema_reports_what_the_apiserver_would_prune_as_unknown() -> None:
    document = bmh(bogus=1)
    document["metadata"]["labelz"] = {"a": "b"}
    document["extra"] = True
    unknown = sorted(p.field for p in check(document) if p.message == "unknown field")
    assert unknown == ["extra", "metadata.labelz", "spec.bogus"]


def test_schema_rejects_null_where_not_nullable() -> None:
    document = bmh(bootMode=None)
    assert [(p.field, p.message) for p in check(document)] == [
        (
            "spec.bootMode",
            'Invalid value: "null": spec.bootMode in body must be of type string: "null"',
        )
    ]


def test_schema_accepts_nulls_where_go_emits_them() -> None:
    document = bmh(raid={"hardwareRAIDVolumes": None, "softwareRAIDVolumes": []})
    assert check(document) == []


def test_defaults() -> None:
    defaulted = bmh()
    apply_defaults(defaulted, openapi_schema("BareMetalHost"))
    assert defaulted["spec"]["automatedCleaningMode"] == "metadata"
    kept = bmh(automatedCleaningMode="disabled")
    apply_defaults(kept, openapi_schema("BareMetalHost"))
    assert kept["spec"]["automatedCleaningMode"] == "disabled"
