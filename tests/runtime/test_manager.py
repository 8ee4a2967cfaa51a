"""The manager against the emulator: probes, metrics, leader failover between two managers in
one process, graceful shutdown, and SIGTERM to a real process."""

from __future__ import annotations

import json
import os
import queue as queue_mod
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from urllib3.exceptions import HTTPError as TransportError

from bmo.runtime.controller import Controller, Result
from bmo.runtime.errors import is_not_found
from bmo.runtime.eventhandlers import EnqueueHandler, ignore_status_only
from bmo.runtime.manager import (
    SPARE_CONNECTIONS,
    Manager,
    RateLimitedApiClient,
    api_type,
    size_connection_pool,
)
from bmo.runtime.queue import RateLimitingQueue
from bmo.runtime.settings import Address, LeaderElectionSettings, ManagerSettings
from testenv.kubeapi import KubeAPIServer
from tests.runtime.test_informer import WIDGETS, Widgets, wait_until, widget_crd

__all__ = ["widget_crd"]  # a fixture, imported so pytest finds it here too

ROOT = Path(__file__).resolve().parents[2]
LEASE = "baremetal-operator"
FAST_LEASE = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


class Recording:
    """A reconciler recording (time, key) and optionally blocking until released."""

    def __init__(self, block: bool = False) -> None:
        self.calls: list[tuple[float, str]] = []
        self.finished: list[str] = []
        self.finished_at: list[float] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not block:
            self.release.set()
        self.lock = threading.Lock()

    def reconcile(self, namespace: str, name: str) -> Result:
        with self.lock:
            self.calls.append((time.monotonic(), f"{namespace}/{name}"))
        self.entered.set()
        self.release.wait(30)
        with self.lock:
            self.finished.append(f"{namespace}/{name}")
            self.finished_at.append(time.monotonic())
        return Result()

    def keys(self) -> list[str]:
        with self.lock:
            return [k for _, k in self.calls]


def make_settings(namespace: str) -> ManagerSettings:
    return ManagerSettings(
        namespaces=(namespace,),
        health_addr=Address("127.0.0.1", 0),
        metrics_addr=Address("127.0.0.1", 0),
        metrics_secure=False,  # plain HTTP: allowed on loopback only
    )


def make_manager(
    api_client: k8s.ApiClient, namespace: str, reconciler: Recording, *, leader: bool = False
) -> Manager:
    manager = Manager(
        make_settings(namespace),
        api_client,
        leader_election=LeaderElectionSettings(
            enabled=leader, namespace=namespace, lease_name=LEASE, **FAST_LEASE
        ),
        graceful_shutdown_timeout=20,
    )
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=f"test-{uuid.uuid4().hex[:6]}")
    informer = manager.informer(WIDGETS)
    informer.add_handler(EnqueueHandler(queue, update_predicate=ignore_status_only))
    manager.add_controller(Controller(f"widget-{uuid.uuid4().hex[:6]}", reconciler, queue, 2))
    return manager


class Running:
    def __init__(self, manager: Manager) -> None:
        self.manager = manager
        self.stop = threading.Event()
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.exit_code = self.manager.run(self.stop)

    def wait_exit(self, timeout: float = 30) -> int | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "manager did not stop"
        return self.exit_code


@pytest.fixture
def start_manager() -> Iterator[Callable[[Manager], Running]]:
    running: list[Running] = []

    def start(manager: Manager) -> Running:
        r = Running(manager)
        r.thread.start()
        assert manager.wait_started(10)
        running.append(r)
        return r

    yield start
    for r in running:
        r.stop.set()
    for r in running:
        r.thread.join(30)
        assert not r.thread.is_alive(), "manager did not stop"


def http_get(port: int | None, path: str) -> tuple[int, str]:
    assert port is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def lease_holder(api_client: k8s.ApiClient, namespace: str) -> str:
    lease = k8s.CoordinationV1Api(api_client).read_namespaced_lease(LEASE, namespace)
    return (lease.spec.holder_identity if lease.spec else None) or ""


