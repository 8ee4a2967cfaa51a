"""Ironic and the Kubernetes API misbehaving: outages, 5xx, 409s, dropped watches.

What must hold: no host changes state (or records an error) because of a transient fault;
bmo keeps running; its request rate to an Ironic that is down stays bounded by design, not by
luck; everything converges once the fault is gone; no status update is lost.

The design bound used below. While Ironic fails, a pass makes at most
``RetryPolicy.attempts`` (4) tries of one call, spaced >= 0.25 s, then goes back to the
queue (a 5xx is a transient error: per-key exponential backoff from 5 ms; "not ready" is a
30 s requeue). The readiness check is cached for ``IRONIC_CLIENT_CACHE_TTL`` (5 s), so once it
fails, passes stop reaching Ironic at all until the next check. So at most ``workers`` passes
are in flight and each makes <= 4 requests/s: the peak is bounded by ``4 x workers`` plus the
readiness checks, whatever the number of hosts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from testenv.kubeapi import Faults
from tests.integration.operator import Hosts, create_secret, wait_for
from tests.resilience.env import (
    DEADLINE,
    IMAGE,
    Stack,
    fake_host,
    remove_all,
    stack,
)

pytestmark = [pytest.mark.ironic, pytest.mark.slow]

HOSTS = 20
WORKERS = 2  # tests.integration.operator runs the controller with 2 workers
OUTAGE = 8.0
#: 4 tries/s per worker (retry spacing >= 0.25 s) plus readiness checks and slack.
PEAK_BOUND = 4 * WORKERS + 8
STABLE = frozenset({"provisioned", "available", "externally provisioned"})


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("outages"), {"deploy_delay": "1"}) as running:
        yield running


@pytest.fixture
def hosts(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[Hosts]:
    create_secret(kube_api_client, kube_namespace)
    found = Hosts(kube_api_client, kube_namespace)
    try:
        yield found
    finally:
        remove_all(found)


def _states(hosts: Hosts) -> dict[str, tuple[str, str, str]]:
    items = hosts.api.list_namespaced_custom_object(  # type: ignore[union-attr]
        "metal3.io", "v1alpha1", hosts.namespace, "baremetalhosts"
    )["items"]
    out = {}
    for item in items:
        status = item.get("status") or {}
        out[item["metadata"]["name"]] = (
            str((status.get("provisioning") or {}).get("state") or ""),
            str(status.get("errorType") or ""),
            str(status.get("operationalStatus") or ""),
        )
    return out


def _outage(s: Stack, hosts: Hosts, mode: str, seconds: float) -> int:
    """Break Ironic for ``seconds``, watching that no host errs or jumps ahead; returns the
    peak request rate seen at the proxy."""
    before = _states(hosts)
    start = s.proxy.now()
    if mode == "503":
        s.proxy.fail(503)
    else:
        s.proxy.drop()
    seen: dict[str, set[tuple[str, str, str]]] = {name: set() for name in before}

    def watch() -> bool:
        for name, value in _states(hosts).items():
            if name in seen:
                seen[name].add(value)
        return s.proxy.now() - start >= seconds

    try:
        wait_for(watch, timeout=seconds + 30, what="the outage to last")
    finally:
        s.proxy.restore()
    peak = s.proxy.peak_rate(since=start)
    for name, observed in seen.items():
        errors = {v for v in observed if v[1]}
        assert not errors, f"{name} recorded an error during a {mode} outage: {errors}"
        states = {v[0] for v in observed}
        # A host may finish the step it was in when the outage began, nothing more.
        assert len(states - {before[name][0]}) <= 1, (name, before[name], states)
    return peak


@pytest.mark.parametrize("mode", ["503", "drop"])
def test_ironic_outage_with_busy_hosts(
    shared_stack: Stack,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    mode: str,
) -> None:
    s, ns = shared_stack, kube_namespace
    with s.operator(kube_api_client, ns, max_requeue_after=3.0) as running:
        for index in range(HOSTS):
            hosts.create(fake_host(f"busy-{index:02d}", image=IMAGE))
        # Busy: hosts are spread over registering .. provisioning when Ironic goes away.
        wait_for(
            lambda: sum(1 for v in _states(hosts).values() if v[0]) >= HOSTS // 2,
            timeout=DEADLINE,
            what="half the hosts under way",
        )
        peak = _outage(s, hosts, mode, OUTAGE)
        print(f"peak Ironic request rate during a {OUTAGE:g} s {mode} outage: {peak}/s")
        assert running.manager is not None
        assert peak <= PEAK_BOUND, (
            f"peak {peak} requests/s to Ironic during a {mode} outage (bound {PEAK_BOUND}); "
            f"per second: {s.proxy.rate_histogram(since=s.proxy.now() - OUTAGE - 1)}"
        )
        for index in range(HOSTS):
            hosts.wait_state(f"busy-{index:02d}", "provisioned", timeout=DEADLINE * 2)
        assert all(not v[1] for v in _states(hosts).values())
        deploys = s.proxy.deploys()
        ours = {hosts.status(f"busy-{i:02d}")["provisioning"]["ID"] for i in range(HOSTS)}
        assert all(deploys[node] <= 2 for node in ours), deploys


def test_ironic_409_node_locked_is_waited_out(
    shared_stack: Stack, hosts: Hosts, kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    s, ns = shared_stack, kube_namespace
    with s.operator(kube_api_client, ns):
        hosts.create(fake_host("locked", image=IMAGE))
        wait_for(lambda: hosts.state("locked"), what="registering")
        s.proxy.lock_nodes()  # every write to every node: 409 NodeLocked
        marker = s.proxy.now()
        try:
            wait_for(
                lambda: s.proxy.count(since=marker) >= 10 and s.proxy.now() - marker > 3,
                timeout=DEADLINE,
                what="bmo retrying against locked nodes",
            )
            status = hosts.status("locked")
            assert not status.get("errorType"), status
        finally:
            s.proxy.restore()
        hosts.wait_state("locked", "provisioned", timeout=DEADLINE)
        assert not hosts.status("locked").get("errorType")


def test_delete_while_ironic_is_down_completes_when_it_returns(
    shared_stack: Stack, hosts: Hosts, kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    s, ns = shared_stack, kube_namespace
    with s.operator(kube_api_client, ns):
        hosts.create(fake_host("leaving", image=IMAGE))
        hosts.wait_state("leaving", "provisioned", timeout=DEADLINE)
        s.proxy.refuse()
        try:
            hosts.delete("leaving")
            marker_obj = wait_for(
                lambda: (
                    (o := hosts.get("leaving")) and o["metadata"].get("deletionTimestamp") and o
                ),
                what="deletion requested",
            )
            assert marker_obj["metadata"]["finalizers"], "held while Ironic is away"
            # Several passes fail to reach Ironic meanwhile; the host waits, error-free.
            reached = s.proxy.now() + 3
            wait_for(lambda: s.proxy.now() > reached, what="3 s of outage", timeout=10)
            assert hosts.get("leaving") is not None
            assert not hosts.status("leaving").get("errorType")
        finally:
            s.proxy.restore()
        hosts.wait_gone("leaving", timeout=DEADLINE)
        wait_for(lambda: s.nodes.get(ns, "leaving") is None, what="node deleted in Ironic")


def test_kubernetes_conflicts_and_dropped_watches_lose_no_update(
    shared_stack: Stack,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    kube_faults: Faults,
) -> None:
    s, ns = shared_stack, kube_namespace
    with s.operator(kube_api_client, ns):
        names = [f"k-{i}" for i in range(3)]
        for name in names:
            hosts.create(fake_host(name, image=IMAGE))
        kube_faults.conflict_next_writes(6, resource="baremetalhosts", verb="update")
        kube_faults.gone_next_watches(2, resource="baremetalhosts")
        kube_faults.drop_watches(abrupt=True)
        for name in names:
            hosts.wait_state(name, "provisioning", timeout=DEADLINE)
        kube_faults.conflict_next_writes(6, resource="baremetalhosts", verb="update")
        kube_faults.drop_watches()
        for name in names:
            hosts.wait_state(name, "provisioned", timeout=DEADLINE)
        kube_faults.gone_next_watches(1, resource="baremetalhosts")
        kube_faults.drop_watches(abrupt=True)
        for name in names:
            hosts.patch(name, {"spec": {"image": None}})
        kube_faults.conflict_next_writes(6, resource="baremetalhosts", verb="update")
        for name in names:
            hosts.wait_state(name, "available", timeout=DEADLINE)
        for name in names:
            status = hosts.status(name)
            history = status["operationHistory"]
            assert history["provision"]["end"], (name, history)
            assert history["deprovision"]["end"], (name, history)
            assert not status["provisioning"]["image"].get("url")
            assert status["operationalStatus"] == "OK"
            node_id = status["provisioning"]["ID"]
            assert s.proxy.deploys()[node_id] == 1, "no host deployed twice"
