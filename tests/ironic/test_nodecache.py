"""The Ironic node cache (bmo.ironic.nodecache) against requests-mock.

requests-mock here because these tests need exact control of what each list returns from one
poll to the next (pages, a wipe, an outage) and of the clock; the real-Ironic behaviour is in
tests/ironic/test_nodecache_integration.py.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.nodecache import (
    DEFAULT_FAST_INTERVAL,
    DEFAULT_SLOW_INTERVAL,
    WRITE_HOT_WINDOW,
    NodeCache,
    NodeChange,
    cache_fields,
)
from tests.ironic.conftest import API, FakeClock, count, node_json

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
U3 = "33333333-3333-4333-8333-333333333333"


def listing(*nodes: dict[str, object], next_marker: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"nodes": list(nodes)}
    if next_marker:
        body["next"] = f"{API}/nodes?limit=1000&marker={next_marker}"
    return body


def list_requests(mocker: requests_mock.Mocker) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlparse(r.url).query)
        for r in mocker.request_history
        if r.method == "GET" and r.path.rstrip("/") == "/v1/nodes"
    ]


def test_one_paged_list_with_only_the_fields_bmo_reads(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    first = node_json(U1, name="ns~a", provision_state="active")
    second = node_json(U2, name="ns~b", provision_state="available")
    mock_ironic.get(
        f"{API}/nodes",
        [{"json": listing(first, next_marker=U1)}, {"json": listing(second)}],
    )
    cache = client.node_cache(clock=clock)
    cache.poll()
    queries = list_requests(mock_ironic)
    assert len(queries) == 2, "two pages, two requests"
    assert "marker" not in queries[0] and queries[1]["marker"] == [U1]
    wanted = set(queries[0]["fields"][0].split(","))
    assert wanted == set(cache_fields(client.microversion))
    assert {"uuid", "name", "provision_state", "power_state", "last_error", "health"} <= wanted
    # Every host's read is served from the one list: no per-node GET.
    served = client.get_node(U1)
    assert served is not None and served.provision_state == "active"
    assert client.get_node("ns~b") is not None
    assert count(mock_ironic, "GET", f"/v1/nodes/{U1}") == 0


def test_fields_follow_the_microversion() -> None:
    assert "health" not in cache_fields("1.95")
    assert "disable_power_off" in cache_fields("1.95")
    assert "disable_power_off" not in cache_fields("1.89")
    assert "health" in cache_fields("1.110")


def test_adaptive_interval(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(
        f"{API}/nodes",
        [
            {"json": listing(node_json(U1, provision_state="active"))},
            {
                "json": listing(
                    node_json(U1, provision_state="deploying", target_provision_state="active")
                )
            },
            {"json": listing(node_json(U1, provision_state="active"))},
        ],
    )
    mock_ironic.put(f"{API}/nodes/{U1}/states/provision", status_code=202)
    cache = client.node_cache(clock=clock)
    assert cache.interval() == DEFAULT_FAST_INTERVAL, "never synced: poll soon"
    cache.poll()
    assert cache.interval() == DEFAULT_SLOW_INTERVAL, "all at rest"
    client.set_provision_state(U1, "active")
    assert cache.interval() == DEFAULT_FAST_INTERVAL, "bmo just wrote"
    clock.advance(WRITE_HOT_WINDOW + 1)
    cache.poll()
    assert cache.interval() == DEFAULT_FAST_INTERVAL, "ironic is working on a node"
    cache.poll()
    assert cache.interval() == DEFAULT_SLOW_INTERVAL


def test_a_write_bypasses_the_cache_until_a_later_poll(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(
        f"{API}/nodes",
        [
            {"json": listing(node_json(U1, provision_state="manageable"))},
            {"json": listing(node_json(U1, provision_state="inspecting"))},
        ],
    )
    mock_ironic.get(f"{API}/nodes/{U1}", json=node_json(U1, provision_state="inspecting"))
    mock_ironic.put(f"{API}/nodes/{U1}/states/provision", status_code=202)
    cache = client.node_cache(clock=clock)
    cache.poll()
    clock.advance(0.5)
    client.set_provision_state(U1, "inspect")
    node = client.get_node(U1)
    assert node is not None and node.provision_state == "inspecting"
    assert count(mock_ironic, "GET", f"/v1/nodes/{U1}") == 1, "read went to ironic"
    clock.advance(0.5)
    cache.poll()
    client.get_node(U1)
    assert count(mock_ironic, "GET", f"/v1/nodes/{U1}") == 1, "a later poll serves it again"


def test_wake_up_callbacks_on_state_changes_only(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(
        f"{API}/nodes",
        [
            {"json": listing(node_json(U1, name="ns~a"), node_json(U2, name="ns~b"))},
            # U1's provision state changes; U2 only changes a field nobody waits on.
            {
                "json": listing(
                    node_json(U1, name="ns~a", provision_state="manageable"),
                    node_json(U2, name="ns~b", properties={"cpu_arch": "x86_64"}),
                )
            },
        ],
    )
    seen: list[NodeChange] = []
    cache = client.node_cache(clock=clock)
    cache.add_listener(seen.append)
    cache.poll()
    assert {c.name for c in seen} == {"ns~a", "ns~b"}, "first sync: every node is news"
    seen.clear()
    clock.advance(1)
    cache.poll()
    assert [c.name for c in seen] == ["ns~a"]
    assert seen[0].before is not None and seen[0].before.provision_state == "enroll"
    assert seen[0].after is not None and seen[0].after.provision_state == "manageable"


def test_a_wiped_database_is_seen_in_one_poll(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    nodes = [
        node_json(u, name=f"ns~{i}", provision_state="active") for i, u in enumerate((U1, U2, U3))
    ]
    mock_ironic.get(f"{API}/nodes", [{"json": listing(*nodes)}, {"json": listing()}])
    mock_ironic.get(f"{API}/nodes/{U1}", status_code=404, json={})
    seen: list[NodeChange] = []
    cache = client.node_cache(clock=clock)
    cache.add_listener(seen.append)
    cache.poll()
    assert cache.interval() == DEFAULT_SLOW_INTERVAL
    seen.clear()
    clock.advance(DEFAULT_SLOW_INTERVAL)
    cache.poll()
    assert sorted(c.name or "" for c in seen) == ["ns~0", "ns~1", "ns~2"]
    assert all(c.after is None for c in seen)
    assert client.get_node(U1) is None
    assert count(mock_ironic, "GET", f"/v1/nodes/{U1}") == 0, "the fresh list is authoritative"


def test_an_outage_makes_reads_go_to_ironic(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(
        f"{API}/nodes",
        [
            {"json": listing(node_json(U1, provision_state="active"))},
            {"status_code": 503, "json": {}},
        ],
    )
    mock_ironic.get(f"{API}/nodes/{U1}", json=node_json(U1, provision_state="active"))
    cache = client.node_cache(clock=clock)
    cache.poll()
    assert cache.nodes() is not None
    clock.advance(1)
    cache.poll()
    assert cache.nodes() is None, "no stale snapshot after a failed list"
    client.get_node(U1)
    assert count(mock_ironic, "GET", f"/v1/nodes/{U1}") == 1
    seen: list[NodeChange] = []
    cache.add_listener(seen.append)
    mock_ironic.get(f"{API}/nodes", json=listing(node_json(U1, provision_state="active")))
    clock.advance(1)
    cache.poll()
    assert cache.nodes() is not None
    assert seen == [], "nothing changed across the outage: nobody is woken"


def test_an_old_snapshot_is_not_trusted(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(f"{API}/nodes", json=listing(node_json(U1, provision_state="active")))
    mock_ironic.get(f"{API}/nodes/{U1}", json=node_json(U1, provision_state="active"))
    cache = client.node_cache(clock=clock)
    cache.poll()
    clock.advance(3 * DEFAULT_SLOW_INTERVAL)
    assert cache.nodes() is None
    client.get_node(U1)
    assert count(mock_ironic, "GET", f"/v1/nodes/{U1}") == 1


def test_capacity_counts_nodes_just_written_as_busy(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    from bmo.ironic.capacity import has_capacity

    mock_ironic.get(
        f"{API}/nodes",
        json=listing(
            node_json(U1, name="ns~a", provision_state="inspecting"),
            node_json(U2, name="ns~b", provision_state="manageable"),
        ),
    )
    mock_ironic.put(f"{API}/nodes/{U2}/states/provision", status_code=202)
    cache = client.node_cache(clock=clock)
    cache.poll()
    assert has_capacity(client, "ns~c", 2, cache)
    client.set_provision_state(U2, "inspect")
    assert not has_capacity(client, "ns~c", 2, cache), "ns~b may be inspecting already"
    assert has_capacity(client, "ns~b", 2, cache)
    assert len(list_requests(mock_ironic)) == 1, "counted from the cache"


def test_the_poller_thread_polls_and_stops(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(f"{API}/nodes", json=listing(node_json(U1, provision_state="deploying")))
    cache = NodeCache(
        lambda wanted: client.list_nodes(fields=wanted),
        lambda: cache_fields(client.microversion),
        fast_interval=0.01,
    )
    cache.start()
    try:
        deadline = time.monotonic() + 10
        while cache.polls < 3:
            assert time.monotonic() < deadline, "poller did not poll"
            time.sleep(0.01)
    finally:
        cache.stop()


def test_absence_is_authoritative_only_for_idents_not_written_since_the_poll(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(f"{API}/nodes", json=listing())
    mock_ironic.post(f"{API}/nodes", json=node_json(U1, name="ns~new"))
    mock_ironic.get(f"{API}/nodes/ns~new", json=node_json(U1, name="ns~new"))
    mock_ironic.get(f"{API}/nodes/{U1}", json=node_json(U1, name="ns~new"))
    cache = client.node_cache(clock=clock)
    cache.poll()
    assert client.get_node("ns~new") is None
    assert count(mock_ironic, "GET", "/v1/nodes/ns~new") == 0
    clock.advance(0.1)
    client.create_node(name="ns~new", driver="fake-hardware")
    assert client.get_node("ns~new") is not None, "created since the poll: ask ironic"
    assert client.get_node(U1) is not None
    clock.advance(DEFAULT_SLOW_INTERVAL * 3)
    assert not cache.knows_absent("ns~other"), "a stale snapshot proves nothing"


def test_fast_polling_backs_off_to_twice_the_list_time(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    """A fleet whose list takes Ironic 3 s is polled every 6 s at most, however busy."""

    def slow_list(request: object, context: object) -> dict[str, object]:
        clock.advance(3.0)
        return listing(node_json(U1, provision_state="deploying"))

    mock_ironic.get(f"{API}/nodes", json=slow_list)
    cache = client.node_cache(clock=clock)
    cache.poll()
    assert cache.interval() == 6.0