def test_probes_and_metrics(
    widget_crd: None,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    kube_faults: Any,
    start_manager: Callable[[Manager], Running],
) -> None:
    Widgets(kube_api_client, kube_namespace).create("w1")
    kube_faults.error_share(1.0, 500, 0, resource="widgets")  # the informer cannot list yet
    reconciler = Recording()
    manager = make_manager(kube_api_client, kube_namespace, reconciler)
    webhook_ready = threading.Event()
    manager.add_ready_check("webhook", webhook_ready.is_set)
    start_manager(manager)

    assert http_get(manager.health_port, "/healthz") == (200, "ok\n")
    status, body = http_get(manager.health_port, "/readyz")
    assert status == 500
    assert "[-]informers failed" in body and "[-]webhook failed" in body
    assert http_get(manager.health_port, "/nope")[0] == 404

    kube_faults.clear()
    wait_until(manager.caches_synced, what="caches to sync after the API recovers")
    status, body = http_get(manager.health_port, "/readyz?verbose")
    assert status == 500 and "[+]informers ok" in body and "[-]webhook failed" in body
    webhook_ready.set()
    assert http_get(manager.health_port, "/readyz")[0] == 200

    wait_until(lambda: reconciler.finished == [f"{kube_namespace}/w1"], what="reconcile")
    controller = manager.controllers[0].name
    status, text = http_get(manager.metrics_port, "/metrics")
    assert status == 200
    assert (
        f'controller_runtime_reconcile_total{{controller="{controller}",result="success"}} 1.0'
        in text
    )
    assert "workqueue_adds_total" in text


def test_informers_are_shared_per_resource_and_selector() -> None:
    """Two controllers asking for one kind get one informer (one watch, one cache), with
    every index either asked for and the shorter resync period."""
    api = k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9"))
    manager = Manager(ManagerSettings(namespaces=("a", "b")), api)
    first = manager.informer(WIDGETS, resync_period=60.0)
    second = manager.informer(
        WIDGETS, indexers={"by-name": lambda obj: [obj["metadata"]["name"]]}, resync_period=30.0
    )
    labelled = manager.informer(WIDGETS, label_selector="team=a")
    assert second is first
    assert labelled is not first and labelled.label_selector == "team=a"
    assert manager.informers == [first, labelled]
    assert first.store.has_index("by-name")
    assert first.resync_period == 30.0
    assert manager.informer(WIDGETS, resync_period=90.0).resync_period == 30.0
    assert [r.namespace for r in first._reflectors] == ["a", "b"]
    api.close()  # type: ignore[no-untyped-call]


def test_stop_hooks_run_when_the_manager_returns_even_if_one_fails(
    start_manager: Callable[[Manager], Running],
) -> None:
    api = k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9"))
    manager = Manager(ManagerSettings(health_addr=Address("127.0.0.1", 0), metrics_addr=None), api)
    called: list[str] = []

    def failing() -> None:
        called.append("failing")
        raise RuntimeError("boom")

    manager.add_stop_hook(failing)
    manager.add_stop_hook(lambda: called.append("second"))
    running = start_manager(manager)
    assert called == []
    running.stop.set()
    assert running.wait_exit() == 0
    assert called == ["failing", "second"]
    api.close()  # type: ignore[no-untyped-call]


def test_leader_failover_between_two_managers(
    widget_crd: None,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    start_manager: Callable[[Manager], Running],
) -> None:
    ns = kube_namespace
    widgets = Widgets(kube_api_client, ns)
    widgets.create("w1")
    rec_a, rec_b = Recording(), Recording()
    a = make_manager(kube_api_client, ns, rec_a, leader=True)
    b = make_manager(kube_api_client, ns, rec_b, leader=True)
    run_a = start_manager(a)
    wait_until(a.is_leader, what="a to lead")
    wait_until(lambda: rec_a.finished == [f"{ns}/w1"], what="a to reconcile")
    start_manager(b)
    wait_until(b.caches_synced, what="b's cache (caches fill before leading)")
    assert b.elector is not None
    wait_until(lambda: b.elector is not None and b.elector.observed_holder() == a.identity)
    widgets.create("w2")
    wait_until(lambda: f"{ns}/w2" in rec_a.finished, what="a to reconcile w2")
    assert not b.is_leader() and rec_b.calls == [], "a follower must not reconcile"

    run_a.stop.set()
    assert run_a.wait_exit() == 0
    wait_until(b.is_leader, timeout=5, what="b to take over after a's release")
    wait_until(lambda: sorted(rec_b.keys()) == [f"{ns}/w1", f"{ns}/w2"], what="b reconciles")
    assert min(t for t, _ in rec_b.calls) > max(rec_a.finished_at), "never two leaders at once"
    assert lease_holder(kube_api_client, ns) == b.identity


