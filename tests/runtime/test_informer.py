"""The informer against the Kubernetes API emulator: list, watch, relist without lost or
duplicated events, resync, indexes, predicates and backoff."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.runtime.cache import KubeObject, object_key, resource_version
from bmo.runtime.clock import FakeClock
from bmo.runtime.errors import is_conflict
from bmo.runtime.eventhandlers import (
    EnqueueHandler,
    ignore_status_only,
    owner_keys,
    status_only_change,
)
from bmo.runtime.informer import Informer, Resource

GROUP = "informer.bmo.test"
WIDGETS = Resource(GROUP, "v1", "widgets", "Widget")

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}

DEADLINE = 15.0


def wait_until(condition: Callable[[], bool], timeout: float = DEADLINE, what: str = "") -> None:
    """Poll ``condition`` until true or fail after ``timeout`` real seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


class Recorder:
    """An event handler that records what it is told, thread-safely."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, bool]] = []  # (type, key, rv, old is new)
        self.lock = threading.Lock()

    def on_add(self, obj: KubeObject) -> None:
        self._record("add", obj)

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        self._record("update", new, resync=old is new)

    def on_delete(self, obj: KubeObject) -> None:
        self._record("delete", obj)

    def _record(self, kind: str, obj: KubeObject, resync: bool = False) -> None:
        with self.lock:
            self.events.append((kind, object_key(obj), resource_version(obj), resync))

    def snapshot(self) -> list[tuple[str, str, str, bool]]:
        with self.lock:
            return list(self.events)

    def of(self, kind: str) -> list[str]:
        return [key for k, key, _, _ in self.snapshot() if k == kind]

    def clear(self) -> None:
        with self.lock:
            self.events.clear()


class KeyRecorder:
    """A stand-in queue recording the keys handlers add."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.lock = threading.Lock()

    def add(self, key: str) -> None:
        with self.lock:
            self.keys.append(key)

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.keys)


@pytest.fixture(scope="session")
def widget_crd(kube_server: Any) -> None:
    api_client = k8s.ApiClient(k8s.Configuration(host=kube_server.url))
    ext = k8s.ApiextensionsV1Api(api_client)
    try:
        ext.create_custom_resource_definition(WIDGET_CRD)
    except k8s.ApiException as exc:
        if not is_conflict(exc):
            raise
    custom = k8s.CustomObjectsApi(api_client)
    wait_until(lambda: _served(custom), what="the Widget CRD to be served")
    api_client.close()


def _served(custom: k8s.CustomObjectsApi) -> bool:
    try:
        custom.list_cluster_custom_object(GROUP, "v1", "widgets")
    except k8s.ApiException:
        return False
    return True


class Widgets:
    """Create/update/delete Widgets in one namespace through the real client."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.namespace = namespace

    def create(self, name: str, **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": spec,
        }
        result: dict[str, Any] = self.api.create_namespaced_custom_object(
            GROUP, "v1", self.namespace, "widgets", body
        )
        return result

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.api.patch_namespaced_custom_object(
            GROUP, "v1", self.namespace, "widgets", name, body
        )
        return result

    def patch_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.api.patch_namespaced_custom_object_status(
            GROUP, "v1", self.namespace, "widgets", name, {"status": status}
        )
        return result

    def delete(self, name: str) -> None:
        self.api.delete_namespaced_custom_object(GROUP, "v1", self.namespace, "widgets", name)


@pytest.fixture
def widgets(widget_crd: None, kube_api_client: k8s.ApiClient, kube_namespace: str) -> Widgets:
    return Widgets(kube_api_client, kube_namespace)


@pytest.fixture
def run_informer() -> Iterator[Callable[[Informer], Informer]]:
    """Start informers in background threads and stop them after the test."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start(informer: Informer) -> Informer:
        stop = threading.Event()
        started.append((stop, informer.start(stop)))
        return informer

    yield start
    for stop, _thread in started:
        stop.set()
    for _, thread in started:
        thread.join(timeout=30)
        assert not thread.is_alive(), "informer did not stop"


