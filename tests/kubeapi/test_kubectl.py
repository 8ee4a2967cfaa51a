"""The real kubectl against the emulator: tables, apply (create then update), describe,
watch and delete."""

from __future__ import annotations

import base64
import json
import queue
import subprocess
import threading
import time
from typing import Any

import pytest
import yaml
from kubernetes import client

from testenv.kubeapi import KubeAPIServer
from tests.fixtures.kube import KubectlRunner, kubectl_command

from .helpers import GROUP, PLURAL, VERSION, widget, widget_crd

pytestmark = pytest.mark.kubectl


@pytest.fixture
def widgets(kube_server: KubeAPIServer) -> KubeAPIServer:
    kube_server.install_crd(widget_crd())
    return kube_server


def put_widget(api: client.ApiClient, ns: str, name: str, state: str, **spec: Any) -> None:
    co = client.CustomObjectsApi(api)
    co.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, widget(name, **spec))
    co.patch_namespaced_custom_object_status(
        GROUP, VERSION, ns, PLURAL, name, {"status": {"state": state}}
    )


def test_get_shows_printer_columns_in_order(
    widgets: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    kubectl: KubectlRunner,
) -> None:
    put_widget(kube_api_client, kube_namespace, "w1", "ready", online=False, size=7)
    lines = kubectl("get", PLURAL, "-n", kube_namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "ONLINE", "AGE"]
    assert lines[1].split()[:3] == ["w1", "ready", "false"]
    wide = kubectl("get", "wd", "-n", kube_namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "STATE", "ONLINE", "SIZE", "AGE"]
    assert wide[1].split()[:4] == ["w1", "ready", "false", "7"]
    by_category = kubectl("get", "gadgets", "-n", kube_namespace).stdout
    assert "w1" in by_category


def test_get_json_and_jsonpath(
    widgets: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    kubectl: KubectlRunner,
) -> None:
    put_widget(kube_api_client, kube_namespace, "j1", "ready")
    obj = json.loads(kubectl("get", "widget", "j1", "-n", kube_namespace, "-o", "json").stdout)
    assert obj["spec"]["mode"] == "metadata" and obj["status"]["state"] == "ready"
    got = kubectl("get", "wd", "j1", "-n", kube_namespace, "-o", "jsonpath={.spec.online}").stdout
    assert got == "true"


def test_apply_creates_then_updates_a_secret_and_a_custom_resource(
    widgets: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    kubectl: KubectlRunner,
) -> None:
    def manifest(password: str, online: bool) -> str:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "type": "Opaque",
            "stringData": {"password": password},
            "data": {"user": "YWRtaW4="},
        }
        cr = widget("applied", online=online, labels={"a": "b"}, tags=["x"])
        return yaml.safe_dump_all([secret, cr])

    first = kubectl("apply", "-n", kube_namespace, "-f", "-", input=manifest("one", True)).stdout
    assert "secret/creds created" in first and "widget.example.com/applied created" in first
    second = kubectl("apply", "-n", kube_namespace, "-f", "-", input=manifest("two", False)).stdout
    assert "secret/creds configured" in second and "widget.example.com/applied configured" in second
    core = client.CoreV1Api(kube_api_client)
    data = core.read_namespaced_secret("creds", kube_namespace).data
    assert {k: base64.b64decode(v) for k, v in data.items()} == {
        "password": b"two",
        "user": b"admin",
    }
    cr = client.CustomObjectsApi(kube_api_client).get_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, "applied"
    )
    assert cr["spec"]["online"] is False and cr["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in cr["metadata"]["annotations"]
    third = kubectl("apply", "-n", kube_namespace, "-f", "-", input=manifest("two", False)).stdout
    assert "widget.example.com/applied unchanged" in third


def test_apply_reports_schema_errors(
    widgets: KubeAPIServer, kube_namespace: str, kubectl: KubectlRunner
) -> None:
    bad = widget("bad", mode="sometimes")
    proc = kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0
    assert 'Unsupported value: "sometimes": supported values: "metadata", "disabled"' in proc.stderr
    unknown = widget("unk", bogus=1)
    proc = kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(unknown), check=False)
    assert proc.returncode != 0 and 'unknown field "spec.bogus"' in proc.stderr