def test_losing_the_lease_stops_the_manager_with_exit_1(
    widget_crd: None,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    start_manager: Callable[[Manager], Running],
) -> None:
    ns = kube_namespace
    rec_a, rec_b = Recording(), Recording()
    a = make_manager(kube_api_client, ns, rec_a, leader=True)
    b = make_manager(kube_api_client, ns, rec_b, leader=True)
    run_a = start_manager(a)
    wait_until(a.is_leader, what="a to lead")
    start_manager(b)
    wait_until(lambda: b.elector is not None and b.elector.observed_holder() == a.identity)
    assert a.elector is not None
    a.elector.try_acquire_or_renew = lambda: False  # type: ignore[method-assign]
    assert run_a.wait_exit() == 1
    wait_until(b.is_leader, timeout=5, what="b to take over once the lease expired")
    assert lease_holder(kube_api_client, ns) == b.identity


def test_stop_finishes_in_flight_reconcile_then_releases_the_lease(
    widget_crd: None,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    start_manager: Callable[[Manager], Running],
) -> None:
    ns = kube_namespace
    Widgets(kube_api_client, ns).create("slow")
    rec = Recording(block=True)
    manager = make_manager(kube_api_client, ns, rec, leader=True)
    running = start_manager(manager)
    assert rec.entered.wait(15)
    assert lease_holder(kube_api_client, ns) == manager.identity
    running.stop.set()
    running.thread.join(0.3)
    assert running.thread.is_alive(), "must wait for the in-flight reconcile"
    assert lease_holder(kube_api_client, ns) == manager.identity, "released too early"
    rec.release.set()
    assert running.wait_exit() == 0
    assert rec.finished == [f"{ns}/slow"]
    assert lease_holder(kube_api_client, ns) == ""


def test_rate_limited_client_spaces_requests(kube_server: Any) -> None:
    from bmo.runtime.clock import FakeClock

    clock = FakeClock()
    slept: list[float] = []
    clock.sleep = slept.append  # type: ignore[method-assign]
    api = RateLimitedApiClient(k8s.Configuration(host=kube_server.url), qps=2, burst=2, clock=clock)
    core = k8s.CoreV1Api(api)
    for _ in range(4):
        core.list_namespace()
    api.close()
    assert slept[:2] == [0.0, 0.0]  # the burst
    assert slept[2:] == [0.5, 1.0]  # then 2 per second, in debt


def test_rate_limited_client_has_a_budget_per_api_type(kube_server: Any) -> None:
    """Each API type has its own bucket, as each GroupVersionKind has its own REST client
    (and token bucket) in controller-runtime: Secrets are not held up by a busy host
    budget, and an object's status writes share the object's bucket."""
    from bmo.runtime.clock import FakeClock

    clock = FakeClock()
    slept: list[float] = []
    clock.sleep = slept.append  # type: ignore[method-assign]
    api = RateLimitedApiClient(k8s.Configuration(host=kube_server.url), qps=2, burst=2, clock=clock)
    core = k8s.CoreV1Api(api)
    for _ in range(3):
        core.list_namespace()
    assert slept == [0.0, 0.0, 0.5]
    core.list_secret_for_all_namespaces()
    core.list_secret_for_all_namespaces()
    assert slept[3:] == [0.0, 0.0]  # a full bucket of their own
    core.list_namespace()
    assert slept[5:] == [1.0]  # the namespaces' debt is still theirs
    api.close()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://k:6443/api/v1/namespaces", "namespaces"),
        ("https://k:6443/api/v1/namespaces/ns", "namespaces"),
        ("https://k:6443/api/v1/namespaces/ns/secrets/s?x=1", "secrets"),
        ("https://k:6443/api/v1/secrets?watch=true", "secrets"),
        (
            "https://k/apis/metal3.io/v1alpha1/namespaces/n/baremetalhosts/h/status",
            "metal3.io/baremetalhosts",
        ),
        ("https://k/apis/metal3.io/v1alpha1/baremetalhosts", "metal3.io/baremetalhosts"),
        (
            "https://k/prefix/apis/coordination.k8s.io/v1/namespaces/n/leases/l",
            "coordination.k8s.io/leases",
        ),
        ("https://k/version", "version"),
    ],
)
def test_api_type_of_a_request(url: str, kind: str) -> None:
    assert api_type(url) == kind


