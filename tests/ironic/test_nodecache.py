"""The Ironic node cache (bmo.ironic.nodecache) against requests-mock.

requests-mock here because these tests need exact control of what each list returns from one
poll to the next (pages, a wipe, an outage) and of the clock; the real-Ironic behaviour is in
tests/ironic/test_nodecache_integration.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs, urlparse

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.errors import IronicTimeout, IronicUnavailable
from bmo.ironic.nodecache import (
    DEFAULT_FAST_INTERVAL,
    DEFAULT_SLOW_INTERVAL,
    POLL_DUTY_FACTOR,
    WRITE_HOT_WINDOW,
    NodeCache,
    NodeChange,
    cache_fields,
)
from bmo.ironic.views import NodeView, PortView
from tests.ironic.conftest import API, FakeClock, count, node_json

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
U3 = "33333333-3333-4333-8333-333333333333"


def listing(*nodes: dict[str, object], next_marker: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"nodes": list(nodes)}
    if next_marker:
        body["next"] = f"{API}/nodes?limit=1000&marker={next_marker}"
    return body


def list_requests(
    mocker: requests_mock.Mocker, path: str = "/v1/nodes"
) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlparse(r.url).query)
        for r in mocker.request_history
        if r.method == "GET" and r.path.rstrip("/") == path
    ]


@pytest.fixture(autouse=True)
def no_ports(mock_ironic: requests_mock.Mocker) -> None:
    """Every poll also lists the ports; tests about ports register their own answer."""
    mock_ironic.get(f"{API}/ports", json={"ports": []})


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


@pytest.mark.parametrize("microversion", ["1.89", "1.95", "1.110"])
def test_fields_ask_for_provision_updated_at_but_never_updated_at(microversion: str) -> None:
    """Ironic answers 400 to ``fields=updated_at`` (``node.py _get_fields_for_node_query``);
    ``provision_updated_at`` keys the BIOS settings cache."""
    wanted = cache_fields(microversion)
    assert "provision_updated_at" in wanted
    assert "updated_at" not in wanted


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


def test_capacity_does_not_count_requests_that_take_no_slot(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    """``manage`` (verifying), ``adopt`` and ``abort`` lead to no state that holds a slot
    (upstream ``loadBusyHosts``): a fleet being registered does not look busy."""
    from bmo.ironic.capacity import has_capacity

    mock_ironic.get(
        f"{API}/nodes",
        json=listing(
            node_json(U1, name="ns~a", provision_state="inspecting"),
            node_json(U2, name="ns~b", provision_state="enroll"),
        ),
    )
    mock_ironic.put(f"{API}/nodes/{U2}/states/provision", status_code=202)
    cache = client.node_cache(clock=clock)
    cache.poll()
    for target in ("manage", "adopt", "abort"):
        client.set_provision_state(U2, target)
        assert has_capacity(client, "ns~c", 2, cache), target
    client.set_provision_state(U2, "provide")
    assert not has_capacity(client, "ns~c", 2, cache), "cleaning holds a slot"


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


def test_fast_polling_backs_off_to_ten_times_the_list_time(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    """A fleet whose list takes Ironic 3 s is polled every 30 s at most, however busy."""

    def slow_list(request: object, context: object) -> dict[str, object]:
        clock.advance(3.0)
        return listing(node_json(U1, provision_state="deploying"))

    mock_ironic.get(f"{API}/nodes", json=slow_list)
    cache = client.node_cache(clock=clock)
    cache.poll()
    assert cache.interval() == 30.0


# -- ports -----------------------------------------------------------------------------------

MAC1 = "52:54:00:00:00:01"
MAC2 = "52:54:00:00:00:02"


def node(uuid: str, name: str | None = None) -> NodeView:
    return NodeView.from_json(node_json(uuid, name=name, provision_state="manageable"))


def port(uuid: str, node_uuid: str | None, mac: str) -> PortView:
    return PortView(uuid=uuid, address=mac, node_uuid=node_uuid, pxe_enabled=True)


class FakeIronic:
    """The two list functions the cache calls, answering from lists a test edits."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.nodes = [node(U1, "ns~a"), node(U2, "ns~b")]
        self.ports = [port("p1", U1, MAC1), port("p2", U1, MAC2), port("p3", U3, MAC1)]
        self.nodes_error: IronicUnavailable | None = None
        self.ports_error: IronicUnavailable | None = None
        self.during_nodes: list[Callable[[], None]] = []
        self.port_lists = 0

    def list_nodes(self, wanted: Iterable[str]) -> list[NodeView]:
        self.clock.advance(0.2)  # a list takes time; writes may land meanwhile
        for action in self.during_nodes:
            action()
        self.during_nodes.clear()
        if self.nodes_error is not None:
            raise self.nodes_error
        return list(self.nodes)

    def list_ports(self) -> list[PortView]:
        self.port_lists += 1
        self.clock.advance(0.2)
        if self.ports_error is not None:
            raise self.ports_error
        return list(self.ports)

    def cache(self) -> NodeCache:
        return NodeCache(
            self.list_nodes,
            lambda: ("uuid", "name"),
            list_ports=self.list_ports,
            clock=self.clock,
        )


