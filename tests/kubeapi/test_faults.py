"""Each injected fault, through the official client (and the HTTP control endpoint)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client

from testenv.kubeapi import Faults, KubeAPIServer

from .helpers import GROUP, PLURAL, VERSION, read_watch, wait_for, widget, widget_crd

BASE = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"


@pytest.fixture(scope="module")
def server() -> Iterator[KubeAPIServer]:
    with KubeAPIServer() as srv:
        srv.install_crd(widget_crd())
        yield srv


@pytest.fixture
def faults(server: KubeAPIServer) -> Iterator[Faults]:
    server.faults.clear()
    yield server.faults
    server.faults.clear()


@pytest.fixture
def co(server: KubeAPIServer) -> Iterator[client.CustomObjectsApi]:
    cfg = client.Configuration()
    cfg.host = server.url
    with client.ApiClient(cfg) as api:
        yield client.CustomObjectsApi(api)


def create(co: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return co.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget(name))


def test_conflict_next_writes_filters_by_verb_and_name(
    faults: Faults, co: client.CustomObjectsApi
) -> None:
    create(co, "c1")
    faults.conflict_next_writes(n=2, resource="widgets", verb="patch", name="c1")
    create(co, "c2")  # a create: not affected
    for _ in range(2):
        with pytest.raises(client.ApiException) as e:
            co.patch_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL, "c1", {"spec": {"online": False}}
            )
        assert e.value.status == 409
    assert (
        co.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "c1")["spec"]["online"]
        is True
    )
    co.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "c1", {"spec": {"online": False}}
    )


def test_conflict_next_writes_ignores_other_resources(
    faults: Faults, co: client.CustomObjectsApi
) -> None:
    faults.conflict_next_writes(n=1, resource="secrets")
    create(co, "c3")
    core = client.CoreV1Api(co.api_client)
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_secret(
            "default", client.V1Secret(metadata=client.V1ObjectMeta(name="s-c3"))
        )
    assert e.value.status == 409
    core.create_namespaced_secret(
        "default", client.V1Secret(metadata=client.V1ObjectMeta(name="s-c3"))
    )


def test_gone_next_watches(faults: Faults, server: KubeAPIServer) -> None:
    faults.gone_next_watches(n=1, resource="widgets")
    rv = server.store.resource_version
    events = read_watch(f"{server.url}{BASE}?watch=1&resourceVersion={rv}&timeoutSeconds=1")
    assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]
    assert read_watch(f"{server.url}{BASE}?watch=1&resourceVersion={rv}&timeoutSeconds=1") == []


def test_drop_watches_ends_streams_cleanly_or_abruptly(
    faults: Faults, server: KubeAPIServer
) -> None:
    outcome: dict[str, str] = {}

    def watch(tag: str) -> None:
        try:
            read_watch(f"{server.url}{BASE}?watch=1", timeout=30)
            outcome[tag] = "ended"
        except requests.RequestException:
            outcome[tag] = "broken"

    for abrupt, expected in ((False, "ended"), (True, "broken")):
        t = threading.Thread(target=watch, args=(expected,), daemon=True)
        t.start()
        wait_for(lambda: server.store.watchers, what="a watch")
        assert faults.drop_watches(abrupt=abrupt) == 1
        t.join(5)
        assert outcome.get(expected) == expected


def test_error_share_is_reproducible(faults: Faults, co: client.CustomObjectsApi) -> None:
    def pattern() -> list[int]:
        got = []
        for _ in range(40):
            try:
                co.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
                got.append(200)
            except client.ApiException as e:
                got.append(e.status)
        return got

    faults.error_share(share=0.5, status=503, seed=7)
    first = pattern()
    faults.error_share(share=0.5, status=503, seed=7)
    assert pattern() == first
    assert 5 < first.count(503) < 35 and set(first) == {200, 503}
    faults.clear()
    assert set(pattern()) == {200}


def test_latency(faults: Faults, co: client.CustomObjectsApi) -> None:
    faults.latency(0.2)
    t0 = time.monotonic()
    co.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert time.monotonic() - t0 >= 0.2


def test_request_log_counts(server: KubeAPIServer, co: client.CustomObjectsApi) -> None:
    server.clear_requests()
    create(co, "r1")
    with pytest.raises(client.ApiException):
        co.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "missing")
    assert server.count_requests("POST", BASE, status=201) == 1
    assert server.count_requests("GET", f"{BASE}/missing", status=404) == 1
    # Another test's watch may end (and be logged) meanwhile, so look for the record
    # rather than assuming it is the last one.
    assert ("GET", f"{BASE}/missing", 404) in [
        (r.method, r.path, r.status) for r in server.requests
    ]


def test_http_control_endpoint(
    server: KubeAPIServer, faults: Faults, co: client.CustomObjectsApi
) -> None:
    req = urllib.request.Request(
        f"{server.url}/_emulator/faults",
        data=json.dumps({"action": "conflict_next_writes", "n": 1, "resource": "widgets"}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(req) as resp:
        assert json.loads(resp.read())["conflictNextWrites"][0]["remaining"] == 1
    with pytest.raises(client.ApiException) as e:
        create(co, "h1")
    assert e.value.status == 409
    with urllib.request.urlopen(f"{server.url}/_emulator/requests") as resp:
        assert any(r["status"] == 409 for r in json.loads(resp.read()))


def test_the_listen_backlog_holds_a_burst_of_connections() -> None:
    """bmo's connection pool grows with its workers and watches; a backlog of
    socketserver's default 5 had connections of a burst reset (seen in ``hack.bench_scale``).
    Whether a full backlog resets or delays depends on the kernel, so the size is what is
    checked."""
    from testenv.kubeapi.server import EmulatorHTTPServer

    assert EmulatorHTTPServer.request_queue_size >= 64