def test_connections_wanted_are_one_per_worker_and_watch_plus_spares() -> None:
    manager = Manager(
        ManagerSettings(namespaces=("a", "b"), health_addr=Address("127.0.0.1", 0)),
        k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:1")),
    )
    manager.informer(WIDGETS)  # one watch per namespace: 2
    manager.informer(WIDGETS, label_selector="x=y")  # 2 more
    manager.informer(WIDGETS)  # shared: no more
    for workers in (8, 3):
        queue: RateLimitingQueue[str] = RateLimitingQueue(name=f"test-{uuid.uuid4().hex[:6]}")
        manager.add_controller(Controller(f"c-{uuid.uuid4().hex[:6]}", Recording(), queue, workers))
    assert manager.connections_wanted() == 8 + 3 + 4 + SPARE_CONNECTIONS


def test_a_running_manager_sizes_its_clients_pool(
    widget_crd: None,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    start_manager: Callable[[Manager], Running],
) -> None:
    manager = make_manager(kube_api_client, kube_namespace, Recording())
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=f"test-{uuid.uuid4().hex[:6]}")
    manager.add_controller(Controller(f"wide-{uuid.uuid4().hex[:6]}", Recording(), queue, 20))
    wanted = manager.connections_wanted()
    assert wanted == 2 + 20 + 1 + SPARE_CONNECTIONS
    start_manager(manager)
    assert kube_api_client.configuration.connection_pool_maxsize == wanted
    wait_until(manager.caches_synced, what="caches to sync through the new pool")


def _concurrent_lists(server: KubeAPIServer, api: k8s.ApiClient, count: int) -> None:
    """``count`` namespace lists in flight at once: each is held by the emulator until all
    have arrived."""
    server.faults.stall(path_contains="/api/v1/namespaces", method="GET", seconds=30)
    core = k8s.CoreV1Api(api)
    threads = [threading.Thread(target=core.list_namespace) for _ in range(count)]
    for thread in threads:
        thread.start()
    wait_until(lambda: server.faults.held() == count, what=f"{count} held lists")
    server.faults.release_stalls()
    for thread in threads:
        thread.join(30)


@pytest.mark.parametrize("sized", [False, True])
def test_a_sized_pool_reuses_a_connection_per_concurrent_request(sized: bool) -> None:
    """With the client's default pool (10 connections), 16 concurrent requests open 16
    connections and keep 10: the next 16 open 6 more. Sized for 16, the second round opens
    none."""
    server = KubeAPIServer(host="127.0.0.1", port=0).start()
    api = RateLimitedApiClient(
        k8s.Configuration(host=server.url, connection_pool_maxsize=10), qps=1000, burst=1000
    )
    try:
        if sized:
            assert size_connection_pool(api, 16)
            assert api.configuration.connection_pool_maxsize == 16
            assert not size_connection_pool(api, 12)  # never shrinks
        _concurrent_lists(server, api, 16)
        assert server.connections_accepted == 16
        _concurrent_lists(server, api, 16)
        assert server.connections_accepted == (16 if sized else 22)
    finally:
        api.close()
        server.stop()


# -- real processes -----------------------------------------------------------------------

