"""``bmo explain`` end to end: the Kubernetes API emulator through the real client, and a real
Ironic whose node carries a real ``last_error``."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bmo.api.codec import format_time
from bmo.api.constants import API_GROUP, API_VERSION, BMH_KIND, BMH_PLURAL, GROUP_VERSION
from bmo.cli import main
from testenv.kubeapi import KubeAPIServer
from tests.fixtures.ironic import IronicFixture, unique_name

NODE_DEADLINE = 60.0
SECRET_PASSWORD = "pw-" + uuid.uuid4().hex
"""A value that must never be printed: the credentials Secret's and the node's password."""


@pytest.fixture(autouse=True)
def no_ironic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests start without Ironic settings; the host's own /opt/metal3 is never read."""
    monkeypatch.delenv("IRONIC_ENDPOINT", raising=False)
    monkeypatch.setenv("METAL3_AUTH_ROOT_DIR", str(tmp_path / "no-auth"))
    for name in ("IRONIC_CLIENT_CERT_FILE", "IRONIC_CLIENT_PRIVATE_KEY_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "absent.pem"))
    # A CA file that is set must exist; the tests' Ironic is plain HTTP, so any file does.
    (tmp_path / "ca.pem").write_text("")
    monkeypatch.setenv("IRONIC_CACERT_FILE", str(tmp_path / "ca.pem"))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def create_host(
    api: client.ApiClient, namespace: str, name: str, status: dict[str, Any]
) -> dict[str, Any]:
    """Create a BareMetalHost and set its status through the status subresource."""
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": GROUP_VERSION,
        "kind": BMH_KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "online": True,
            "bootMACAddress": "52:54:00:00:00:01",
            "bmc": {
                "address": "redfish+http://127.0.0.1:9/redfish/v1/Systems/1",
                "credentialsName": f"{name}-bmc",
            },
        },
    }
    custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, BMH_PLURAL, body)
    full_status = {
        "operationalStatus": "OK",
        "errorMessage": "",
        "errorCount": 0,
        "poweredOn": False,
        "provisioningFailCount": 0,
        "provisioning": {"ID": "", "state": ""},
        **status,
    }
    result: dict[str, Any] = custom.patch_namespaced_custom_object_status(
        API_GROUP, API_VERSION, namespace, BMH_PLURAL, name, {"status": full_status}
    )
    return result


def create_event(
    api: client.ApiClient,
    namespace: str,
    host: str,
    reason: str,
    message: str,
    when: datetime,
    *,
    type_: str = "Warning",
    kind: str = BMH_KIND,
) -> None:
    client.CoreV1Api(api).create_namespaced_event(
        namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{reason.lower()}-"),
            involved_object=client.V1ObjectReference(
                kind=kind, name=host, namespace=namespace, api_version=GROUP_VERSION
            ),
            reason=reason,
            message=message,
            type=type_,
            count=1,
            first_timestamp=when,
            last_timestamp=when,
            source=client.V1EventSource(component="metal3-baremetal-controller"),
        ),
    )


def create_secret(api: client.ApiClient, namespace: str, name: str) -> None:
    client.CoreV1Api(api).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name),
            string_data={"username": "admin", "password": SECRET_PASSWORD},
        ),
    )


def explain_cli(
    capsys: pytest.CaptureFixture[str], kube_server: KubeAPIServer, *args: str
) -> tuple[int, str, str]:
    code = main(["explain", *args, "--kube-url", kube_server.url])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def registration_error_status(node_id: str = "", message: str = "") -> dict[str, Any]:
    return {
        "operationalStatus": "error",
        "errorType": "registration error",
        "errorMessage": message or "Failed to get power state for node",
        "errorCount": 2,
        "lastUpdated": format_time(datetime.now(UTC)),
        "provisioning": {"ID": node_id, "state": "registering"},
    }


# --- Kubernetes side ------------------------------------------------------------------------


