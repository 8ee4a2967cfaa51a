"""One real reconcile pass (HostReconciler, Kubernetes API emulator, fixture provisioner)
over hostile BareMetalHosts: whatever the API server accepts, the pass ends in a
``Result`` or a documented ``ReconcileError`` (``TerminalError`` for a host that cannot be
decoded or an annotation that is not valid), never another exception. Bounded: a few dozen
examples, derandomized."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from kubernetes import client as k8s

from bmo.runtime.controller import ReconcileError, Result
from tests.controllers.baremetalhost.test_host_reconciler_units import Bed
from tests.fuzz.strategies import host_documents
from tests.integration.operator import create_secret


@settings(
    max_examples=30,
    deadline=5000,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(doc=host_documents())
def test_one_reconcile_pass_never_crashes(
    kube_api_client: k8s.ApiClient, kube_namespace: str, doc: dict[str, Any]
) -> None:
    bed = Bed(kube_api_client, kube_namespace)
    if not isinstance(doc.get("metadata"), dict):
        doc["metadata"] = {}
    name = "fuzz-" + uuid.uuid4().hex[:8]
    doc["metadata"] = {**doc["metadata"], "name": name, "namespace": kube_namespace}
    doc["metadata"].pop("deletionTimestamp", None)  # the API server sets that, not users
    doc.pop("status", None)  # status goes through its own subresource
    try:
        created = bed.hosts.create(doc)
    except k8s.ApiException:
        assume(False)  # the API server refuses it: nothing reaches bmo
        return
    if not any(s["metadata"]["name"] == "bmc-secret" for s in _secrets(bed)):
        create_secret(kube_api_client, kube_namespace)
    bed.host_store.put(created)
    try:
        result = bed.reconcile(name)
        assert isinstance(result, Result)
    except ReconcileError:
        pass
    finally:
        bed.hosts.force_remove(name)


def _secrets(bed: Bed) -> list[dict[str, Any]]:
    items = k8s.CoreV1Api(bed.api_client).list_namespaced_secret(bed.namespace).items
    return [{"metadata": {"name": s.metadata.name}} for s in items]