SLOW_MANAGER = """
import sys, threading
from kubernetes import client as k8s
from bmo.commands.run import install_signal_handlers
from bmo.runtime.logconfig import configure_logging
from bmo.runtime.controller import Controller, Result
from bmo.runtime.eventhandlers import EnqueueHandler, ignore_status_only
from bmo.runtime.informer import Resource
from bmo.runtime.manager import Manager
from bmo.runtime.queue import RateLimitingQueue
from bmo.settings import load

class Slow:
    def reconcile(self, namespace, name):
        print("reconcile started", name, flush=True)
        threading.Event().wait(1.5)
        print("reconcile finished", name, flush=True)
        return Result()

settings = load(sys.argv[2:])
configure_logging(dev=False)
api = k8s.ApiClient(k8s.Configuration(host=sys.argv[1]))
manager = Manager(settings.manager, api, leader_election=settings.leader_election)
queue = RateLimitingQueue(name="slow")
informer = manager.informer(Resource("informer.bmo.test", "v1", "widgets", "Widget"))
informer.add_handler(EnqueueHandler(queue, update_predicate=ignore_status_only))
manager.add_controller(Controller("slow", Slow(), queue, 1))
stop = threading.Event()
install_signal_handlers(stop)
sys.exit(manager.run(stop))
"""


