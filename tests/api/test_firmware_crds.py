"""The four firmware CRDs: one source of truth, upstream's names, structural, in step with the
models, and what the Kubernetes API emulator (through the real client) accepts and rejects."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from bmo.api.codec import Kind, fields_of
from bmo.api.firmware import (
    FirmwareSchema,
    FirmwareSchemaSpec,
    FirmwareUpdate,
    HostFirmwareComponents,
    HostFirmwareComponentsSpec,
    HostFirmwareComponentsStatus,
    HostFirmwareSettings,
    HostFirmwareSettingsStatus,
)
from bmo.api.firmware_rules import (
    component_name_error,
    firmware_update_url_errors,
    schema_name,
    validate_settings,
)
from bmo.api.hostupdatepolicy import HostUpdatePolicy, HostUpdatePolicySpec
from bmo.api.manifests import load_documents

ROOT = Path(__file__).resolve().parents[2]
BASES = ROOT / "config" / "crd" / "bases"
SAMPLES = ROOT / "config" / "samples"
GROUP, VERSION = "metal3.io", "v1alpha1"

FILES = {
    "FirmwareSchema": "metal3.io_firmwareschemas.yaml",
    "HostFirmwareComponents": "metal3.io_hostfirmwarecomponents.yaml",
    "HostFirmwareSettings": "metal3.io_hostfirmwaresettings.yaml",
    "HostUpdatePolicy": "metal3.io_hostupdatepolicies.yaml",
}
SAMPLE_FILES = {
    "FirmwareSchema": "firmwareschema.yaml",
    "HostFirmwareComponents": "hostfirmwarecomponents.yaml",
    "HostFirmwareSettings": "hostfirmwaresettings.yaml",
    "HostUpdatePolicy": "hostupdatepolicy.yaml",
}
PLURALS = {
    "FirmwareSchema": "firmwareschemas",
    "HostFirmwareComponents": "hostfirmwarecomponents",
    "HostFirmwareSettings": "hostfirmwaresettings",
    "HostUpdatePolicy": "hostupdatepolicies",
}


def crd(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((BASES / FILES[kind]).read_text(encoding="utf-8"))
    return loaded


def openapi(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def sample(kind: str) -> dict[str, Any]:
    (document,) = load_documents((SAMPLES / SAMPLE_FILES[kind]).read_text(encoding="utf-8"))
    return document


# --- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FILES))
def test_packaged_copy_is_byte_identical(kind: str) -> None:
    packaged = resources.files("bmo.api").joinpath("crds", FILES[kind]).read_bytes()
    assert (BASES / FILES[kind]).read_bytes() == packaged


def test_kustomization_lists_the_crds_and_samples_exist() -> None:
    crds = yaml.safe_load((ROOT / "config/crd/kustomization.yaml").read_text())["resources"]
    assert {f"bases/{name}" for name in FILES.values()} <= set(crds)
    # One sample per kind, applied with `kubectl apply -f` (the samples kustomization holds
    # only the BareMetalHost and its Secret).
    assert all((SAMPLES / name).is_file() for name in SAMPLE_FILES.values())


def test_rbac_grants_what_the_firmware_controllers_need() -> None:
    role = yaml.safe_load((ROOT / "config/rbac/role.yaml").read_text())
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        if GROUP in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault(resource, set()).update(rule["verbs"])
    # Exactly the verbs the controllers use: HFS/HFC created (never updated or deleted: owner
    # references collect them), their status PUT; FirmwareSchemas created and patched (owner
    # references appended with a JSON patch).
    for resource in ("hostfirmwaresettings", "hostfirmwarecomponents"):
        assert granted[resource] == {"create", "get", "list", "watch"}, resource
    assert granted["firmwareschemas"] == {"create", "get", "list", "patch", "watch"}
    for resource in ("hostfirmwaresettings/status", "hostfirmwarecomponents/status"):
        assert granted[resource] == {"update"}, resource
    # bmo reads policies and adds itself as owner; it never creates or deletes them.
    assert granted["hostupdatepolicies"] == {"get", "list", "update", "watch"}


# --- upstream's names, scope, subresources -------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "plural", "singular", "short", "status_subresource"),
    [
        ("HostFirmwareSettings", "hostfirmwaresettings", "hostfirmwaresettings", ["hfs"], True),
        ("FirmwareSchema", "firmwareschemas", "firmwareschema", None, False),
        ("HostFirmwareComponents", "hostfirmwarecomponents", "hostfirmwarecomponents", None, True),
        ("HostUpdatePolicy", "hostupdatepolicies", "hostupdatepolicy", None, False),
    ],
)
def test_crd_metadata_is_upstreams(
    kind: str, plural: str, singular: str, short: list[str] | None, status_subresource: bool
) -> None:
    doc = crd(kind)
    spec = doc["spec"]
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["metadata"]["name"] == f"{plural}.{GROUP}"
    assert (spec["group"], spec["scope"]) == (GROUP, "Namespaced")
    names = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": singular}
    if short:
        names["shortNames"] = short
    assert spec["names"] == names
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert ("subresources" in version) is status_subresource
    if status_subresource:
        assert version["subresources"] == {"status": {}}
    assert "additionalPrinterColumns" not in version  # upstream has none for these kinds


def test_hfs_settings_are_int_or_string() -> None:
    settings = openapi("HostFirmwareSettings")["properties"]["spec"]["properties"]["settings"]
    assert settings["additionalProperties"] == {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    }
    status = openapi("HostFirmwareSettings")["properties"]["status"]
    assert status["properties"]["settings"]["additionalProperties"] == {"type": "string"}
    assert status["required"] == ["settings"]
    assert status["properties"]["schema"]["required"] == ["name", "namespace"]


def test_firmware_schema_fields_are_snake_case() -> None:
    spec = openapi("FirmwareSchema")["properties"]["spec"]
    setting = spec["properties"]["schema"]["additionalProperties"]["properties"]
    assert sorted(setting) == [
        "allowable_values", "attribute_type", "lower_bound", "max_length", "min_length",
        "read_only", "unique", "upper_bound",
    ]  # fmt: skip
    assert setting["attribute_type"]["enum"] == [
        "Enumeration", "String", "Integer", "Boolean", "Password",
    ]  # fmt: skip
    assert spec["required"] == ["schema"]


def test_policy_values() -> None:
    spec = openapi("HostUpdatePolicy")["properties"]["spec"]["properties"]
    assert spec["firmwareSettings"]["enum"] == ["onPreparing", "onReboot"]
    assert spec["firmwareUpdates"]["enum"] == ["onPreparing", "onReboot"]


# --- structural, and in step with the models -----------------------------------------------

ALLOWED = {
    "type", "description", "properties", "required", "items", "enum", "pattern", "format",
    "minimum", "maxLength", "minLength", "additionalProperties", "anyOf",
    "x-kubernetes-int-or-string", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
}  # fmt: skip


def _walk(node: Mapping[str, Any], path: str) -> list[tuple[str, Mapping[str, Any]]]:
    nodes = [(path, node)]
    for key, child in (node.get("properties") or {}).items():
        nodes.extend(_walk(child, f"{path}.{key}"))
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            nodes.extend(_walk(node[key], f"{path}[{key}]"))
    return nodes


@pytest.mark.parametrize("kind", sorted(FILES))
def test_schema_is_structural(kind: str) -> None:
    for path, node in _walk(openapi(kind), ""):
        assert set(node) <= ALLOWED, (path, set(node) - ALLOWED)
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        for required in node.get("required") or ():
            assert required in node["properties"], (path, required)
        if node.get("x-kubernetes-list-type") == "map":
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in node["items"]["required"], (path, key)


_SCALARS = {"str": "string", "int": "integer", "bool": "boolean"}


def _compare(kind: Kind, node: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if kind.tag == "opt":
        assert kind.inner is not None
        _compare(kind.inner, node, path, errors)
    elif kind.tag in _SCALARS:
        if node.get("type") != _SCALARS[kind.tag]:
            errors.append(f"{path}: model {kind.tag}, schema {node.get('type')}")
    elif kind.tag == "time":
        if (node.get("type"), node.get("format")) != ("string", "date-time"):
            errors.append(f"{path}: model time, schema {node}")
    elif kind.tag == "seq":
        assert kind.inner is not None
        if node.get("type") != "array":
            errors.append(f"{path}: model list, schema {node.get('type')}")
        else:
            _compare(kind.inner, node["items"], f"{path}[]", errors)
    elif kind.tag == "map":
        assert kind.inner is not None
        if node.get("type") != "object" or "additionalProperties" not in node:
            errors.append(f"{path}: model map, schema {node}")
        else:
            _compare(kind.inner, node["additionalProperties"], f"{path}[*]", errors)
    elif kind.tag == "struct":
        assert kind.cls is not None
        _compare_struct(kind.cls, node, path, errors)
    else:
        errors.append(f"{path}: unexpected model kind {kind.tag}")


def _compare_struct(cls: type, node: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if node.get("type") != "object":
        errors.append(f"{path}: model object, schema {node.get('type')}")
        return
    fields = {f.json: f for f in fields_of(cls) if not f.extra}
    properties = node.get("properties") or {}
    for name in sorted(set(fields) ^ set(properties)):
        where = "model" if name in fields else "schema"
        errors.append(f"{path}.{name}: only in the {where} ({cls.__name__})")
    for name in sorted(set(fields) & set(properties)):
        _compare(fields[name].kind, properties[name], f"{path}.{name}", errors)


@pytest.mark.parametrize(
    ("kind", "part", "cls"),
    [
        ("FirmwareSchema", "spec", FirmwareSchemaSpec),
        ("HostFirmwareSettings", "status", HostFirmwareSettingsStatus),
        ("HostFirmwareComponents", "spec", HostFirmwareComponentsSpec),
        ("HostFirmwareComponents", "status", HostFirmwareComponentsStatus),
        ("HostUpdatePolicy", "spec", HostUpdatePolicySpec),
    ],
)
def test_models_and_schema_in_step(kind: str, part: str, cls: type) -> None:
    errors: list[str] = []
    _compare_struct(cls, openapi(kind)["properties"][part], part, errors)
    assert errors == []


def test_in_step_check_detects_drift() -> None:
    node = copy.deepcopy(openapi("HostFirmwareComponents")["properties"]["status"])
    node["properties"]["components"]["items"]["properties"].pop("initialVersion")
    node["properties"]["extra"] = {"type": "string"}
    errors: list[str] = []
    _compare_struct(HostFirmwareComponentsStatus, node, "status", errors)
    assert errors == [
        "status.extra: only in the schema (HostFirmwareComponentsStatus)",
        "status.components[].initialVersion: only in the model (FirmwareComponentStatus)",
    ]


# --- the samples ---------------------------------------------------------------------------


def test_samples_are_consistent_with_each_other() -> None:
    schema = FirmwareSchema.from_dict(sample("FirmwareSchema"))
    assert schema.metadata.name == schema_name(schema.spec.schema)
    hfs = HostFirmwareSettings.from_dict(sample("HostFirmwareSettings"))
    assert validate_settings(hfs.spec.settings, schema.spec.schema) == []
    assert type(hfs.spec.settings["NetworkBootRetryCount"]) is int
    hfc = HostFirmwareComponents.from_dict(sample("HostFirmwareComponents"))
    assert component_name_error(hfc.spec.updates) is None
    assert firmware_update_url_errors(hfc.spec.updates) == []
    assert all("192.0.2." in u.url for u in hfc.spec.updates)
    hup = HostUpdatePolicy.from_dict(sample("HostUpdatePolicy"))
    names = {hfs.metadata.name, hfc.metadata.name, hup.metadata.name}
    host = next(
        d
        for d in load_documents((SAMPLES / "baremetalhost.yaml").read_text())
        if d["kind"] == "BareMetalHost"
    )
    assert names == {host["metadata"]["name"]}  # same name as their host


# --- the Kubernetes API emulator -----------------------------------------------------------


def _fixture(request: pytest.FixtureRequest, name: str) -> Any:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.skip(f"fixture {name} (tests/fixtures/kube.py, the API emulator) is not available")


@pytest.fixture
def objects(request: pytest.FixtureRequest) -> Any:
    kubernetes = pytest.importorskip("kubernetes")
    api = _fixture(request, "kube_api_client")
    return kubernetes.client.CustomObjectsApi(api)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, objects: Any) -> str:
    name: str = _fixture(request, "kube_namespace")
    return name


def _create(objects: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURALS[body["kind"]], body
    )
    return created


@pytest.mark.parametrize("kind", sorted(SAMPLE_FILES))
def test_sample_is_accepted(kind: str, objects: Any, namespace: str) -> None:
    created = _create(objects, namespace, sample(kind))
    assert created["metadata"]["uid"]
    assert created["spec"] == sample(kind)["spec"]


def test_crds_are_served_with_their_short_names(request: pytest.FixtureRequest) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    api = _fixture(request, "kube_api_client")
    listing = kubernetes.client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION)
    served = {r.name: r for r in listing.resources}
    for plural in PLURALS.values():
        assert plural in served, plural
        assert served[plural].namespaced is True
    assert served["hostfirmwaresettings"].short_names == ["hfs"]
    assert "hostfirmwaresettings/status" in served
    assert "hostfirmwarecomponents/status" in served
    assert "firmwareschemas/status" not in served


def test_models_round_trip_through_the_api(objects: Any, namespace: str) -> None:
    hfs = HostFirmwareSettings.from_dict(sample("HostFirmwareSettings"))
    created = HostFirmwareSettings.from_dict(_create(objects, namespace, hfs.to_dict()))
    assert created.spec == hfs.spec
    assert type(created.spec.settings["NetworkBootRetryCount"]) is int
    hfc = HostFirmwareComponents(
        metadata=hfs.metadata,
        spec=HostFirmwareComponentsSpec(updates=(FirmwareUpdate("bios", "http://192.0.2.1/b"),)),
    )
    # status.updates is null while nil (Go's shape): the API server drops it, not rejects it.
    created_hfc = HostFirmwareComponents.from_dict(_create(objects, namespace, hfc.to_dict()))
    assert created_hfc.spec == hfc.spec
    policy = HostUpdatePolicy(
        metadata=hfs.metadata, spec=HostUpdatePolicySpec(firmware_updates="onReboot")
    )
    created_policy = HostUpdatePolicy.from_dict(_create(objects, namespace, policy.to_dict()))
    assert created_policy.spec == policy.spec


def test_status_is_written_through_the_subresource(objects: Any, namespace: str) -> None:
    body = sample("HostFirmwareSettings")
    created = _create(objects, namespace, body)
    created["status"] = {
        "settings": {"ProcVirtualization": "Disabled"},
        "schema": {"name": "schema-866cab78", "namespace": namespace},
    }
    updated = objects.replace_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "hostfirmwaresettings", body["metadata"]["name"], created
    )
    hfs = HostFirmwareSettings.from_dict(updated)
    assert hfs.status.settings == {"ProcVirtualization": "Disabled"}
    assert hfs.status.schema is not None and hfs.status.schema.name == "schema-866cab78"


def _broken(kind: str, mutate: Any) -> dict[str, Any]:
    body = copy.deepcopy(sample(kind))
    mutate(body)
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            _broken("HostFirmwareSettings", lambda b: b["spec"]["settings"].update(X=True)),
            "spec.settings.X",
            id="hfs-boolean-value",
        ),
        pytest.param(
            _broken("HostFirmwareSettings", lambda b: b["spec"]["settings"].update(X={"a": 1})),
            "spec.settings.X",
            id="hfs-object-value",
        ),
        pytest.param(
            _broken("HostFirmwareSettings", lambda b: b["spec"].pop("settings")),
            "spec.settings",
            id="hfs-settings-required",
        ),
        pytest.param(
            _broken(
                "FirmwareSchema",
                lambda b: b["spec"]["schema"]["SecureBoot"].update(attribute_type="Float"),
            ),
            "spec.schema.SecureBoot.attribute_type",
            id="schema-attribute-type-enum",
        ),
        pytest.param(
            _broken(
                "FirmwareSchema",
                lambda b: b["spec"]["schema"]["NetworkBootRetryCount"].update(lower_bound="0"),
            ),
            "spec.schema.NetworkBootRetryCount.lower_bound",
            id="schema-bound-integer",
        ),
        pytest.param(
            _broken("FirmwareSchema", lambda b: b["spec"].pop("schema")),
            "spec.schema",
            id="schema-required",
        ),
        pytest.param(
            _broken("HostFirmwareComponents", lambda b: b["spec"]["updates"][0].pop("url")),
            "spec.updates[0].url",
            id="hfc-url-required",
        ),
        pytest.param(
            _broken("HostFirmwareComponents", lambda b: b["spec"].pop("updates")),
            "spec.updates",
            id="hfc-updates-required",
        ),
        pytest.param(
            _broken("HostUpdatePolicy", lambda b: b["spec"].update(firmwareSettings="always")),
            "spec.firmwareSettings",
            id="hup-enum",
        ),
    ],
)
def test_invalid_is_rejected(
    body: dict[str, Any], field: str, objects: Any, namespace: str
) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    with pytest.raises(kubernetes.client.exceptions.ApiException) as info:
        _create(objects, namespace, body)
    assert info.value.status == 422
    assert field in info.value.body
