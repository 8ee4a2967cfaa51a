"""Watch semantics beyond the shared checks: history window, selectors, timeouts, cleanup."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client, watch

from testenv.kubeapi import KubeAPIServer

from .helpers import GROUP, PLURAL, VERSION, read_watch, wait_for, widget, widget_crd

BASE = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"


@pytest.fixture
def server() -> Iterator[KubeAPIServer]:
    with KubeAPIServer(history_limit=5) as srv:
        srv.install_crd(widget_crd())
        yield srv


@pytest.fixture
def co(server: KubeAPIServer) -> Iterator[client.CustomObjectsApi]:
    cfg = client.Configuration()
    cfg.host = server.url
    with client.ApiClient(cfg) as api:
        yield client.CustomObjectsApi(api)


def create(co: client.CustomObjectsApi, name: str, **kw: Any) -> dict[str, Any]:
    return co.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget(name, **kw))


def rv_of(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def test_resume_replays_only_later_events(
    server: KubeAPIServer, co: client.CustomObjectsApi
) -> None:
    a = create(co, "a")
    create(co, "b")
    co.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "b")
    events = read_watch(f"{server.url}{BASE}?watch=1&resourceVersion={rv_of(a)}&timeoutSeconds=1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("DELETED", "b"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > rv_of(a)


def test_watch_older_than_the_window_gets_410_gone(
    server: KubeAPIServer, co: client.CustomObjectsApi
) -> None:
    first = create(co, "w0")
    for i in range(1, 8):  # history_limit=5: w0's event falls out of the window
        create(co, f"w{i}")
    events = read_watch(f"{server.url}{BASE}?watch=1&resourceVersion={rv_of(first)}")
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    recent = co.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    events = read_watch(
        f"{server.url}{BASE}?watch=1&resourceVersion={recent['metadata']['resourceVersion']}&timeoutSeconds=1"
    )
    assert events == [], "a watch from the list's resourceVersion starts cleanly"


def test_official_client_raises_410(server: KubeAPIServer, co: client.CustomObjectsApi) -> None:
    first = create(co, "x0")
    for i in range(1, 8):
        create(co, f"x{i}")
    with pytest.raises(client.ApiException) as e:
        for _ in watch.Watch().stream(
            co.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL,
            resource_version=str(rv_of(first)), timeout_seconds=2,
        ):  # fmt: skip
            pass
    assert e.value.status == 410


def test_watch_without_resource_version_starts_with_current_objects(
    server: KubeAPIServer, co: client.CustomObjectsApi
) -> None:
    create(co, "s1")
    create(co, "s2")
    events = read_watch(f"{server.url}{BASE}?watch=true&timeoutSeconds=1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "s1"),
        ("ADDED", "s2"),
    ]


def test_label_change_moves_objects_in_and_out_of_a_selector(
    server: KubeAPIServer, co: client.CustomObjectsApi
) -> None:
    obj = create(co, "l1", labels={"role": "b"})
    start = rv_of(obj)
    co.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "l1", {"metadata": {"labels": {"role": "a"}}}
    )
    co.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "l1", {"spec": {"online": False}}
    )
    co.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "l1", {"metadata": {"labels": {"role": "c"}}}
    )
    events = read_watch(
        f"{server.url}{BASE}?watch=1&resourceVersion={start}&labelSelector=role%3Da&timeoutSeconds=1"
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_field_selector_on_name(server: KubeAPIServer, co: client.CustomObjectsApi) -> None:
    obj = create(co, "f1")
    create(co, "f2")
    events = read_watch(
        f"{server.url}{BASE}?watch=1&resourceVersion={rv_of(obj) - 1}"
        "&fieldSelector=metadata.name%3Df2&timeoutSeconds=1"
    )
    assert [e["object"]["metadata"]["name"] for e in events] == ["f2"]


def test_cluster_wide_watch_sees_every_namespace(
    server: KubeAPIServer, co: client.CustomObjectsApi
) -> None:
    core = client.CoreV1Api(co.api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="other")))
    start = server.store.resource_version
    create(co, "c1")
    co.create_namespaced_custom_object(GROUP, VERSION, "other", PLURAL, widget("c2"))
    events = read_watch(
        f"{server.url}/apis/{GROUP}/{VERSION}/{PLURAL}?watch=1&resourceVersion={start}&timeoutSeconds=1"
    )
    seen = [(e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in events]
    assert seen == [("default", "c1"), ("other", "c2")]


def test_timeout_seconds_ends_the_stream_with_a_bookmark(server: KubeAPIServer) -> None:
    rv = server.store.resource_version
    events = read_watch(
        f"{server.url}{BASE}?watch=1&resourceVersion={rv}&timeoutSeconds=1&allowWatchBookmarks=true"
    )
    assert events == [
        {
            "type": "BOOKMARK",
            "object": {
                "kind": "Widget",
                "apiVersion": f"{GROUP}/{VERSION}",
                "metadata": {"resourceVersion": rv},
            },
        }
    ]


def test_send_initial_events_ends_with_the_initial_events_bookmark(
    server: KubeAPIServer, co: client.CustomObjectsApi
) -> None:
    create(co, "i1")
    events = read_watch(
        f"{server.url}{BASE}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=1"
    )
    assert [e["type"] for e in events][:2] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_closed_client_unregisters_its_watcher(server: KubeAPIServer) -> None:
    resp = requests.get(f"{server.url}{BASE}?watch=1", stream=True, timeout=5)
    wait_for(lambda: len(server.store.watchers) == 1, what="the watch to register")
    resp.close()
    wait_for(lambda: not server.store.watchers, timeout=5, what="the watcher to go")


def test_stop_ends_open_watches(co: client.CustomObjectsApi) -> None:
    srv = KubeAPIServer().start()
    srv.install_crd(widget_crd())
    done = threading.Event()

    def run() -> None:
        with contextlib.suppress(requests.RequestException):
            read_watch(f"{srv.url}{BASE}?watch=1", timeout=30)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    wait_for(lambda: srv.store.watchers, what="the watch to register")
    srv.stop()
    assert done.wait(5), "the watch stream did not end when the server stopped"