class Process:
    """A child process whose stdout and stderr lines are collected by threads."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue_mod.Queue[str] = queue_mod.Queue()
        self.seen: list[str] = []
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        for line in self.seen:
            if predicate(line):
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue_mod.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        pytest.fail("no matching line; output so far:\n" + "\n".join(self.seen[-40:]))

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue_mod.Empty:
                return self.seen

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def processes() -> Iterator[Callable[[list[str], dict[str, str]], Process]]:
    started: list[Process] = []

    def spawn(argv: list[str], env: dict[str, str]) -> Process:
        p = Process(argv, env)
        started.append(p)
        return p

    yield spawn
    for p in started:
        p.kill()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "WATCH_NAMESPACE")}
    env.update(extra)
    return env


def test_sigterm_finishes_in_flight_reconcile_releases_lease_and_exits_0(
    widget_crd: None,
    kube_server: Any,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    processes: Callable[[list[str], dict[str, str]], Process],
) -> None:
    ns = kube_namespace
    Widgets(kube_api_client, ns).create("slow")
    flags = ["--namespace", ns, "--health-addr", "127.0.0.1:0", "--metrics-addr", "0"]
    flags += ["--enable-leader-election", "--provisioner", "fixture"]
    proc = processes(
        [sys.executable, "-c", SLOW_MANAGER, kube_server.url, *flags], child_env(POD_NAMESPACE=ns)
    )
    proc.wait_line(lambda line: line.startswith("reconcile started slow"))
    assert lease_holder(kube_api_client, ns) != ""
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(30) == 0
    lines = proc.drain()
    assert "reconcile finished slow" in lines
    assert any("signal received" in line for line in lines)
    assert lease_holder(kube_api_client, ns) == ""


BMH_CRD = "baremetalhosts.metal3.io"


@pytest.fixture
def bmh_crd(kube_api_client: k8s.ApiClient) -> Iterator[None]:
    """``bmo run`` watches BareMetalHosts. Use the served CRD if some test installed it;
    otherwise install a minimal stand-in and remove it afterwards, so this test neither
    depends on the real CRD nor leaves a fake one behind for other tests."""
    ext = k8s.ApiextensionsV1Api(kube_api_client)
    try:
        ext.read_custom_resource_definition(BMH_CRD)
        installed = False
    except k8s.ApiException as exc:
        if not is_not_found(exc):
            raise
        ext.create_custom_resource_definition(_minimal_bmh_crd())
        installed = True
    custom = k8s.CustomObjectsApi(kube_api_client)
    wait_until(lambda: _bmh_served(custom), what="the BareMetalHost CRD to be served")
    yield
    if installed:
        ext.delete_custom_resource_definition(BMH_CRD)


def _bmh_served(custom: k8s.CustomObjectsApi) -> bool:
    try:
        custom.list_cluster_custom_object("metal3.io", "v1alpha1", "baremetalhosts")
    except k8s.ApiException:
        return False
    return True


def _minimal_bmh_crd() -> dict[str, Any]:
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": BMH_CRD},
        "spec": {
            "group": "metal3.io",
            "scope": "Namespaced",
            "names": {
                "plural": "baremetalhosts",
                "singular": "baremetalhost",
                "kind": "BareMetalHost",
                "shortNames": ["bmh"],
            },
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": loose, "status": loose},
                        }
                    },
                }
            ],
        },
    }


def test_bmo_run_serves_probes_logs_keys_and_exits_0_on_sigterm(
    bmh_crd: None,
    kube_server: Any,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    processes: Callable[[list[str], dict[str, str]], Process],
) -> None:
    ns = kube_namespace
    k8s.CustomObjectsApi(kube_api_client).create_namespaced_custom_object(
        "metal3.io",
        "v1alpha1",
        ns,
        "baremetalhosts",
        {
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": "host-0"},
            "spec": {"online": False},
        },
    )
    argv = [sys.executable, "-m", "bmo", "run", "--kube-url", kube_server.url]
    argv += ["--namespace", ns, "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"]
    argv += ["--enable-leader-election", "--lease-duration-seconds", "15"]
    argv += ["--provisioner", "fixture", "--webhook-port", "0"]
    proc = processes(argv, child_env(POD_NAMESPACE=ns, BMO_CONCURRENCY="2"))

    def event(line: str) -> dict[str, Any]:
        try:
            parsed: dict[str, Any] = json.loads(line)
        except ValueError:
            return {}
        return parsed

    health = event(proc.wait_line(lambda line: event(line).get("endpoint") == "health"))
    port = int(health["port"])
    reconciled = event(proc.wait_line(lambda line: "added host finalizer" in line))
    assert reconciled["host"] == f"{ns}/host-0" and reconciled["reconcile_id"]
    wait_until(lambda: http_get(port, "/readyz")[0] == 200, what="readyz")
    assert lease_holder(kube_api_client, ns).startswith(os.uname().nodename + "_")
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(30) == 0
    assert lease_holder(kube_api_client, ns) == ""
    assert any(event(line).get("event") == "manager stopped" for line in proc.drain())


def test_a_stalled_lease_stops_the_manager_at_the_renew_deadline(
    widget_crd: None,
    kube_server: Any,
    kube_faults: Any,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    start_manager: Callable[[Manager], Running],
) -> None:
    """The API server hangs on the leader's Lease calls while a reconcile is in flight:
    the manager stops leading by its renew deadline, takes no new work and returns 1 at
    once (controller-runtime exits on ``OnStoppedLeading``) without waiting for the stuck
    reconcile, and the other replica leads only after that."""
    ns = kube_namespace
    widgets = Widgets(kube_api_client, ns)
    widgets.create("busy")
    cfg = k8s.Configuration(host=kube_server.url)
    api_a = k8s.ApiClient(cfg)
    api_a.user_agent = "replica-a"
    rec_a, rec_b = Recording(block=True), Recording()
    a = make_manager(api_a, ns, rec_a, leader=True)
    b = make_manager(kube_api_client, ns, rec_b, leader=True)
    run_a = start_manager(a)
    assert rec_a.entered.wait(15)
    start_manager(b)
    wait_until(lambda: b.elector is not None and b.elector.observed_holder() == a.identity)
    try:
        stalled_at = time.monotonic()
        kube_faults.stall(path_contains="/leases", user_agent="replica-a", seconds=60)
        assert run_a.wait_exit(timeout=10) == 1
        took = time.monotonic() - stalled_at
        assert took < FAST_LEASE["renew_deadline"] + 2.0, took
        assert not a.is_leader()
        widgets.create("after")
        wait_until(b.is_leader, timeout=10, what="b to take over")
        wait_until(lambda: f"{ns}/after" in rec_b.finished, what="b reconciles new work")
        called_a = [key for _, key in rec_a.calls]
        assert f"{ns}/after" not in called_a, "a reconciled after losing the lease"
    finally:
        kube_faults.release_stalls()
        rec_a.release.set()
        api_a.close()  # type: ignore[no-untyped-call]


def test_a_stalled_write_frees_the_worker_within_the_client_timeout(
    kube_server: Any, kube_faults: Any, kube_namespace: str
) -> None:
    """One hung API call must not pin a worker: the client sets a request timeout on every
    call (the API server itself gives up on a non-watch request after 60 s), here shortened
    so a stalled write fails fast and the worker goes back to the queue."""
    api = RateLimitedApiClient(k8s.Configuration(host=kube_server.url), request_timeout=1.0)
    core = k8s.CoreV1Api(api)

    call_ended: list[float] = []

    class Writer:
        def reconcile(self, namespace: str, name: str) -> Result:
            body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name))
            try:
                core.create_namespaced_config_map(namespace, body)
            finally:
                call_ended.append(time.monotonic())
            return Result()

    queue: RateLimitingQueue[str] = RateLimitingQueue(name=f"test-{uuid.uuid4().hex[:6]}")
    controller = Controller("writer", Writer(), queue, 1)
    kube_faults.stall(path_contains="/configmaps", method="POST", seconds=30)
    try:
        started = time.monotonic()
        outcome = controller.process(f"{kube_namespace}/stuck")
        assert outcome == "error"
        took = call_ended[0] - started
        assert took < 3.0, f"the worker was pinned for {took:.1f} s"
        # Reads and relists carry the default too (a stalled list fails, not hangs).
        kube_faults.stall(path_contains="/configmaps", method="GET", seconds=30)
        started = time.monotonic()
        with pytest.raises(TransportError):
            core.list_namespaced_config_map(kube_namespace)
        assert time.monotonic() - started < 3.0
    finally:
        kube_faults.release_stalls()
        api.close()


def https_get(port: int | None, path: str, token: str | None = None) -> tuple[int, str]:
    import ssl

    assert port is not None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the self-signed certificate, as the ServiceMonitor
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"https://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_are_served_over_https_to_authorized_tokens_only(
    kube_server: Any, kube_api_client: k8s.ApiClient, start_manager: Callable[[Manager], Running]
) -> None:
    """upstream main.go: SecureServing + filters.WithAuthenticationAndAuthorization. A scrape
    needs a bearer token the API server knows (TokenReview) for a user allowed to get
    /metrics (SubjectAccessReview); decisions are cached briefly."""
    reader, stranger = f"reader-{uuid.uuid4().hex}", f"stranger-{uuid.uuid4().hex}"
    kube_server.reviews.add_token(reader, "system:serviceaccount:monitoring:prometheus")
    kube_server.reviews.add_token(stranger, "system:serviceaccount:default:nobody")
    kube_server.reviews.allow("system:serviceaccount:monitoring:prometheus", "get", "/metrics")
    settings = ManagerSettings(
        health_addr=Address("127.0.0.1", 0), metrics_addr=Address("127.0.0.1", 0)
    )
    manager = Manager(settings, kube_api_client)
    start_manager(manager)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        http_get(manager.metrics_port, "/metrics")  # no plain HTTP on the secure port
    assert https_get(manager.metrics_port, "/metrics")[0] == 401
    assert https_get(manager.metrics_port, "/metrics", "not-a-token")[0] == 401
    assert https_get(manager.metrics_port, "/metrics", stranger)[0] == 403
    before = dict(kube_server.reviews.calls)
    status, text = https_get(manager.metrics_port, "/metrics", reader)
    assert status == 200 and "workqueue_adds_total" in text
    assert https_get(manager.metrics_port, "/metrics", reader)[0] == 200
    calls = kube_server.reviews.calls
    assert calls["tokenreviews"] - before["tokenreviews"] == 1, "authentication is cached"
    assert calls["subjectaccessreviews"] - before["subjectaccessreviews"] == 1


def test_plain_http_metrics_are_refused_off_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ManagerSettings(metrics_addr=Address("", 8080), metrics_secure=False)
    with pytest.raises(ValueError, match="loopback"):
        ManagerSettings(metrics_addr=Address("10.0.0.1", 8080), metrics_secure=False)
    ManagerSettings(metrics_addr=Address("::1", 8080), metrics_secure=False)