def test_initial_list_then_add_update_delete(
    widgets: Widgets,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    run_informer: Callable[[Informer], Informer],
) -> None:
    for name in ("a", "b", "c"):
        widgets.create(name, size=1, ports=[80])
    rec = Recorder()
    informer = Informer(kube_api_client, WIDGETS, namespaces=[kube_namespace], page_size=2)
    informer.add_handler(rec)
    assert not informer.has_synced()
    run_informer(informer)
    wait_until(informer.has_synced, what="initial sync")
    ns = kube_namespace
    assert sorted(rec.of("add")) == [f"{ns}/a", f"{ns}/b", f"{ns}/c"]
    assert len(informer.objects(ns)) == 3

    widgets.create("d", size=4)
    wait_until(lambda: f"{ns}/d" in rec.of("add"), what="ADDED d")
    updated = widgets.patch("a", {"spec": {"size": 2}})
    wait_until(lambda: rec.of("update") == [f"{ns}/a"], what="MODIFIED a")
    cached = informer.get(f"{ns}/a")
    assert cached is not None
    assert resource_version(cached) == updated["metadata"]["resourceVersion"]
    assert cached["spec"]["size"] == 2
    widgets.delete("b")
    wait_until(lambda: rec.of("delete") == [f"{ns}/b"], what="DELETED b")
    assert informer.get(f"{ns}/b") is None
    assert sorted(o["metadata"]["name"] for o in informer.objects(ns)) == ["a", "c", "d"]
    assert cached["kind"] == "Widget" and cached["apiVersion"] == f"{GROUP}/v1"
    # Objects are shared, read-only snapshots.
    with pytest.raises(TypeError):
        cached["spec"]["size"] = 99  # type: ignore[index]
    with pytest.raises(AttributeError):
        cached["spec"]["ports"].append(443)


def test_resync_redelivers_every_object_on_the_injected_clock(
    widgets: Widgets,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    run_informer: Callable[[Informer], Informer],
) -> None:
    for name in ("a", "b", "c"):
        widgets.create(name)
    clock = FakeClock()
    rec = Recorder()
    informer = Informer(
        kube_api_client, WIDGETS, namespaces=[kube_namespace], resync_period=60, clock=clock
    )
    informer.add_handler(rec)
    run_informer(informer)
    wait_until(informer.has_synced, what="initial sync")
    assert clock.wait_for_waiters(1), "resync loop should be parked on the clock"
    clock.step(59)
    assert clock.wait_for_waiters(1)
    assert rec.of("update") == []
    clock.step(1)
    wait_until(lambda: len(rec.of("update")) == 3, what="resync")
    resyncs = [e for e in rec.snapshot() if e[0] == "update"]
    assert all(is_resync for *_, is_resync in resyncs)
    assert sorted(key for _, key, _, _ in resyncs) == [
        f"{kube_namespace}/{n}" for n in ("a", "b", "c")
    ]
    # Resync updates pass the status-only predicate: they are the level-triggered net.
    obj = informer.get(f"{kube_namespace}/a")
    assert obj is not None and ignore_status_only(obj, obj)


def _changes_while_down(widgets: Widgets, ns: str) -> dict[str, list[str]]:
    """Update a, delete b, create d; c is untouched. Returns the expected events."""
    widgets.patch("a", {"spec": {"size": 10}})
    widgets.delete("b")
    widgets.create("d")
    return {"add": [f"{ns}/d"], "update": [f"{ns}/a"], "delete": [f"{ns}/b"]}


def _assert_exactly(rec: Recorder, expected: dict[str, list[str]]) -> None:
    events = rec.snapshot()
    for kind, keys in expected.items():
        assert sorted(k for t, k, _, _ in events if t == kind) == sorted(keys), events
    assert len(events) == sum(len(v) for v in expected.values()), events


