"""Taking hosts out of Ironic's hands and giving them back: the detached annotation
(upstream ``host_state_machine.go`` ``checkDetachedHost``, ``pkg/provisioner/ironic/ironic.go``
``Detach``), the status annotation of a move between clusters (``baremetalhost_controller.go``
``reconcileHostData``), and paused hosts (``baremetalhost_controller.go`` ``Reconcile``).

The module shares one Ironic (behind its counting proxy) without the fake agent, so a host
that inspects waits in ``inspect wait`` - a state that is not detachable without force.
Every test has its own namespace, so node names never collide, and counts are taken per
node and from the test's own start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.api.constants import DETACHED_ANNOTATION, PAUSED_ANNOTATION, STATUS_ANNOTATION
from testenv.kubeapi import KubeAPIServer
from tests.integration.operator import Hosts, RunningOperator, create_secret, wait_for
from tests.resilience.env import (
    DEADLINE,
    IMAGE,
    Stack,
    fake_host,
    provisioning_id,
    remove_all,
    stack,
)

pytestmark = [pytest.mark.ironic, pytest.mark.slow]


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("detach"), agent=False) as running:
        yield running


@pytest.fixture
def hosts(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[Hosts]:
    create_secret(kube_api_client, kube_namespace)
    found = Hosts(kube_api_client, kube_namespace)
    try:
        yield found
    finally:
        remove_all(found)


def _annotate(hosts: Hosts, name: str, key: str, value: str | None) -> None:
    hosts.patch(name, {"metadata": {"annotations": {key: value}}})


def _operational(hosts: Hosts, name: str) -> str:
    return str(hosts.status(name).get("operationalStatus") or "")


def _node_requests(s: Stack, idents: set[str], since: float) -> list[Any]:
    return [r for r in s.proxy.requests(since) if r.node in idents]


def test_detach_reattach_and_delete_detached(
    shared_stack: Stack, hosts: Hosts, kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    s, ns = shared_stack, kube_namespace
    with s.operator(kube_api_client, ns):
        hosts.create(fake_host("web", image=IMAGE))
        hosts.wait_state("web", "provisioned", timeout=DEADLINE)
        first_id = provisioning_id(hosts, "web")
        start = s.proxy.now()

        _annotate(hosts, "web", DETACHED_ANNOTATION, "")
        wait_for(
            lambda: _operational(hosts, "web") == "detached", timeout=DEADLINE, what="detached"
        )
        wait_for(lambda: s.nodes.get(ns, "web") is None, what="node removed from Ironic")
        assert hosts.state("web") == "provisioned", "detaching keeps the provisioning state"

        # Re-attach: the node is re-created and adopted, never deployed.
        _annotate(hosts, "web", DETACHED_ANNOTATION, None)
        wait_for(lambda: _operational(hosts, "web") == "OK", timeout=DEADLINE, what="attached")
        node = s.nodes.wait_state(ns, "web", "active")
        second_id = provisioning_id(hosts, "web")
        assert second_id == node["uuid"] != first_id
        assert s.proxy.provision_targets("adopt", since=start)[second_id] >= 1
        assert s.proxy.deploys(since=start) == {}
        assert hosts.state("web") == "provisioned"

        # Detach with deleteAction delete, then delete: no deprovisioning at all.
        _annotate(hosts, "web", DETACHED_ANNOTATION, json.dumps({"deleteAction": "delete"}))
        wait_for(
            lambda: _operational(hosts, "web") == "detached", timeout=DEADLINE, what="detached"
        )
        wait_for(lambda: s.nodes.get(ns, "web") is None, what="node removed again")
        hosts.delete("web")
        hosts.wait_gone("web", timeout=DEADLINE)
        ids = {first_id, second_id, f"{ns}~web"}
        targets = {r.target for r in _node_requests(s, ids, start) if r.target}
        assert targets == {"adopt", "manage"}, f"no deploy/undeploy/clean: {targets}"
        # The node went through maintenance + delete (an active node cannot go otherwise).
        seen = {(r.method, r.template) for r in _node_requests(s, ids, start)}
        assert ("PUT", "/v1/nodes/*/maintenance") in seen
        assert ("DELETE", "/v1/nodes/*") in seen


def test_detach_waits_for_a_stable_state_unless_forced_and_delay_blocks_delete(
    shared_stack: Stack, hosts: Hosts, kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    s, ns = shared_stack, kube_namespace
    with s.operator(kube_api_client, ns):
        hosts.create(fake_host("busy", inspect=True))  # no agent: stays inspecting
        hosts.wait_state("busy", "inspecting", timeout=DEADLINE)
        s.nodes.wait_state(ns, "busy", "inspect wait")

        _annotate(hosts, "busy", DETACHED_ANNOTATION, json.dumps({"deleteAction": "delay"}))
        # Not detachable while inspecting: several reconciles later it is still attached.
        marker = s.proxy.now()
        wait_for(
            lambda: s.proxy.count(method="GET", since=marker) >= 3,
            timeout=DEADLINE,
            what="bmo polling the inspecting node",
        )
        assert _operational(hosts, "busy") != "detached"
        assert s.nodes.get(ns, "busy") is not None

        _annotate(
            hosts,
            "busy",
            DETACHED_ANNOTATION,
            json.dumps({"deleteAction": "delay", "force": True}),
        )
        wait_for(lambda: _operational(hosts, "busy") == "detached", timeout=DEADLINE, what="forced")
        wait_for(lambda: s.nodes.get(ns, "busy") is None, what="node removed")
        assert hosts.state("busy") == "inspecting"

        hosts.delete("busy")
        marker = s.proxy.now()
        wait_for(
            lambda: (hosts.get("busy") or {}).get("metadata", {}).get("deletionTimestamp"),
            what="deletion requested",
        )
        # deleteAction delay: the finalizer stays while the host is detached.
        obj = hosts.get("busy")
        assert obj is not None and obj["metadata"]["finalizers"]
        _annotate(hosts, "busy", DETACHED_ANNOTATION, json.dumps({"deleteAction": "delete"}))
        hosts.wait_gone("busy", timeout=DEADLINE)
        assert s.proxy.provision_targets("deleted", since=marker) == {}
        assert s.proxy.deploys(since=marker) == {}


def test_status_annotation_restores_a_moved_host_which_is_adopted(
    shared_stack: Stack, hosts: Hosts, kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    s, ns = shared_stack, kube_namespace
    with s.operator(kube_api_client, ns):
        hosts.create(fake_host("moved", image=IMAGE))
        old = hosts.wait_state("moved", "provisioned", timeout=DEADLINE)
        old_id = provisioning_id(hosts, "moved")

        # Move: pause, copy with the status in the annotation, drop the original...
        _annotate(hosts, "moved", PAUSED_ANNOTATION, "")
        moved = {
            "apiVersion": old["apiVersion"],
            "kind": old["kind"],
            "metadata": {
                "name": "moved",
                "annotations": {
                    k: v
                    for k, v in (old["metadata"].get("annotations") or {}).items()
                    if k != PAUSED_ANNOTATION
                }
                | {STATUS_ANNOTATION: json.dumps(old["status"])},
                "labels": old["metadata"].get("labels") or {},
            },
            "spec": old["spec"],
        }
        hosts.force_remove("moved")
        hosts.wait_gone("moved")
        # ... and the new cluster's Ironic has never heard of the node.
        conn_node = s.nodes.get(ns, "moved")
        assert conn_node is not None
        _delete_node(s, conn_node["uuid"])
        start = s.proxy.now()

        hosts.create(moved)
        node = s.nodes.wait_state(ns, "moved", "active")
        obj = wait_for(
            lambda: (
                (o := hosts.get("moved"))
                and STATUS_ANNOTATION not in (o["metadata"].get("annotations") or {})
                and o
            ),
            what="status annotation removed",
        )
        assert obj["status"]["provisioning"]["state"] == "provisioned"
        wait_for(lambda: provisioning_id(hosts, "moved") == node["uuid"], what="ID updated")
        assert node["uuid"] != old_id
        assert obj["status"]["provisioning"]["image"]["url"] == IMAGE["url"]
        assert s.proxy.deploys(since=start) == {}
        assert s.proxy.provision_targets("adopt", since=start)[node["uuid"]] >= 1


def test_paused_host_is_left_alone(
    shared_stack: Stack,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    kube_server: KubeAPIServer,
) -> None:
    s, ns = shared_stack, kube_namespace
    with s.operator(kube_api_client, ns) as running:
        passes = _record_passes(running)
        hosts.create(fake_host("still", image=IMAGE))
        hosts.create(fake_host("busy"))
        hosts.wait_state("still", "provisioned", timeout=DEADLINE)
        node_id = provisioning_id(hosts, "still")
        _annotate(hosts, "still", PAUSED_ANNOTATION, "")
        # From the first pass that began once the cache showed the pause, bmo keeps off.
        key = f"{ns}/still"
        wait_for(
            lambda: (
                PAUSED_ANNOTATION
                in (
                    (running.wired.hosts.get(key) or {}).get("metadata", {}).get("annotations")
                    or {}
                )
            ),
            what="the informer cache sees the pause",
        )
        seen_at = s.proxy.now()
        wait_for(
            lambda: any(k == key and begun >= seen_at for k, begun, _ in passes),
            what="a pass after the pause",
        )
        start = max(ended for k, begun, ended in passes if k == key and begun >= seen_at)
        kube_server.request_log.clear()
        resource_version = hosts.get("still")["metadata"]["resourceVersion"]  # type: ignore[index]

        # Changes that would each make bmo act - power off, deprovision - and a busy neighbour.
        hosts.patch("still", {"spec": {"online": False, "image": None}})
        hosts.patch("busy", {"spec": {"image": IMAGE}})
        hosts.wait_state("busy", "provisioned", timeout=DEADLINE)

        assert _node_requests(s, {node_id, f"{ns}~still"}, start) == []
        status_writes = [
            r
            for r in kube_server.request_log.snapshot()
            if r.method in ("PUT", "PATCH") and r.path.endswith("/baremetalhosts/still/status")
        ]
        assert status_writes == []
        obj = hosts.get("still")
        assert obj is not None
        assert obj["status"]["provisioning"]["state"] == "provisioned"
        assert obj["metadata"]["resourceVersion"] != resource_version  # our own spec patch
        assert s.nodes.get(ns, "still")["provision_state"] == "active"  # type: ignore[index]

        # Unpaused, it catches up with what changed meanwhile.
        _annotate(hosts, "still", PAUSED_ANNOTATION, None)
        hosts.wait_state("still", "available", timeout=DEADLINE)


def _record_passes(running: RunningOperator) -> list[tuple[str, float, float]]:
    """Wrap the reconciler so the test knows when each pass began and ended (monotonic)."""
    passes: list[tuple[str, float, float]] = []
    reconciler = running.wired.reconciler
    inner = reconciler.reconcile

    def reconcile(namespace: str, name: str) -> Any:
        begun = time.monotonic()
        try:
            return inner(namespace, name)
        finally:
            passes.append((f"{namespace}/{name}", begun, time.monotonic()))

    reconciler.reconcile = reconcile  # type: ignore[method-assign]
    return passes


def _delete_node(s: Stack, uuid: str) -> None:
    """Straight to Ironic (not through the proxy): maintenance on, then delete."""
    conn = _sdk(s)
    conn.baremetal.set_node_maintenance(uuid)
    conn.baremetal.delete_node(uuid)


def _sdk(s: Stack) -> Any:
    import openstack.connection

    assert s.ironic.credentials is not None
    username, password = s.ironic.credentials
    return openstack.connection.Connection(
        auth_type="http_basic",
        auth={"username": username, "password": password},
        baremetal_endpoint_override=s.ironic.url,
        baremetal_api_version="1.110",
    )
