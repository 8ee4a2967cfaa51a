"""Splitting a fleet: two ``bmo run`` processes against one API server, each owning the hosts
its ``--host-label-selector`` matches, each electing its own leader.

Both run the fixture provisioner (the split is a Kubernetes-side matter; one Ironic serving
several shards sees disjoint node names). The hosts share one BMC Secret on purpose: its
changes wake owners in both shards, which must still reconcile only their own hosts.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client as k8s

from testenv.kubeapi import KubeAPIServer
from tests.integration.operator import Hosts, create_secret, events_for, host_body
from tests.integration.test_run_command import (
    DEADLINE,
    BmoProcess,
    child_env,
    common_flags,
    started,  # noqa: F401 (fixture)
)

SHARDS = {"a": ("rack-a-0", "rack-a-1"), "b": ("rack-b-0",)}


def _labelled(name: str, shard: str | None) -> dict[str, Any]:
    body = host_body(name)
    if shard is not None:
        body["metadata"]["labels"] = {"example.com/shard": shard}
    return body


def _hosts_in_log(bmo: BmoProcess, namespace: str) -> set[str]:
    names = set()
    for line in bmo.drain():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        host = parsed.get("host") if isinstance(parsed, dict) else None
        if isinstance(host, str) and host.startswith(f"{namespace}/"):
            names.add(host.partition("/")[2])
    return names


def test_two_shards_reconcile_only_their_own_hosts(
    kube_server: KubeAPIServer,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    started: list[BmoProcess],  # noqa: F811
) -> None:
    hosts = Hosts(kube_api_client, kube_namespace)
    create_secret(kube_api_client, kube_namespace)
    for shard, names in SHARDS.items():
        for name in names:
            hosts.create(_labelled(name, shard))
    hosts.create(_labelled("unsharded", None))

    processes = {}
    for shard in SHARDS:
        bmo = BmoProcess(
            [
                *common_flags(kube_server, kube_namespace),
                "--provisioner",
                "fixture",
                "--enable-leader-election",
                "--host-label-selector",
                f"example.com/shard={shard}",
            ],
            child_env(POD_NAME=f"bmo-{shard}", POD_NAMESPACE=kube_namespace),
        )
        started.append(bmo)
        processes[shard] = bmo

    for names in SHARDS.values():
        for name in names:
            hosts.wait_state(name, "available", timeout=DEADLINE)

    # Each shard's events, and nothing but its events, on its hosts.
    for shard, names in SHARDS.items():
        for name in names:
            instances = {
                e["reportingInstance"] for e in events_for(kube_api_client, kube_namespace, name)
            }
            assert instances == {f"bmo-{shard}"}, (name, instances)
    # A host no shard selects is left alone by both.
    assert not hosts.status("unsharded")
    assert not events_for(kube_api_client, kube_namespace, "unsharded")

    # One Lease per shard, each held by its own process.
    leases = k8s.CoordinationV1Api(kube_api_client).list_namespaced_lease(kube_namespace).items
    holders = {lease.metadata.name: lease.spec.holder_identity for lease in leases}
    assert len(holders) == 2, holders
    assert all(name.startswith("baremetal-operator-") for name in holders)
    identities = {
        bmo.log_event("event", "starting manager")["identity"] for bmo in processes.values()
    }
    assert set(holders.values()) == identities

    for shard, bmo in processes.items():
        assert bmo.stop() == 0
        seen = _hosts_in_log(bmo, kube_namespace)
        assert seen and seen <= set(SHARDS[shard]), (shard, seen)
