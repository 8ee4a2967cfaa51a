"""The emulator enforces structural schemas on every write: 422s with causes, defaults and
pruning on create and update, strict field validation, and non-structural CRDs refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from testenv.kubeapi import KubeAPIServer
from testenv.kubeapi.errors import ApiError

from .helpers import GROUP, PLURAL, VERSION, widget, widget_crd


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