def test_describe(
    widgets: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    kubectl: KubectlRunner,
) -> None:
    put_widget(kube_api_client, kube_namespace, "d1", "ready", mac="00:11:22:33:44:55")
    uid = client.CustomObjectsApi(kube_api_client).get_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, "d1"
    )["metadata"]["uid"]
    client.CoreV1Api(kube_api_client).create_namespaced_event(
        kube_namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="d1.1"),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}",
                kind="Widget",
                name="d1",
                namespace=kube_namespace,
                uid=uid,
            ),
            reason="Registered",
            message="hello from the test",
            type="Normal",
            source=client.V1EventSource(component="test"),
            count=1,
        ),
    )
    out = kubectl("describe", "widget", "d1", "-n", kube_namespace).stdout
    assert "Name:         d1" in out
    assert "Mac:" in out and "00:11:22:33:44:55" in out
    assert "Registered" in out and "hello from the test" in out


def test_get_watch_shows_an_update(
    widgets: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    kubectl: KubectlRunner,
) -> None:
    put_widget(kube_api_client, kube_namespace, "watched", "ready")
    argv = kubectl_command(kubectl, widgets, "get", PLURAL, "-n", kube_namespace, "-w")
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=kubectl.env
    )  # type: ignore[attr-defined]
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True
    ).start()

    def expect(pred: Any, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if pred(line.split()):
                return line
        raise AssertionError(f"kubectl get -w never printed the expected line; saw {seen}")

    try:
        expect(lambda f: f[:3] == ["watched", "ready", "true"])
        client.CustomObjectsApi(kube_api_client).patch_namespaced_custom_object_status(
            GROUP, VERSION, kube_namespace, PLURAL, "watched", {"status": {"state": "provisioning"}}
        )
        expect(lambda f: f[:3] == ["watched", "provisioning", "true"])
    finally:
        proc.kill()
        proc.wait(5)


def test_delete(
    widgets: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    kubectl: KubectlRunner,
) -> None:
    put_widget(kube_api_client, kube_namespace, "del", "ready")
    out = kubectl("delete", "widget", "del", "-n", kube_namespace).stdout
    assert 'widget.example.com "del" deleted' in out
    proc = kubectl("get", "widget", "del", "-n", kube_namespace, check=False)
    assert proc.returncode != 0 and "NotFound" in proc.stderr


def test_builtin_resources_through_kubectl(kube_namespace: str, kubectl: KubectlRunner) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg"},
        "data": {"a": "1", "b": "2"},
    }
    kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(cm))
    cm["data"] = {"a": "1"}
    assert (
        "configured"
        in kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(cm)).stdout
    )
    got = json.loads(kubectl("get", "cm", "cfg", "-n", kube_namespace, "-o", "json").stdout)
    assert got["data"] == {"a": "1"}
    header = kubectl("get", "configmaps", "-n", kube_namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "DATA", "AGE"]


def test_imperative_create_sends_protobuf_that_the_emulator_reads(
    kube_api_client: client.ApiClient, kubectl: KubectlRunner
) -> None:
    ns = "imp-" + str(int(time.time() * 1000) % 10**8)
    kubectl("create", "namespace", ns)
    try:
        kubectl("create", "secret", "generic", "s", "--from-literal=user=admin", "-n", ns)
        kubectl("create", "configmap", "c", "--from-literal=k=v", "-n", ns)
        kubectl("create", "serviceaccount", "sa", "-n", ns)
        core = client.CoreV1Api(kube_api_client)
        secret = core.read_namespaced_secret("s", ns)
        assert secret.type == "Opaque" and base64.b64decode(secret.data["user"]) == b"admin"
        assert core.read_namespaced_config_map("c", ns).data == {"k": "v"}
        assert core.read_namespaced_service_account("sa", ns).metadata.name == "sa"
        proc = kubectl("create", "deployment", "d", "--image=x", "-n", ns, check=False)
        assert proc.returncode != 0 and "send JSON instead" in proc.stderr
    finally:
        kubectl("delete", "namespace", ns)


def test_project_crd_columns(
    kube_server: KubeAPIServer, kube_namespace: str, kubectl: KubectlRunner
) -> None:
    rt = kube_server.store.types.get(("metal3.io", "baremetalhosts"))
    if rt is None or not rt.schemas.get(rt.storage_version):
        pytest.skip("config/crd/bases has no BareMetalHost CRD yet")
    columns = [
        c["name"].upper() for c in rt.printer_columns[rt.storage_version] if not c.get("priority")
    ]
    header = kubectl("get", "baremetalhosts", "-n", kube_namespace).stderr
    assert "No resources found" in header
    host = {
        "apiVersion": f"metal3.io/{rt.storage_version}",
        "kind": "BareMetalHost",
        "metadata": {"name": "h0"},
        "spec": {"online": True, "bootMACAddress": "52:54:00:12:34:56"},
    }
    kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(host))
    lines = kubectl("get", "bmh", "-n", kube_namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", *" ".join(columns).split()]
    assert lines[1].split()[0] == "h0"
