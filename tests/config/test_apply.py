"""Every rendered object is accepted by the Kubernetes API emulator (testenv/kubeapi),
applied through the official client's generic (dynamic, discovery-driven) API.

A private emulator per module, not the session's ``kube_server``: that one starts with
bmo's CRDs already installed, and this test must create them itself, from the rendered
output, along with cluster-scoped objects (ClusterRole, webhook configuration) that other
tests should not see.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from testenv.kubeapi import KubeAPIServer
from tests.config.render import CERT_MANAGER_GROUP, render

pytestmark = pytest.mark.kubectl

# Created first, so later objects have a namespace and a served kind to land in.
ORDER = {"Namespace": 0, "CustomResourceDefinition": 1}


@pytest.fixture(scope="module")
def api() -> Iterator[client.ApiClient]:
    server = KubeAPIServer(host="127.0.0.1", port=0)
    server.start()
    config = client.Configuration()
    config.host = server.url
    api_client = client.ApiClient(config)
    try:
        yield api_client
    finally:
        api_client.close()  # type: ignore[no-untyped-call]
        server.stop()


def apply_all(
    api: client.ApiClient, objects: list[dict[str, Any]], namespace: str = ""
) -> list[str]:
    """Create each object; returns ``Kind/name`` of those created."""
    created = []
    for obj in sorted(objects, key=lambda o: ORDER.get(o["kind"], 2)):
        if obj["apiVersion"].startswith(f"{CERT_MANAGER_GROUP}/"):
            # Issuer and Certificate are served only where cert-manager has installed its
            # CRDs; a plain API server (and the emulator) does not know them.
            continue
        # A fresh client per object: discovery must see CRDs created a moment ago.
        dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
        try:
            resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except ResourceNotFoundError:
            pytest.fail(f"the API server does not serve {obj['apiVersion']} {obj['kind']}")
        target_ns = obj["metadata"].get("namespace") or namespace or None
        result = resource.create(body=obj, namespace=target_ns if resource.namespaced else None)
        assert result.metadata.name == obj["metadata"]["name"]
        assert result.metadata.uid, "the server assigns a uid"
        created.append(f"{obj['kind']}/{obj['metadata']['name']}")
    return created


def test_default_is_accepted(api: client.ApiClient) -> None:
    objects = render("default")
    created = apply_all(api, objects)
    skipped = {"Issuer", "Certificate"}
    assert len(created) == len([o for o in objects if o["kind"] not in skipped])
    # The webhook configuration and the Deployment read back as written.
    dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
    vwc = dynamic.resources.get(
        api_version="admissionregistration.k8s.io/v1", kind="ValidatingWebhookConfiguration"
    ).get(name="baremetal-operator-validating-webhook-configuration")
    assert vwc.webhooks[0].clientConfig.service.name == "baremetal-operator-webhook-service"


def test_ironic_additions_and_samples_are_accepted(api: client.ApiClient) -> None:
    # After test_default_is_accepted or not: create what default does not already hold.
    ironic_only = [
        o for o in render("ironic") if o["metadata"]["name"] in ("ironic", "ironic-settings")
    ]
    dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
    namespaces = dynamic.resources.get(api_version="v1", kind="Namespace")
    crds = dynamic.resources.get(
        api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
    )
    prerequisites = [
        o
        for o in render("default")
        if o["kind"] in ("Namespace", "CustomResourceDefinition")
        and not _exists(namespaces if o["kind"] == "Namespace" else crds, o["metadata"]["name"])
    ]
    apply_all(api, prerequisites)
    created = apply_all(api, ironic_only)
    assert sorted(created) == ["ConfigMap/ironic-settings", "Deployment/ironic", "Service/ironic"]
    namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}})
    created = apply_all(api, render("samples"), namespace="lab")
    assert sorted(created) == ["BareMetalHost/example-host", "Secret/example-host-bmc-secret"]


def _exists(resource: Any, name: str) -> bool:
    try:
        resource.get(name=name)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True
