"""Hosts and DataImages in the Kubernetes API emulator, for the DataImage and
BMCEventSubscription controller tests."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from bmo.runtime.errors import NotFound, kube_errors

GROUP, VERSION = "metal3.io", "v1alpha1"


def custom(api_client: k8s.ApiClient) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(api_client)


def create_host(
    api_client: k8s.ApiClient,
    namespace: str,
    name: str,
    *,
    address: str = "redfish-virtualmedia://127.0.0.1:8000/redfish/v1/Systems/1",
    online: bool = True,
    powered_on: bool = False,
    state: str = "provisioned",
    node_id: str = "node-uuid-1",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BareMetalHost",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "online": online,
            "bootMACAddress": "00:5f:33:20:6b:5f",
            "bmc": {"address": address, "credentialsName": f"{name}-bmc"},
        },
    }
    api = custom(api_client)
    created: Any = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "baremetalhosts", body
    )
    created["status"] = {
        "operationalStatus": "OK",
        "errorMessage": "",
        "errorCount": 0,
        "poweredOn": powered_on,
        "provisioning": {"state": state, "ID": node_id, "bootMode": "UEFI"},
    }
    written: Any = api.replace_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "baremetalhosts", name, created
    )
    result: dict[str, Any] = written
    return result


def set_host_power(api_client: k8s.ApiClient, namespace: str, name: str, on: bool) -> None:
    api = custom(api_client)
    host: Any = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "baremetalhosts", name)
    host["status"]["poweredOn"] = on
    api.replace_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "baremetalhosts", name, host
    )


def create_object(
    api_client: k8s.ApiClient, namespace: str, plural: str, kind: str, name: str, spec: Any
) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    created: Any = custom(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, body
    )
    result: dict[str, Any] = created
    return result


def get_object(
    api_client: k8s.ApiClient, namespace: str, plural: str, name: str
) -> dict[str, Any] | None:
    try:
        with kube_errors():
            got: Any = custom(api_client).get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
    except NotFound:
        return None
    result: dict[str, Any] = got
    return result


def delete_object(api_client: k8s.ApiClient, namespace: str, plural: str, name: str) -> None:
    custom(api_client).delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
