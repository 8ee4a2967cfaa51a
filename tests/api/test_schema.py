"""bmo.api.schema on a schema exercising every keyword: CRD-time checks, pruning, defaulting
and validation messages, word for word as the apiserver gives them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bmo.api.schema import apply_defaults, check_structural, prune, validate
from bmo.api.schema.validation import is_date_time
from tests.kubeapi.helpers import WIDGET_CRD, widget

SCHEMA: dict[str, Any] = WIDGET_CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def messages(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate(obj, SCHEMA)]


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


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2024-01-02T03:04:05Z", True),
        ("2024-01-02t03:04:05.123456+01:00", True),
        ("2024-01-02T03:04:05.9z", True),
        ("2024-01-02", False),
        ("2024-01-02T03:04:05", False),
        ("2024-01-02 03:04:05Z", False),
        ("2024-01-02T03:04Z", False),
        ("2024-01-02T03:04:05+0100", False),
        ("2024-02-30T03:04:05Z", False),
        ("2024-01-02T24:00:00Z", False),
        ("20240102T030405Z", False),
        ("yesterday", False),
    ],
)
def test_date_time_format_is_kube_openapis(text: str, valid: bool) -> None:
    assert is_date_time(text) is valid
