"""`kubectl get bmh` against the emulator shows the Go operator's columns (the
``+kubebuilder:printcolumn`` markers of ``apis/metal3.io/v1alpha1/baremetalhost_types.go``)."""

from __future__ import annotations

import json
from typing import Any

from testenv.kubeapi import KubeAPIServer

HOST: dict[str, Any] = {
    "apiVersion": "metal3.io/v1alpha1",
    "kind": "BareMetalHost",
    "metadata": {"name": "worker-0"},
    "spec": {
        "online": True,
        "bootMACAddress": "52:54:00:12:34:56",
        "bmc": {"address": "redfish://192.0.2.1/redfish/v1/Systems/1", "credentialsName": "c"},
        "consumerRef": {"name": "machine-0", "kind": "Machine"},
    },
}

STATUS: dict[str, Any] = {
    "operationalStatus": "OK",
    "errorMessage": "",
    "errorCount": 0,
    "poweredOn": True,
    "provisioningFailCount": 0,
    "provisioning": {"state": "available", "ID": "", "image": {"url": ""}},
}


def test_get_bmh_shows_upstream_columns(
    kube_server: KubeAPIServer, kube_namespace: str, kubectl: Any, kube_api_client: Any
) -> None:
    from kubernetes import client

    kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(HOST))
    client.CustomObjectsApi(kube_api_client).patch_namespaced_custom_object_status(
        "metal3.io", "v1alpha1", kube_namespace, "baremetalhosts", "worker-0", {"status": STATUS}
    )

    narrow = kubectl("get", "bmh", "-n", kube_namespace).stdout.splitlines()
    assert narrow[0].split() == ["NAME", "STATE", "CONSUMER", "ONLINE", "ERROR", "AGE"]
    assert narrow[1].split()[:4] == ["worker-0", "available", "machine-0", "true"]

    wide = kubectl("get", "bmh", "-n", kube_namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "NAME", "STATUS", "STATE", "CONSUMER", "BMC", "ONLINE", "ERROR", "AGE"
    ]  # fmt: skip
    row = wide[1].split()
    assert row[:6] == [
        "worker-0", "OK", "available", "machine-0",
        "redfish://192.0.2.1/redfish/v1/Systems/1", "true",
    ]  # fmt: skip

    # The short name `bmhost` works too.
    assert (
        kubectl("get", "bmhost", "-n", kube_namespace).stdout.splitlines()[1].startswith("worker-0")
    )
