"""API semantics the shared checks do not cover, plus the session fixtures themselves."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client

from testenv.kubeapi import Faults, KubeAPIServer, yamlload
from testenv.kubeapi.patches import json_patch, merge_patch, strategic_merge_patch

from .helpers import CRD_DIR, GROUP, PLURAL, VERSION, widget, widget_crd

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[KubeAPIServer]:
    with KubeAPIServer() as srv:
        srv.install_crd(widget_crd())
        yield srv


@pytest.fixture
def api(server: KubeAPIServer) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    cfg.host = server.url
    with client.ApiClient(cfg) as a:
        yield a


def co(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def make_ns(api: client.ApiClient, name: str) -> None:
    core(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))


def get_w(api: client.ApiClient, ns: str, name: str) -> dict[str, Any]:
    return co(api).get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)


def status_of(fn: Any) -> int:
    with pytest.raises(client.ApiException) as e:
        fn()
    return int(e.value.status)


# ---------------------------------------------------------------- objects
def test_generate_name(api: client.ApiClient) -> None:
    body = widget("")
    body["metadata"] = {"generateName": "gen-"}
    out = co(api).create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert out["metadata"]["name"].startswith("gen-") and len(out["metadata"]["name"]) == 9


def test_invalid_name_and_labels_are_422(api: client.ApiClient) -> None:
    assert (
        status_of(
            lambda: co(api).create_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL, widget("Bad_Name")
            )
        )
        == 422
    )
    body = widget("okname", labels={"k": "not valid!"})
    assert (
        status_of(
            lambda: co(api).create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
        )
        == 422
    )


def test_update_of_custom_resource_needs_resource_version(api: client.ApiClient) -> None:
    co(api).create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("u1"))
    assert (
        status_of(
            lambda: co(api).replace_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL, "u1", widget("u1")
            )
        )
        == 422
    )
    core(api).create_namespaced_secret(
        "default", client.V1Secret(metadata=client.V1ObjectMeta(name="s1"), data={"a": "YQ=="})
    )
    out = core(api).replace_namespaced_secret(
        "s1",
        "default",
        client.V1Secret(metadata=client.V1ObjectMeta(name="s1"), string_data={"b": "x"}),
    )
    assert out.data == {"b": "eA=="}, "built-ins allow unconditional updates"


def test_noop_write_keeps_resource_version(api: client.ApiClient) -> None:
    created = co(api).create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, widget("n1")
    )
    same = co(api).patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "n1", {"spec": {"online": True}}
    )
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_status_put_only_changes_status(api: client.ApiClient) -> None:
    created = co(api).create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, widget("st")
    )
    body = {**created, "spec": {"online": False}, "status": {"state": "ready"}}
    out = co(api).replace_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "st", body
    )
    assert out["status"] == {"state": "ready"} and out["spec"]["online"] is True
    assert out["metadata"]["generation"] == 1


def test_dry_run_persists_nothing(server: KubeAPIServer) -> None:
    url = f"{server.url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}?dryRun=All"
    resp = requests.post(url, json=widget("dry"), timeout=5)
    assert resp.status_code == 201 and resp.json()["spec"]["mode"] == "metadata"
    assert (
        requests.get(
            f"{server.url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/dry", timeout=5
        ).status_code
        == 404
    )


def test_limit_and_continue(api: client.ApiClient) -> None:
    for i in range(5):
        co(api).create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget(f"p{i}"))
    names, token = [], None
    while True:
        page = co(api).list_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, limit=2, _continue=token
        )
        names += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == [f"p{i}" for i in range(5)]


def test_secret_string_data_merges_and_is_dropped(api: client.ApiClient) -> None:
    out = core(api).create_namespaced_secret(
        "default",
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="sd"),
            data={"a": base64.b64encode(b"1").decode()},
            string_data={"b": "2"},
        ),
    )
    assert {k: base64.b64decode(v) for k, v in out.data.items()} == {"a": b"1", "b": b"2"}
    assert out.string_data is None and out.type == "Opaque"


# ---------------------------------------------------------------- deletion
def test_namespace_deletion_waits_for_finalizers(api: client.ApiClient) -> None:
    make_ns(api, "doomed")
    co(api).create_namespaced_custom_object(GROUP, VERSION, "doomed", PLURAL, widget("plain"))
    body = widget("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    co(api).create_namespaced_custom_object(GROUP, VERSION, "doomed", PLURAL, body)
    core(api).delete_namespace("doomed")
    assert core(api).read_namespace("doomed").status.phase == "Terminating"
    assert status_of(lambda: get_w(api, "doomed", "plain")) == 404
    assert get_w(api, "doomed", "held")["metadata"]["deletionTimestamp"]
    assert (
        status_of(
            lambda: core(api).create_namespaced_config_map(
                "doomed", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
            )
        )
        == 403
    )
    co(api).patch_namespaced_custom_object(
        GROUP, VERSION, "doomed", PLURAL, "held", {"metadata": {"finalizers": None}}
    )
    assert status_of(lambda: core(api).read_namespace("doomed")) == 404
    assert status_of(lambda: core(api).delete_namespace("default")) == 403


def test_owner_references_are_garbage_collected(api: client.ApiClient) -> None:
    owner = co(api).create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, widget("owner")
    )
    ref = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    for name in ("dep1", "dep2"):
        core(api).create_namespaced_config_map(
            "default", {"metadata": {"name": name, "ownerReferences": [ref]}}
        )
    co(api).delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "owner")
    assert status_of(lambda: core(api).read_namespaced_config_map("dep1", "default")) == 404
    owner = co(api).create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, widget("owner2")
    )
    ref["uid"], ref["name"] = owner["metadata"]["uid"], "owner2"
    core(api).create_namespaced_config_map(
        "default", {"metadata": {"name": "dep3", "ownerReferences": [ref]}}
    )
    co(api).delete_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "owner2", propagation_policy="Orphan"
    )
    assert not core(api).read_namespaced_config_map("dep3", "default").metadata.owner_references


def test_deleting_a_crd_removes_its_objects(server: KubeAPIServer, api: client.ApiClient) -> None:
    co(api).create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("gone"))
    client.ApiextensionsV1Api(api).delete_custom_resource_definition(f"{PLURAL}.{GROUP}")
    assert status_of(lambda: get_w(api, "default", "gone")) == 404
    assert (GROUP, PLURAL) not in server.store.types
    server.install_crd(widget_crd())
    assert co(api).list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"] == []


# ---------------------------------------------------------------- patches
def test_merge_and_json_patch() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {
        "a": {"c": 2},
        "l": [2],
    }
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3}, {"op": "remove", "path": "/b/c"},
        {"op": "copy", "from": "/a/0", "path": "/b/x"}, {"op": "test", "path": "/a/2", "value": 3},
        {"op": "replace", "path": "/a/0", "value": 0}, {"op": "move", "from": "/b/x", "path": "/y"},
    ]  # fmt: skip
    assert json_patch(doc, ops) == {"a": [0, 2, 3], "b": {}, "y": 1}
    assert doc == {"a": [1, 2], "b": {"c": 1}}, "input untouched"


def test_strategic_merge_patch_merges_keyed_lists() -> None:
    cur = {
        "spec": {
            "containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                {"name": "b", "image": "b:1"},
            ]
        }
    }
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
            "containers": [{"name": "a", "image": "a:2"}, {"name": "c", "image": "c:1"}],
        }
    }
    out = strategic_merge_patch(cur, patch)
    assert [c["name"] for c in out["spec"]["containers"]] == ["b", "a", "c"]
    assert out["spec"]["containers"][1] == {
        "name": "a",
        "image": "a:2",
        "env": [{"name": "X", "value": "1"}],
    }
    out = strategic_merge_patch(out, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "c"]
    assert strategic_merge_patch({"l": [1, 2]}, {"l": [3]}) == {"l": [3]}, "unkeyed lists replace"
    assert strategic_merge_patch({"m": {"a": 1}}, {"m": {"$patch": "replace", "b": 2}}) == {
        "m": {"b": 2}
    }
    assert strategic_merge_patch({"f": ["x", "y"]}, {"$deleteFromPrimitiveList/f": ["x"]}) == {
        "f": ["y"]
    }


def test_strategic_merge_patch_over_http(server: KubeAPIServer, api: client.ApiClient) -> None:
    core(api).create_namespaced_config_map(
        "default", {"metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}}
    )
    resp = requests.patch(
        f"{server.url}/api/v1/namespaces/default/configmaps/cm",
        json={"data": {"a": None, "c": "3"}},
        headers={"Content-Type": "application/strategic-merge-patch+json"},
        timeout=5,
    )
    assert resp.status_code == 200 and resp.json()["data"] == {"b": "2", "c": "3"}
    resp = requests.patch(
        f"{server.url}/api/v1/namespaces/default/configmaps/cm",
        data="apiVersion: v1\nkind: ConfigMap\n",
        headers={"Content-Type": "application/apply-patch+yaml"},
        timeout=5,
    )
    assert resp.status_code == 415


# ---------------------------------------------------------------- discovery and CRD install
def test_discovery_lists_short_names_categories_and_status(server: KubeAPIServer) -> None:
    doc = requests.get(f"{server.url}/apis/{GROUP}/{VERSION}", timeout=5).json()
    res = {r["name"]: r for r in doc["resources"]}
    assert res["widgets"]["shortNames"] == ["wd"] and res["widgets"]["categories"] == ["gadgets"]
    assert res["widgets"]["namespaced"] is True and res["widgets"]["kind"] == "Widget"
    assert res["widgets/status"]["verbs"] == ["get", "patch", "update"]
    groups = requests.get(f"{server.url}/apis", timeout=5).json()["groups"]
    assert {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION} in next(
        g for g in groups if g["name"] == GROUP
    )["versions"]
    index = requests.get(f"{server.url}/openapi/v3", timeout=5).json()["paths"]
    gv = requests.get(
        server.url + index[f"apis/{GROUP}/{VERSION}"]["serverRelativeURL"], timeout=5
    ).json()
    patch_op = gv["paths"][f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}/{{name}}"][
        "patch"
    ]
    assert {
        "name": "fieldValidation",
        "in": "query",
        "schema": {"type": "string", "uniqueItems": True},
    } in patch_op["parameters"]


def test_install_crds_from_dir(tmp_path: Path) -> None:
    with KubeAPIServer() as srv:
        assert srv.install_crds_from_dir(CRD_DIR) == [f"{PLURAL}.{GROUP}"]
        assert srv.install_crds_from_dir(CRD_DIR) == [f"{PLURAL}.{GROUP}"], (
            "installing twice replaces"
        )
        (tmp_path / "multi.yaml").write_text(
            yaml.safe_dump_all([{"kind": "Namespace"}, widget_crd()])
        )
        assert srv.install_crds_from_dir(tmp_path) == [f"{PLURAL}.{GROUP}"]


def test_project_crds_install() -> None:
    bases = REPO / "config" / "crd" / "bases"
    if not any(bases.glob("*.yaml")):
        pytest.skip("config/crd/bases has no CRD YAML yet")
    with KubeAPIServer() as srv:
        names = srv.install_crds_from_dir(bases)
        assert names
        assert all(name.endswith(".metal3.io") for name in names), names


def test_project_crds_accept_the_shared_examples() -> None:
    """The upstream sample manifests kept beside the checkout (``../shared``), when present."""
    bases = REPO / "config" / "crd" / "bases"
    if not any(bases.glob("*.yaml")):
        pytest.skip("config/crd/bases has no CRD YAML yet")
    examples = REPO.parent / "shared" / "reference" / "examples"
    if not examples.is_dir():
        pytest.skip(f"no example manifests at {examples} (they live outside the repository)")
    created = 0
    with KubeAPIServer() as srv:
        srv.install_crds_from_dir(bases)
        for path in sorted(examples.glob("*.yaml")):
            for doc in yamlload.load_all(path.read_text()):
                if not doc:
                    continue
                group, _, version = doc["apiVersion"].rpartition("/")
                rt = next(
                    t
                    for t in srv.store.served_types()
                    if t.kind == doc["kind"] and t.group == group
                )
                srv.store.create(rt, version, "default", doc)
                created += 1
    assert created, f"no manifests in {examples}"


# ---------------------------------------------------------------- the session fixtures
def test_fixtures(
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    kube_faults: Faults,
) -> None:
    assert kube_api_client.configuration.host == kube_server.url
    ns = client.CoreV1Api(kube_api_client).read_namespace(kube_namespace)
    assert ns.status.phase == "Active"
    kube_faults.conflict_next_writes(n=1)
    assert kube_server.faults.describe()["conflictNextWrites"]


def test_fixture_faults_were_cleared(kube_faults: Faults) -> None:
    assert kube_faults.describe()["conflictNextWrites"] == []


def test_namespace_whose_objects_all_go_is_deleted_at_once(api: client.ApiClient) -> None:
    make_ns(api, "short")
    co(api).create_namespaced_custom_object(GROUP, VERSION, "short", PLURAL, widget("only"))
    core(api).delete_namespace("short")
    assert status_of(lambda: core(api).read_namespace("short")) == 404
