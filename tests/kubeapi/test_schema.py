"""Structural schemas: CRD-time checks, pruning, defaulting and validation messages."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from testenv.kubeapi import KubeAPIServer
from testenv.kubeapi.errors import ApiError
from testenv.kubeapi.schema import apply_defaults, check_structural, prune, validate

from .helpers import GROUP, PLURAL, VERSION, WIDGET_CRD, widget, widget_crd

SCHEMA: dict[str, Any] = WIDGET_CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def messages(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate(obj, SCHEMA)]


# ---------------------------------------------------------------- pure functions
def test_valid_widget_has_no_errors() -> None:
    obj = widget(
        "w", mac="00:11:22:33:44:55", size=3, tags=["a"], port="http", when="2024-01-02T03:04:05Z"
    )
    assert messages(obj) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"online": "yes"},
            'spec.online: Invalid value: "string": spec.online in body must be of type boolean: "string"',  # noqa: E501
        ),
        (
            {"mode": "x"},
            'spec.mode: Unsupported value: "x": supported values: "metadata", "disabled"',
        ),
        (
            {"mac": "zz"},
            "spec.mac: Invalid value: \"zz\": spec.mac in body should match '^([0-9a-f]{2}:){5}[0-9a-f]{2}$'",  # noqa: E501
        ),
        (
            {"size": 0},
            "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1",
        ),
        (
            {"size": 11},
            "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
        ),
        (
            {"name": "a"},
            'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long',
        ),
        ({"name": "abcdefghij"}, "spec.name: Too long: may not be longer than 8"),
        (
            {"tags": []},
            "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
        ),
        ({"tags": ["a", "b", "c", "d"]}, "spec.tags: Too many: 4: must have at most 3 items"),
        ({"tags": ["a", "a"]}, 'spec.tags[1]: Duplicate value: "a"'),
        (
            {"port": 1.5},
            'spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number"',  # noqa: E501
        ),
        (
            {"when": "yesterday"},
            'spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"',  # noqa: E501
        ),
        (
            {"labels": {"a": 1}},
            'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',  # noqa: E501
        ),
        (
            {"disks": [{"name": "a"}, {"name": "a"}]},
            "spec.disks[1]: Duplicate value: {'name': 'a'}",
        ),
        ({"disks": [{}]}, "spec.disks[0].name: Required value"),
    ],
)
def test_validation_messages(spec: dict[str, Any], expected: str) -> None:
    obj = widget("w")
    obj["spec"].update(spec)
    assert expected in messages(obj)


def test_required_and_nullable() -> None:
    obj = widget("w", ratio=None)
    del obj["spec"]["online"]
    assert messages(obj) == ["spec.online: Required value"]


def test_pruning_reports_and_drops_unknown_fields_but_keeps_preserved_ones() -> None:
    obj = widget("w", bogus=1, image={"url": "u", "nope": True}, extra={"any": {"thing": 1}})
    obj["status"] = {"free": {"form": True}}
    obj["metadata"]["notAField"] = "x"
    obj["topLevel"] = 1
    unknown = prune(obj, SCHEMA)
    assert sorted(unknown) == ["metadata.notAField", "spec.bogus", "spec.image.nope", "topLevel"]
    assert obj["spec"]["image"] == {"url": "u"}
    assert obj["spec"]["extra"] == {"any": {"thing": 1}}
    assert obj["status"] == {"free": {"form": True}}
    assert "topLevel" not in obj


def test_null_for_non_nullable_field_is_dropped_then_defaulted() -> None:
    obj = widget("w", mode=None, ratio=None)
    prune(obj, SCHEMA)
    apply_defaults(obj, SCHEMA)
    assert obj["spec"]["mode"] == "metadata"
    assert obj["spec"]["ratio"] is None


def test_defaults_apply_inside_present_objects_and_list_items_only() -> None:
    obj = widget("w", disks=[{"name": "a"}, {"name": "b", "sizeGiB": 5}], image={"url": "u"})
    apply_defaults(obj, SCHEMA)
    assert obj["spec"]["mode"] == "metadata"
    assert obj["spec"]["disks"] == [{"name": "a", "sizeGiB": 10}, {"name": "b", "sizeGiB": 5}]
    assert obj["spec"]["image"] == {"url": "u", "format": "qcow2"}
    bare = widget("w")
    apply_defaults(bare, SCHEMA)
    assert "image" not in bare["spec"], "no default for the absent parent: nothing to fill"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda s: s["properties"]["spec"]["properties"]["online"].pop("type"),
            "properties[online].type: Required value",
        ),
        (lambda s: s["properties"]["spec"].__setitem__("x-foo", 1), 'unknown field "x-foo"'),
        (lambda s: s["properties"]["spec"].__setitem__("$ref", "#/x"), "$ref: Forbidden"),
        (
            lambda s: s["properties"]["spec"]["properties"]["tags"].__setitem__(
                "uniqueItems", True
            ),
            "uniqueItems cannot be set to true",
        ),
        (
            lambda s: s["properties"]["spec"]["properties"]["mac"].__setitem__("pattern", "(["),
            "must be a valid regular expression",
        ),
        (
            lambda s: s["properties"]["spec"]["properties"]["tags"].pop("items"),
            "properties[tags].items: Required value",
        ),
        (lambda s: s.__setitem__("type", "array"), "must be object at the root"),
    ],
)
def test_non_structural_schemas_are_rejected(mutate: Any, fragment: str) -> None:
    schema = copy.deepcopy(SCHEMA)
    mutate(schema)
    errs = [str(e) for e in check_structural(schema, "spec.versions[0].schema.openAPIV3Schema")]
    assert any(fragment in e for e in errs), errs


def test_the_test_schema_itself_is_structural() -> None:
    assert check_structural(SCHEMA, "root") == []


# ---------------------------------------------------------------- through the API
@pytest.fixture(scope="module")
def server() -> Iterator[KubeAPIServer]:
    with KubeAPIServer() as srv:
        srv.install_crd(widget_crd())
        yield srv


@pytest.fixture
def co(server: KubeAPIServer) -> Iterator[client.CustomObjectsApi]:
    cfg = client.Configuration()
    cfg.host = server.url
    with client.ApiClient(cfg) as api:
        yield client.CustomObjectsApi(api)


def test_invalid_create_is_a_422_status_with_causes(co: client.CustomObjectsApi) -> None:
    body = widget("bad", mode="x", mac="zz")
    del body["spec"]["online"]
    with pytest.raises(client.ApiException) as e:
        co.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert e.value.status == 422
    import json

    status = json.loads(e.value.body)
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    assert status["message"].startswith('Widget.example.com "bad" is invalid: [')
    causes = {c["field"]: c for c in status["details"]["causes"]}
    assert causes["spec.online"]["message"] == "Required value"
    assert causes["spec.online"]["reason"] == "FieldValueRequired"
    assert (
        causes["spec.mode"]["message"]
        == 'Unsupported value: "x": supported values: "metadata", "disabled"'
    )
    assert causes["spec.mac"]["reason"] == "FieldValueInvalid"


def test_defaults_and_pruning_apply_on_create_and_update(co: client.CustomObjectsApi) -> None:
    created = co.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, widget("dp", junk=1, image={"url": "u"})
    )
    assert created["spec"]["mode"] == "metadata"
    assert created["spec"]["image"]["format"] == "qcow2"
    assert "junk" not in created["spec"]
    patched = co.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "dp",
        {"spec": {"mode": None, "disks": [{"name": "d"}], "more": 2}},
    )
    assert patched["spec"]["mode"] == "metadata", "removed field defaulted again on update"
    assert patched["spec"]["disks"] == [{"name": "d", "sizeGiB": 10}]
    assert "more" not in patched["spec"]


def test_field_validation_strict_rejects_unknown_fields(server: KubeAPIServer) -> None:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"{server.url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}?fieldValidation=Strict",
        data=json.dumps(widget("strict", junk=1)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400
    assert 'unknown field "spec.junk"' in json.loads(e.value.read())["message"]


def test_non_structural_crd_is_rejected_through_the_api(server: KubeAPIServer) -> None:
    crd = widget_crd()
    crd["metadata"]["name"] = "gizmos.example.com"
    crd["spec"]["names"] = {"plural": "gizmos", "kind": "Gizmo"}
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "x"
    ] = {}
    with pytest.raises(ApiError) as e:
        server.install_crd(crd)
    assert e.value.code == 422
    assert "properties[x].type: Required value" in e.value.message
