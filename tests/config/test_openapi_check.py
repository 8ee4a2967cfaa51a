"""The structural checker used on rendered manifests does catch what a real API server
rejects (so its silence on config/ means something)."""

from __future__ import annotations

from typing import Any

from tests.config.openapi import problems


def deployment(**container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", **container}]},
            },
        },
    }


def test_well_formed_object_has_no_problems() -> None:
    assert problems(deployment(ports=[{"containerPort": 1, "name": "p"}])) == []


def test_misspelt_field_is_found() -> None:
    assert problems(deployment(securityContex={"runAsNonRoot": True})) == [
        "Deployment.spec.template.spec.containers[0].securityContex: unknown field for V1Container"
    ]


def test_wrong_scalar_type_is_found() -> None:
    assert problems(deployment(ports=[{"containerPort": "80"}])) == [
        "Deployment.spec.template.spec.containers[0].ports[0].containerPort: expected int, got str"
    ]


def test_missing_required_field_is_found() -> None:
    obj = deployment()
    del obj["spec"]["template"]["spec"]["containers"][0]["name"]
    assert problems(obj) == [
        "Deployment.spec.template.spec.containers[0]: required field name missing"
    ]


def test_unknown_kind_is_reported() -> None:
    assert problems({"apiVersion": "v9", "kind": "Nope", "metadata": {"name": "x"}}) == [
        "no API type known for v9 Nope"
    ]