@pytest.fixture
def fake(clock: FakeClock) -> FakeIronic:
    return FakeIronic(clock)


def test_ports_are_listed_in_the_same_poll_grouped_by_node(fake: FakeIronic) -> None:
    cache = fake.cache()
    assert cache.ports(U1) is None, "never synced"
    cache.poll()
    assert fake.port_lists == 1
    assert cache.ports(U1) == [port("p1", U1, MAC1), port("p2", U1, MAC2)]
    assert cache.ports(U2) == [], "a listed node without ports has none"
    assert cache.ports(U3) is None, "a node the poll did not list: ask ironic"


def test_a_port_written_after_the_poll_started_is_never_hidden(
    fake: FakeIronic, clock: FakeClock
) -> None:
    cache = fake.cache()
    # bmo creates a port on U2 while the node list is under way: the port list may or may
    # not hold it, so the poll must not answer for U2.
    fake.during_nodes.append(lambda: cache.invalidate(U2))
    cache.poll()
    assert cache.ports(U2) is None
    assert cache.ports(U1) is not None, "other nodes are still served"
    fake.ports.append(port("p4", U2, MAC2))
    clock.advance(1)
    cache.poll()
    assert fake.port_lists == 1, "ports are listed once per slow interval"
    assert cache.ports(U2) is None, "the held port list predates the write"
    clock.advance(DEFAULT_SLOW_INTERVAL)
    cache.poll()
    assert fake.port_lists == 2
    assert cache.ports(U2) == [port("p4", U2, MAC2)], "a list that started later serves it"
    clock.advance(1)
    cache.invalidate("ns~a")  # a write by name counts too
    assert cache.ports(U1) is None


def test_a_stale_snapshot_does_not_answer_for_ports(fake: FakeIronic, clock: FakeClock) -> None:
    cache = fake.cache()
    cache.poll()
    assert cache.ports(U1) is not None
    clock.advance(3 * DEFAULT_SLOW_INTERVAL)
    assert cache.ports(U1) is None
    assert cache.ports(U2) is None, "not even an empty answer"


def test_a_failed_port_list_bypasses_port_reads_only(fake: FakeIronic, clock: FakeClock) -> None:
    cache = fake.cache()
    cache.poll()
    fake.ports_error = IronicUnavailable("list ports: HTTP 503", status_code=503)
    fake.ports = []  # whatever ironic holds now is unknown: the old list must not answer
    clock.advance(DEFAULT_SLOW_INTERVAL)  # the port list is due again
    cache.poll()
    assert cache.ports(U1) is None and cache.ports(U2) is None
    assert cache.lookup(U1) is not None, "the nodes stay served"
    fake.ports_error = None
    clock.advance(1)
    cache.poll()
    assert cache.ports(U1) == [], "the next good list answers again"