def test_explains_a_host_in_error_with_its_events(
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_host(
        kube_api_client,
        kube_namespace,
        "worker-0",
        {
            "operationalStatus": "error",
            "errorType": "inspection error",
            "errorMessage": "Inspection failed: no answer from the agent",
            "errorCount": 2,
            "lastUpdated": format_time(datetime.now(UTC)),
            "provisioning": {"ID": "", "state": "inspecting"},
        },
    )
    create_secret(kube_api_client, kube_namespace, "worker-0-bmc")
    now = datetime.now(UTC)
    create_event(
        kube_api_client,
        kube_namespace,
        "worker-0",
        "InspectionError",
        "first",
        now - timedelta(minutes=2),
    )
    create_event(
        kube_api_client,
        kube_namespace,
        "worker-0",
        "InspectionStarted",
        "second",
        now - timedelta(minutes=1),
        type_="Normal",
    )
    create_event(kube_api_client, kube_namespace, "worker-1", "Other", "not this host", now)
    create_event(kube_api_client, kube_namespace, "worker-0", "Pod", "not a host", now, kind="Pod")

    code, out, err = explain_cli(capsys, kube_server, f"{kube_namespace}/worker-0", "--no-ironic")

    assert code == 0, err
    assert "State:              inspecting" in out
    assert "Error:              inspection error: Inspection failed: no answer" in out
    assert "bmo retries with restart in about 3m (error 2, backoff 2-4 min)" in out
    assert "Ironic node: skipped" in out
    assert f"credentials Secret {kube_namespace}/worker-0-bmc (present)" in out
    assert out.index("InspectionError: first") < out.index("InspectionStarted: second")
    assert "not this host" not in out
    assert "not a host" not in out
    assert SECRET_PASSWORD not in out


def test_json_output_parses(
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_host(
        kube_api_client,
        kube_namespace,
        "worker-0",
        registration_error_status(
            message="BMC CredentialsName secret doesn't exist The BMC secret "
            f"{kube_namespace}/worker-0-bmc does not exist"
        ),
    )
    code, out, err = explain_cli(
        capsys, kube_server, f"{kube_namespace}/worker-0", "--no-ironic", "-o", "json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["state"] == "registering"
    assert doc["credentials_presence"] == "missing"
    assert doc["diagnosis"] == (
        f"Credentials Secret {kube_namespace}/worker-0-bmc does not exist: create it with keys "
        "username and password"
    )
    assert doc["next_retry"]["kind"] == "poll"


def test_missing_host_exits_1_with_a_clear_message(
    kube_server: KubeAPIServer, kube_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = explain_cli(capsys, kube_server, f"{kube_namespace}/nope", "--no-ironic")
    assert code == 1
    assert out == ""
    assert f"BareMetalHost {kube_namespace}/nope not found" in err


@pytest.mark.parametrize("target", ["worker-0", "/worker-0", "ns/", "a/b/c"])
def test_bad_target_is_a_usage_error(
    kube_server: KubeAPIServer, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = explain_cli(capsys, kube_server, target)
    assert code == 2
    assert "expected NAMESPACE/NAME" in err


def test_unreachable_kubernetes_api_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code = main(["explain", "ns/host", "--kube-url", url, "--no-ironic"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot reach the Kubernetes API at {url}" in err


def test_ironic_not_configured_is_a_line_not_a_failure(
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_host(kube_api_client, kube_namespace, "worker-0", registration_error_status())
    code, out, err = explain_cli(capsys, kube_server, f"{kube_namespace}/worker-0")
    assert code == 0, err
    assert "Ironic node: not configured" in out
    assert "IRONIC_ENDPOINT is not set" in out


def test_unreachable_ironic_is_a_line_not_a_failure(
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("IRONIC_ENDPOINT", f"http://127.0.0.1:{closed_port()}/v1/")
    create_host(kube_api_client, kube_namespace, "worker-0", registration_error_status())
    code, out, err = explain_cli(capsys, kube_server, f"{kube_namespace}/worker-0")
    assert code == 0, err
    assert "Ironic node: unavailable (looked up " in out
    assert "cannot reach Ironic" in out


# --- a real Ironic --------------------------------------------------------------------------


@pytest.fixture
def failed_node(ironic: IronicFixture) -> Iterator[dict[str, Any]]:
    """A redfish node that failed verification: back in ``enroll`` with a real last_error.

    The node has no ``redfish_address``, so the conductor's power-interface validation fails
    at once (a closed-port address fails too, but only after Ironic's and sushy's connection
    retries, minutes later).
    """
    conn = ironic.connection()
    node = conn.baremetal.create_node(
        name=unique_name("explain"),
        driver="redfish",
        driver_info={"redfish_username": "admin", "redfish_password": SECRET_PASSWORD},
    )
    try:
        conn.baremetal.set_node_provision_state(node, "manage")
        deadline = time.monotonic() + NODE_DEADLINE
        current = conn.baremetal.get_node(node.id)
        while not (current.provision_state == "enroll" and current.last_error):
            if time.monotonic() > deadline:
                pytest.fail(f"node never failed verification: {current.provision_state}")
            time.sleep(0.2)
            current = conn.baremetal.get_node(node.id)
        yield {"uuid": current.id, "name": current.name, "last_error": current.last_error}
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)


def ironic_env(ironic: IronicFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point bmo at the session Ironic exactly as a deployment would: endpoint + auth files."""
    auth_root = tmp_path / "auth"
    if ironic.credentials is not None:
        username, password = ironic.credentials
        (auth_root / "ironic").mkdir(parents=True)
        (auth_root / "ironic" / "username").write_text(username)
        (auth_root / "ironic" / "password").write_text(password)
    monkeypatch.setenv("IRONIC_ENDPOINT", ironic.url.rstrip("/") + "/v1/")
    monkeypatch.setenv("METAL3_AUTH_ROOT_DIR", str(auth_root))


@pytest.mark.ironic
def test_reports_the_real_ironic_last_error(
    ironic: IronicFixture,
    failed_node: dict[str, Any],
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ironic_env(ironic, tmp_path, monkeypatch)
    create_host(
        kube_api_client, kube_namespace, "worker-0", registration_error_status(failed_node["uuid"])
    )
    create_secret(kube_api_client, kube_namespace, "worker-0-bmc")
    last_error = failed_node["last_error"]
    assert "redfish_address" in last_error  # the failure we arranged, not another one

    code, out, err = explain_cli(capsys, kube_server, f"{kube_namespace}/worker-0")
    assert code == 0, err
    assert f"Ironic node {failed_node['uuid']} ({failed_node['name']}):" in out
    assert "Provision state:    enroll" in out
    assert f"Last error:         {last_error}" in out
    assert "State:              registering" in out
    assert "Error:              registration error: Failed to get power state for node" in out
    assert f"Diagnosis: Ironic reports: {last_error}; bmo retries with restart" in out
    assert SECRET_PASSWORD not in out

    code, out, err = explain_cli(capsys, kube_server, f"{kube_namespace}/worker-0", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ironic"]["status"] == "found"
    assert doc["ironic"]["node"]["last_error"] == last_error
    assert doc["ironic"]["node"]["provision_state"] == "enroll"
    assert doc["error_message"] == "Failed to get power state for node"
    assert SECRET_PASSWORD not in out


@pytest.mark.ironic
def test_finds_the_node_by_name_when_the_status_has_no_id(
    ironic: IronicFixture,
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ironic_env(ironic, tmp_path, monkeypatch)
    conn = ironic.connection()
    node = conn.baremetal.create_node(name=f"{kube_namespace}~worker-0", driver="fake-hardware")
    try:
        create_host(kube_api_client, kube_namespace, "worker-0", registration_error_status())
        code, out, err = explain_cli(capsys, kube_server, f"{kube_namespace}/worker-0")
        assert code == 0, err
        assert f"Ironic node {node.id} ({kube_namespace}~worker-0):" in out
        assert "Provision state:    enroll" in out
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)


def test_kubeconfig_flag_reaches_the_same_server(
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_host(kube_api_client, kube_namespace, "worker-0", registration_error_status())
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emu", "cluster": {"server": kube_server.url}}],
                "users": [{"name": "me", "user": {}}],
                "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "me"}}],
                "current-context": "emu",
            }
        )
    )
    code = main(
        ["explain", f"{kube_namespace}/worker-0", "--kubeconfig", str(kubeconfig), "--no-ironic"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"BareMetalHost {kube_namespace}/worker-0" in out


def test_a_missing_kubeconfig_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code = main(["explain", "ns/host", "--kubeconfig", str(missing), "--no-ironic"])
    assert code == 2
    assert str(missing) in capsys.readouterr().err