@pytest.mark.parametrize("fault", ["clean-end", "abrupt-drop", "gone"])
def test_relist_after_dropped_watch_or_410_loses_and_duplicates_nothing(
    fault: str,
    widgets: Widgets,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    kube_faults: Any,
    kube_server: Any,
    run_informer: Callable[[Informer], Informer],
) -> None:
    ns = kube_namespace
    for name in ("a", "b", "c"):
        widgets.create(name, size=1)
    clock = FakeClock()
    rec = Recorder()
    informer = Informer(kube_api_client, WIDGETS, namespaces=[ns], clock=clock)
    informer.add_handler(rec)
    run_informer(informer)
    wait_until(informer.has_synced, what="initial sync")
    wait_until(lambda: informer.stats()["watches"] == 1, what="first watch")
    # The client counts a watch as started before the server has registered it: a drop in
    # between would hit nothing, so wait for the server's side too.
    wait_until(
        lambda: any(w.namespace == ns for w in list(kube_server.store.watchers)),
        what="the watch open on the server",
    )
    rec.clear()

    if fault == "gone":
        kube_faults.gone_next_watches(1)
    kube_faults.drop_watches(abrupt=fault == "abrupt-drop")
    # A cut connection parks the reflector in its backoff on the fake clock, so the watch is
    # down while we change things; a clean end resumes from the last resourceVersion (and
    # with "gone" that resume gets a 410 and relists).
    expected = _changes_while_down(widgets, ns)
    deadline = time.monotonic() + DEADLINE
    while len(rec.snapshot()) < 3 and time.monotonic() < deadline:
        clock.step(1.0)
        time.sleep(0.01)
    wait_until(lambda: len(rec.snapshot()) >= 3, what="the changes made while down")
    stats = informer.stats()
    if fault == "clean-end":
        assert stats["lists"] == 1, stats  # resumed from the last resourceVersion
    else:
        assert stats["lists"] >= 2, stats  # relisted and diffed against the cache
    # A later change arrives once, through the new watch.
    widgets.patch("c", {"spec": {"size": 3}})
    expected["update"].append(f"{ns}/c")
    wait_until(lambda: f"{ns}/c" in rec.of("update"), what="MODIFIED c after recovery")
    _assert_exactly(rec, expected)
    assert sorted(o["metadata"]["name"] for o in informer.objects(ns)) == ["a", "c", "d"]


def test_410_on_watch_start_relists(
    widgets: Widgets,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    kube_faults: Any,
    run_informer: Callable[[Informer], Informer],
) -> None:
    ns = kube_namespace
    widgets.create("a")
    kube_faults.gone_next_watches(1)
    rec = Recorder()
    informer = Informer(kube_api_client, WIDGETS, namespaces=[ns], clock=FakeClock())
    informer.add_handler(rec)
    run_informer(informer)
    wait_until(lambda: informer.stats()["lists"] >= 2, what="relist after 410")
    widgets.create("b")
    wait_until(lambda: f"{ns}/b" in rec.of("add"), what="ADDED b")
    _assert_exactly(rec, {"add": [f"{ns}/a", f"{ns}/b"]})


def test_watch_timeouts_resume_from_last_resource_version(
    widgets: Widgets,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    run_informer: Callable[[Informer], Informer],
) -> None:
    ns = kube_namespace
    rec = Recorder()
    informer = Informer(kube_api_client, WIDGETS, namespaces=[ns], watch_timeout_range=(1, 1))
    informer.add_handler(rec)
    run_informer(informer)
    wait_until(informer.has_synced, what="initial sync")
    names = []
    for i in range(5):
        names.append(f"w{i}")
        widgets.create(f"w{i}")
        start = informer.stats()["watches"]
        wait_until(lambda s=start: informer.stats()["watches"] > s, what="a watch restart")
    wait_until(lambda: len(rec.of("add")) == 5, what="all adds")
    _assert_exactly(rec, {"add": [f"{ns}/{n}" for n in names]})
    assert informer.stats()["lists"] == 1, "clean watch ends must not relist"


def test_list_errors_back_off_on_the_clock(
    widgets: Widgets,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    kube_faults: Any,
    run_informer: Callable[[Informer], Informer],
) -> None:
    widgets.create("a")
    kube_faults.error_share(1.0, 500, 1)
    clock = FakeClock()
    informer = Informer(kube_api_client, WIDGETS, namespaces=[kube_namespace], clock=clock)
    run_informer(informer)
    wait_until(lambda: informer.stats()["list_attempts"] == 1, what="first list attempt")
    assert clock.wait_for_waiters(1), "the reflector must wait on the clock after a failure"
    assert informer.stats()["list_attempts"] == 1, "no hot loop against a failing server"
    clock.step(0.5)  # less than the minimum backoff (0.8 s - 20 %)
    assert clock.wait_for_waiters(1)
    assert informer.stats()["list_attempts"] == 1
    clock.step(0.5)
    wait_until(lambda: informer.stats()["list_attempts"] == 2, what="second attempt")
    assert not informer.has_synced()
    kube_faults.clear()
    deadline = time.monotonic() + DEADLINE
    while not informer.has_synced() and time.monotonic() < deadline:
        clock.step(5.0)
        time.sleep(0.01)
    assert informer.has_synced()
    assert len(informer.objects()) == 1