def test_a_failed_node_list_bypasses_port_reads(fake: FakeIronic, clock: FakeClock) -> None:
    cache = fake.cache()
    cache.poll()
    assert cache.ports(U1) is not None
    fake.nodes_error = IronicUnavailable("list nodes: HTTP 503", status_code=503)
    clock.advance(1)
    cache.poll()
    assert cache.ports(U1) is None and cache.ports(U2) is None
    assert fake.port_lists == 1, "no port list without a node list"


def test_a_cache_without_a_port_list_never_answers_for_ports(clock: FakeClock) -> None:
    cache = NodeCache(lambda wanted: [node(U1)], lambda: (), clock=clock)
    cache.poll()
    assert cache.lookup(U1) is not None
    assert cache.ports(U1) is None


def ports_json(*items: tuple[str, str | None, str], next_marker: str | None = None) -> object:
    body: dict[str, object] = {
        "ports": [
            {"uuid": u, "node_uuid": n, "address": mac, "pxe_enabled": True} for u, n, mac in items
        ]
    }
    if next_marker:
        body["next"] = f"{API}/ports?limit=1000&marker={next_marker}"
    return body


def test_the_client_pages_the_port_list_and_serves_list_ports_from_it(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(f"{API}/nodes", json=listing(node_json(U1), node_json(U2, name="ns~b")))
    mock_ironic.get(
        f"{API}/ports",
        [
            {"json": ports_json(("p1", U1, MAC1), next_marker="p1")},
            {"json": ports_json(("p2", U1, MAC2))},
        ],
    )
    cache = client.node_cache(clock=clock)
    cache.poll()
    queries = list_requests(mock_ironic, "/v1/ports")
    assert len(queries) == 2, "two pages, two requests"
    assert "marker" not in queries[0] and queries[1]["marker"] == ["p1"]
    assert queries[0]["fields"] == ["uuid,address,node_uuid,pxe_enabled"]
    assert queries[0]["limit"] == ["1000"]
    assert "node_uuid" not in queries[0]
    for _ in range(5):  # five reconciles
        assert [p.address for p in client.list_ports(U1)] == [MAC1, MAC2]
        assert client.list_ports(U2) == []
    assert len(list_requests(mock_ironic, "/v1/ports")) == 2, "no per-node port request"


def test_list_ports_never_hides_a_port_bmo_created(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(f"{API}/nodes", json=listing(node_json(U1), node_json(U2, name="ns~b")))
    cache = client.node_cache(clock=clock)
    cache.poll()
    assert client.list_ports(U1) == []
    mock_ironic.post(
        f"{API}/ports",
        status_code=201,
        json={"uuid": "p1", "address": MAC1, "node_uuid": U1, "pxe_enabled": True},
    )
    mock_ironic.get(f"{API}/ports", json=ports_json(("p1", U1, MAC1)))
    clock.advance(0.5)
    client.create_port(U1, MAC1)
    # The polled list plus the port the POST answered (the node cache's overlay).
    assert [p.address for p in client.list_ports(U1)] == [MAC1], "not hidden by the cache"
    by_node = [q for q in list_requests(mock_ironic, "/v1/ports") if "node_uuid" in q]
    assert by_node == []
    # A node whose ports the cache could not serve right before is read from Ironic.
    mock_ironic.post(
        f"{API}/ports",
        status_code=201,
        json={"uuid": "p2", "address": MAC2, "node_uuid": U2, "pxe_enabled": True},
    )
    mock_ironic.put(f"{API}/nodes/{U2}/states/provision", status_code=202)
    client.set_provision_state(U2, "inspect")
    client.create_port(U2, MAC2)
    client.list_ports(U2)
    by_node = [q for q in list_requests(mock_ironic, "/v1/ports") if "node_uuid" in q]
    assert [q["node_uuid"] for q in by_node] == [[U2]]
    clock.advance(0.5)
    cache.poll()
    assert [p.address for p in client.list_ports(U1)] == [MAC1]
    by_node = [q for q in list_requests(mock_ironic, "/v1/ports") if "node_uuid" in q]
    assert len(by_node) == 1, "a poll that started after the write serves it"
    assert [p.address for p in client.list_ports(U1, fresh=True)] == [MAC1]
    by_node = [q for q in list_requests(mock_ironic, "/v1/ports") if "node_uuid" in q]
    assert len(by_node) == 2, "fresh always asks ironic"


def test_after_ironic_was_seen_down_nothing_polled_before_is_served(
    fake: FakeIronic, clock: FakeClock
) -> None:
    """A restart on a wiped database shows as a failed readiness check first: the old
    snapshot must not keep answering for nodes that are gone until the next slow poll."""
    cache = fake.cache()
    cache.poll()
    assert cache.interval() == DEFAULT_SLOW_INTERVAL
    clock.advance(1)
    cache.distrust()
    assert cache.lookup(U1) is None and cache.ports(U1) is None and cache.nodes() is None
    assert not cache.knows_absent(U3)
    # "At once": the fast interval, stretched to ten times the last poll (0.4 s here).
    assert cache.interval() == pytest.approx(POLL_DUTY_FACTOR * 0.4), "poll again soon"
    seen: list[NodeChange] = []
    cache.add_listener(seen.append)
    fake.nodes, fake.ports = [], []  # the wipe
    clock.advance(1)
    cache.poll()
    assert sorted(c.name or "" for c in seen) == ["ns~a", "ns~b"], "every host is woken"
    assert cache.nodes() == [] and cache.knows_absent(U1)
    assert cache.interval() == DEFAULT_SLOW_INTERVAL


def test_a_failed_readiness_check_distrusts_the_cache(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(f"{API}/nodes", json=listing(node_json(U1)))
    cache = client.node_cache(clock=clock)
    client.ensure_ready()
    cache.poll()
    assert cache.lookup(U1) is not None
    mock_ironic.get(f"{API}/drivers", json={"drivers": []})  # conductor not up (restarting)
    clock.advance(10)
    assert not client.ready()
    assert cache.lookup(U1) is None and cache.ports(U1) is None
    clock.advance(1)
    cache.poll()
    assert cache.lookup(U1) is not None


def test_every_poll_tells_the_controller_how_many_provisioning_slots_are_free(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    """``PROVISIONING_LIMIT`` slots: after each poll the controller hears how many are free,
    so it wakes that many delayed hosts. Busy PXE nodes and nodes just sent toward a busy
    state count; a virtual-media node never does; a poll finding every slot taken is silent."""
    import dataclasses

    from bmo.ironic.provisioner import IronicProvisionerFactory

    vmedia = node_json(
        U3, name="ns~c", provision_state="deploying", boot_interface="redfish-virtual-media"
    )
    mock_ironic.get(
        f"{API}/nodes",
        [
            {
                "json": listing(
                    node_json(U1, name="ns~a", provision_state="inspect wait"),
                    node_json(U2, name="ns~b", provision_state="manageable"),
                    vmedia,
                )
            },
            {
                "json": listing(
                    node_json(U1, name="ns~a", provision_state="inspect wait"),
                    node_json(U2, name="ns~b", provision_state="manageable"),
                    vmedia,
                )
            },
            {
                "json": listing(
                    node_json(U1, name="ns~a", provision_state="inspect wait"),
                    node_json(U2, name="ns~b", provision_state="inspecting"),
                    vmedia,
                )
            },
            {
                "json": listing(
                    node_json(U1, name="ns~a", provision_state="manageable"),
                    node_json(U2, name="ns~b", provision_state="manageable"),
                    vmedia,
                )
            },
        ],
    )
    mock_ironic.put(f"{API}/nodes/{U2}/states/provision", status_code=202)
    cache = client.node_cache(clock=clock)  # the factory then uses this one
    config = dataclasses.replace(client.config, provisioning_limit=2)
    factory = IronicProvisionerFactory(client, config, node_cache=True)
    freed: list[int] = []
    factory.watch_capacity(freed.append)
    cache.poll()
    assert freed == [1], "ns~a holds one of two slots; ns~c is virtual media"
    # ns~b is sent to inspect as the next poll starts (the fake clock stands still): it
    # counts before Ironic's list shows it.
    clock.advance(1)
    client.set_provision_state(U2, "inspect")
    cache.poll()
    assert freed == [1], "both slots taken, one by a request the list did not show yet"
    clock.advance(1)
    cache.poll()
    assert freed == [1]
    clock.advance(1)
    cache.poll()
    assert freed == [1, 2]


def test_a_node_listed_after_the_held_port_list_has_its_ports_read_from_ironic(
    fake: FakeIronic, clock: FakeClock
) -> None:
    """Someone else enrolled it (with ports) after the last port list: the list knows
    nothing of it, so it must not answer ``[]``."""
    cache = fake.cache()
    cache.poll()
    fake.nodes.append(node(U3, "ns~c"))
    clock.advance(1)
    cache.poll()
    assert fake.port_lists == 1
    assert cache.lookup(U3) is not None, "the node itself is served"
    assert cache.ports(U3) is None
    assert cache.ports(U2) == [], "nodes listed with the ports still are"


def test_a_list_refused_at_once_drops_the_spacing(fake: FakeIronic, clock: FakeClock) -> None:
    """Refused sooner than a good list takes: Ironic is not there (restarting, maybe on a
    wiped database), and its first list when back must not wait out a spacing measured
    against the fleet it had."""
    cache = fake.cache()
    fake.during_nodes.append(lambda: clock.advance(2.0))  # a loaded Ironic: 2.4 s in all
    cache.poll()  # a fast interval after it would be 24 s
    fake.nodes_error = IronicUnavailable("list nodes: connection refused", status_code=None)
    clock.advance(1)
    cache.poll()  # refused after 0.2 s
    assert cache.interval() == pytest.approx(DEFAULT_FAST_INTERVAL)


def test_a_failed_list_does_not_stretch_the_next_poll(fake: FakeIronic, clock: FakeClock) -> None:
    """A list that timed out says nothing about Ironic's cost: the next poll keeps the last
    good list's spacing, not ten times the timeout."""
    cache = fake.cache()
    cache.poll()  # 0.4 s: the next poll is 4 s away at the most
    fake.nodes_error = IronicTimeout("list nodes: timed out")
    fake.during_nodes.append(lambda: clock.advance(30))  # the client's timeout
    clock.advance(1)
    cache.poll()
    assert cache.interval() == pytest.approx(POLL_DUTY_FACTOR * 0.4)


def test_a_list_refused_after_retries_drops_the_spacing(fake: FakeIronic, clock: FakeClock) -> None:
    """The client retries a refused connection for a few seconds, longer than a good list
    of a small fleet takes: still, Ironic is not there, and the poll after it comes a fast
    interval later (a 200-node fleet at rest waited 10 s after Ironic was back)."""
    cache = fake.cache()
    fake.during_nodes.append(lambda: clock.advance(0.8))  # 1 s in all: 10 s apart
    cache.poll()
    fake.nodes_error = IronicUnavailable("list nodes: connection refused", status_code=None)
    fake.during_nodes.append(lambda: clock.advance(3.75))  # the client's retries
    clock.advance(1)
    cache.poll()
    assert cache.interval() == pytest.approx(DEFAULT_FAST_INTERVAL)