def test_status_only_updates_are_filtered_but_metadata_changes_are_not(
    widgets: Widgets,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    run_informer: Callable[[Informer], Informer],
) -> None:
    ns = kube_namespace
    key = f"{ns}/h"
    widgets.create("h", online=True)
    queue = KeyRecorder()
    informer = Informer(kube_api_client, WIDGETS, namespaces=[ns])
    informer.add_handler(EnqueueHandler(queue, update_predicate=ignore_status_only))
    run_informer(informer)
    wait_until(informer.has_synced, what="initial sync")
    assert queue.snapshot() == [key]

    def seen(obj: dict[str, Any]) -> Callable[[], bool]:
        rv = obj["metadata"]["resourceVersion"]
        return lambda: resource_version(informer.get(key) or {}) == rv

    status = widgets.patch_status("h", {"provisioning": {"state": "available"}})
    wait_until(seen(status), what="status update in cache")
    assert queue.snapshot() == [key], "status-only update must not be queued"

    steps: list[dict[str, Any]] = [
        {"metadata": {"annotations": {"reboot.metal3.io": ""}}},
        {"metadata": {"finalizers": ["baremetalhost.metal3.io"]}},
        {"metadata": {"labels": {"team": "a"}}},
        {"spec": {"online": False}},
    ]
    for n, body in enumerate(steps, start=2):
        wait_until(seen(widgets.patch("h", body)), what=f"update {body}")
        assert queue.snapshot() == [key] * n, body

    widgets.delete("h")  # has a finalizer: sets deletionTimestamp (an update that passes)
    wait_until(lambda: len(queue.snapshot()) == 6, what="deletionTimestamp update")
    widgets.patch("h", {"metadata": {"finalizers": None}})
    wait_until(lambda: informer.get(key) is None, what="delete")
    assert queue.snapshot() == [key] * 7


def test_multiple_namespaces_and_cluster_wide(
    widgets: Widgets,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    run_informer: Callable[[Informer], Informer],
) -> None:
    core = k8s.CoreV1Api(kube_api_client)
    other = f"{kube_namespace}-b"
    core.create_namespace({"metadata": {"name": other}})
    try:
        others = Widgets(kube_api_client, other)
        widgets.create("x")
        others.create("y")
        scoped = Informer(kube_api_client, WIDGETS, namespaces=[kube_namespace, other])
        everything = Informer(kube_api_client, WIDGETS)
        run_informer(scoped)
        run_informer(everything)
        wait_until(lambda: scoped.has_synced() and everything.has_synced(), what="sync")
        assert [o["metadata"]["name"] for o in scoped.objects(kube_namespace)] == ["x"]
        assert [o["metadata"]["name"] for o in scoped.objects(other)] == ["y"]
        assert {f"{kube_namespace}/x", f"{other}/y"} <= set(everything.store.keys())
        others.create("z")
        wait_until(lambda: scoped.get(f"{other}/z") is not None, what="z in scoped")
        wait_until(lambda: everything.get(f"{other}/z") is not None, what="z cluster-wide")
    finally:
        core.delete_namespace(other)


def test_status_only_change_predicate() -> None:
    base = {
        "metadata": {
            "name": "h",
            "generation": 1,
            "resourceVersion": "1",
            "annotations": {"a": "1"},
            "finalizers": ["f"],
            "labels": {"l": "1"},
        },
        "status": {"x": 1},
    }

    def changed(**meta: Any) -> dict[str, Any]:
        return {
            "metadata": {**base["metadata"], "resourceVersion": "2", **meta},
            "status": {"x": 2},
        }

    assert status_only_change(base, changed())
    assert not status_only_change(base, changed(generation=2))
    assert not status_only_change(base, changed(annotations={"a": "2"}))
    assert not status_only_change(base, changed(finalizers=[]))
    assert not status_only_change(base, changed(labels={}))
    assert not status_only_change(base, changed(deletionTimestamp="2026-01-01T00:00:00Z"))
    assert not status_only_change(base, base)  # resync


def test_owner_keys_map_owners_of_one_kind_and_group() -> None:
    mapper = owner_keys("apps", "Deployment")
    refs = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
        {"apiVersion": "example.com/v1", "kind": "Deployment", "name": "other-group"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        {"apiVersion": "apps/v1beta1", "kind": "Deployment", "name": "old"},
    ]
    pod = {"metadata": {"namespace": "ns", "name": "p", "ownerReferences": refs}}
    assert list(mapper(pod)) == ["ns/web", "ns/old"]
    cluster_scoped = {"metadata": {"name": "n", "ownerReferences": refs[:1]}}
    assert list(mapper(cluster_scoped)) == ["web"]
    assert list(mapper({"metadata": {"name": "orphan"}})) == []
