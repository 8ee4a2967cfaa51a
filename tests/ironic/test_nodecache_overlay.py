"""The node cache's overlay: reads after bmo's own writes served from what the write answered.

The cache alone (a fake list pair and an injectable clock) for the ordering rules, and the
client against requests-mock for which request answers what; the real-Ironic check is in
tests/ironic/test_nodecache_integration.py.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.errors import IronicUnavailable
from bmo.ironic.nodecache import DEFAULT_SLOW_INTERVAL, NodeCache
from bmo.ironic.updates import PatchOp
from bmo.ironic.views import NodeView, PortView
from tests.ironic.conftest import API, BUSY, FakeClock, count, node_json

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
MAC1 = "52:54:00:00:00:01"
MAC2 = "52:54:00:00:00:02"


def view(uuid: str, state: str, name: str = "ns~a") -> NodeView:
    return NodeView.from_json(node_json(uuid, name=name, provision_state=state))


def port(uuid: str, node_uuid: str, mac: str) -> PortView:
    return PortView(uuid=uuid, address=mac, node_uuid=node_uuid, pxe_enabled=True)


class Lists:
    """The two lists the cache polls, answering from fields a test edits."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.nodes: list[NodeView] = []
        self.ports: list[PortView] = []
        self.error: IronicUnavailable | None = None

    def list_nodes(self, wanted: Iterable[str]) -> list[NodeView]:
        self.clock.advance(0.1)
        if self.error is not None:
            raise self.error
        return list(self.nodes)

    def list_ports(self) -> list[PortView]:
        return list(self.ports)

    def cache(self) -> NodeCache:
        return NodeCache(
            self.list_nodes, lambda: ("uuid",), list_ports=self.list_ports, clock=self.clock
        )


@pytest.fixture
def lists(clock: FakeClock) -> Lists:
    return Lists(clock)


# -- the cache alone -------------------------------------------------------------------------


def test_a_write_answer_is_served_until_a_poll_that_started_after_it(
    lists: Lists, clock: FakeClock
) -> None:
    cache = lists.cache()
    cache.poll()  # a wiped Ironic: no nodes
    assert cache.knows_absent("ns~a")
    created = view(U1, "enroll")
    cache.invalidate("ns~a", answer=created, ports=())
    assert cache.lookup(U1) == created and cache.lookup("ns~a") == created
    assert cache.ports(U1) == [], "a node bmo just created has no ports"
    assert not cache.knows_absent("ns~a")
    # A poll that started before the write answered (and did not list the node) does not
    # hide it; one that started after takes over. Ports are listed again only once a slow
    # interval has passed: until then the answer stands (only an inspection, which the
    # node's marks show, changes ports behind bmo's back).
    lists.nodes = [view(U1, "manageable")]
    lists.ports = [port("p1", U1, MAC1)]
    clock.advance(1)
    cache.poll()
    served = cache.lookup(U1)
    assert served is not None and served.provision_state == "manageable"
    assert cache.ports(U1) == []
    clock.advance(DEFAULT_SLOW_INTERVAL)
    cache.poll()
    assert cache.ports(U1) == [port("p1", U1, MAC1)]


def test_known_ports_are_not_served_once_the_node_is_inspected(
    lists: Lists, clock: FakeClock
) -> None:
    """Ironic's inspection hooks add and delete ports: known ports are not served while a
    node inspects, nor after an inspection finished (its marks changed)."""
    cache = lists.cache()
    cache.poll()
    cache.invalidate("ns~a", answer=view(U1, "manageable"), ports=())
    assert cache.ports(U1) == []

    def polled(state: str, **marks: str) -> list[PortView] | None:
        lists.nodes = [
            NodeView.from_json(node_json(U1, name="ns~a", provision_state=state, **marks))
        ]
        clock.advance(1)
        cache.poll()
        return cache.ports(U1)

    assert polled("inspect wait", inspection_started_at="t1") is None, "ports may be changing"
    assert polled("manageable", inspection_finished_at="t2") is None, "inspected since"
    cache.observed(cache.mark(), ports_of=U1, ports=[port("p9", U1, MAC1)])
    assert cache.ports(U1) == [port("p9", U1, MAC1)], "a read after the inspection is served"


def test_a_write_without_an_answer_drops_the_overlay(lists: Lists, clock: FakeClock) -> None:
    cache = lists.cache()
    cache.poll()
    cache.invalidate("ns~a", answer=view(U1, "enroll"), ports=())
    cache.invalidate(U1, moved=True)  # a provision-state PUT: 202, no body
    assert cache.lookup(U1) is None and cache.lookup("ns~a") is None, "state unknown: GET"
    assert cache.ports(U1) is None, "ports dropped unless the write keeps them"
    cache.invalidate(U1, answer=view(U1, "manageable"))
    node = cache.lookup(U1)
    assert node is not None and node.provision_state == "manageable"
    assert cache.ports(U1) is None, "a node's answer says nothing about its ports"


def test_port_neutral_writes_keep_a_known_port_list(lists: Lists, clock: FakeClock) -> None:
    cache = lists.cache()
    cache.poll()
    cache.invalidate("ns~a", answer=view(U1, "enroll"), ports=())
    cache.port_created(U1, port("p1", U1, MAC1))
    assert cache.ports(U1) == [port("p1", U1, MAC1)], "a port bmo created is never hidden"
    cache.invalidate(U1, moved=True, keep_ports=True)
    assert cache.lookup(U1) is None
    assert cache.ports(U1) == [port("p1", U1, MAC1)]
    cache.invalidate(U1, answer=view(U1, "manageable"), keep_ports=True)
    assert cache.ports(U1) == [port("p1", U1, MAC1)]
    cache.port_created(U1, port("p2", U1, MAC2))
    assert cache.ports(U1) == [port("p1", U1, MAC1), port("p2", U1, MAC2)]
    cache.invalidate(U1)  # e.g. a failed port POST: it may have created one
    assert cache.ports(U1) is None
    cache.port_created(U1, port("p3", U1, MAC2))
    assert cache.ports(U1) is None, "added to an unknown list is still unknown"


def test_a_port_created_on_a_polled_node_is_added_to_the_polled_list(
    lists: Lists, clock: FakeClock
) -> None:
    lists.nodes = [view(U1, "manageable"), view(U2, "manageable", name="ns~b")]
    lists.ports = [port("p1", U1, MAC1)]
    cache = lists.cache()
    cache.poll()
    cache.port_created(U1, port("p2", U1, MAC2))
    assert cache.ports(U1) == [port("p1", U1, MAC1), port("p2", U1, MAC2)]
    cache.invalidate(U2, moved=True)  # e.g. inspection: the poll's list no longer holds
    cache.port_created(U2, port("p3", U2, MAC1))
    assert cache.ports(U2) is None, "a list the cache could not serve is not extended"


def test_a_port_neutral_write_keeps_the_polled_port_list(lists: Lists, clock: FakeClock) -> None:
    lists.nodes = [view(U1, "manageable"), view(U2, "manageable", name="ns~b")]
    lists.ports = [port("p1", U1, MAC1)]
    cache = lists.cache()
    cache.poll()
    cache.invalidate(U1, moved=True, keep_ports=True)
    cache.invalidate(U2, moved=True)
    assert cache.lookup(U1) is None
    assert cache.ports(U1) == [port("p1", U1, MAC1)], "what was served before still holds"
    assert cache.ports(U2) is None


def test_a_read_is_overlaid_only_when_no_write_came_after_it_was_sent(
    lists: Lists, clock: FakeClock
) -> None:
    lists.nodes = [view(U1, "manageable")]
    cache = lists.cache()
    cache.poll()
    cache.invalidate(U1, moved=True)
    mark = cache.mark()
    cache.observed(mark, view(U1, "verifying"), ports_of=U1, ports=[port("p1", U1, MAC1)])
    node = cache.lookup(U1)
    assert node is not None and node.provision_state == "verifying"
    assert cache.ports(U1) == [port("p1", U1, MAC1)]
    # A read sent before a write, answered after it, may predate the write.
    mark = cache.mark()
    cache.invalidate(U1, moved=True)
    cache.observed(mark, view(U1, "adopting"), ports_of=U1, ports=[])
    assert cache.lookup(U1) is None and cache.ports(U1) is None


def test_a_read_no_newer_than_the_snapshot_is_not_overlaid(lists: Lists, clock: FakeClock) -> None:
    lists.nodes = [view(U1, "manageable")]
    cache = lists.cache()
    mark = cache.mark()
    cache.poll()
    cache.observed(mark, view(U1, "enroll"))
    node = cache.lookup(U1)
    assert node is not None and node.provision_state == "manageable"


def test_the_overlay_is_served_only_while_the_cache_is_trusted(
    lists: Lists, clock: FakeClock
) -> None:
    cache = lists.cache()
    cache.poll()
    cache.invalidate("ns~a", answer=view(U1, "enroll"), ports=())
    clock.advance(1)
    cache.distrust()
    assert cache.lookup(U1) is None and cache.ports(U1) is None, "Ironic may be wiped"
    cache.invalidate("ns~a", answer=view(U1, "enroll"), ports=())
    lists.error = IronicUnavailable("list nodes: HTTP 503", status_code=503)
    clock.advance(1)
    cache.poll()
    assert cache.lookup(U1) is None and cache.ports(U1) is None, "a failed poll: ask Ironic"
    lists.error = None
    clock.advance(1)
    cache.poll()
    cache.invalidate("ns~a", answer=view(U1, "enroll"), ports=())
    clock.advance(3 * DEFAULT_SLOW_INTERVAL)
    assert cache.lookup(U1) is None and cache.ports(U1) is None, "a stale snapshot"


def test_a_renamed_node_is_not_served_under_its_old_name(lists: Lists) -> None:
    cache = lists.cache()
    cache.poll()
    cache.invalidate("ns~a", answer=view(U1, "enroll", name="ns~a"), ports=())
    cache.invalidate(U1, answer=view(U1, "enroll", name="ns~b"), keep_ports=True)
    assert cache.lookup("ns~a") is None
    renamed = cache.lookup("ns~b")
    assert renamed is not None and renamed.uuid == U1
    assert cache.ports(U1) == []


# -- the client ------------------------------------------------------------------------------


@pytest.fixture
def wiped(mock_ironic: requests_mock.Mocker) -> requests_mock.Mocker:
    mock_ironic.get(f"{API}/nodes", json={"nodes": []})
    mock_ironic.get(f"{API}/ports", json={"ports": []})
    return mock_ironic


def ports_by_node(mocker: requests_mock.Mocker) -> int:
    return sum(1 for r in mocker.request_history if r.method == "GET" and "node_uuid" in r.qs)


def test_a_re_enrolled_node_reads_nothing_it_wrote(
    client: IronicClient, wiped: requests_mock.Mocker, clock: FakeClock
) -> None:
    """register.go's enroll, ensurePort and configure, then adopt: each read after bmo's own
    write is answered by that write, except right after a provision-state request."""
    cache = client.node_cache(clock=clock)
    cache.poll()
    wiped.post(f"{API}/nodes", status_code=201, json=node_json(U1, name="ns~a"))
    wiped.post(
        f"{API}/ports",
        status_code=201,
        json={"uuid": "p1", "address": MAC1, "node_uuid": U1, "pxe_enabled": True},
    )
    wiped.put(f"{API}/nodes/{U1}/states/provision", status_code=202)
    wiped.get(f"{API}/nodes/{U1}", json=node_json(U1, name="ns~a", provision_state="manageable"))
    wiped.patch(
        f"{API}/nodes/{U1}",
        json=node_json(
            U1, name="ns~a", provision_state="manageable", instance_info={"image_source": "x"}
        ),
    )
    clock.advance(0.5)

    client.create_node(name="ns~a", driver="fake-hardware")
    assert client.find_node(uuid=U1, name="ns~a") is not None
    assert client.list_ports(U1) == []
    client.create_port(U1, MAC1)
    assert [p.address for p in client.list_ports(U1)] == [MAC1], "never hidden"
    client.set_provision_state(U1, "manage")
    assert count(wiped, "GET", f"/v1/nodes/{U1}") == 0 and ports_by_node(wiped) == 0

    node = client.get_node(U1)  # state unknown after the PUT: Ironic answers
    assert node is not None and node.provision_state == "manageable"
    assert count(wiped, "GET", f"/v1/nodes/{U1}") == 1
    assert client.get_node(U1) == node, "the same pass reads it again: served"
    assert [p.address for p in client.list_ports(U1)] == [MAC1], "manage never moves ports"
    patched = client.update_node(U1, [_image_op()])
    assert client.get_node(U1) == patched and patched.instance_info["image_source"] == "x"
    assert count(wiped, "GET", f"/v1/nodes/{U1}") == 1 and ports_by_node(wiped) == 0

    client.set_provision_state(U1, "inspect")  # inspection may add ports
    assert client.list_ports(U1) == [], "read from Ironic (which the mock says has none)"
    assert ports_by_node(wiped) == 1


def test_a_node_found_after_a_create_conflict_is_not_assumed_portless(
    client: IronicClient, wiped: requests_mock.Mocker, clock: FakeClock
) -> None:
    cache = client.node_cache(clock=clock)
    cache.poll()
    wiped.post(f"{API}/nodes", [BUSY, {"status_code": 409, "json": {}}])
    wiped.get(f"{API}/nodes/ns~a", json=node_json(U1, name="ns~a"))
    wiped.get(f"{API}/ports", json={"ports": []})
    clock.advance(0.5)
    node = client.create_node(name="ns~a", driver="fake-hardware")
    assert node.uuid == U1
    client.list_ports(U1)
    assert ports_by_node(wiped) == 1, "an earlier attempt may have made its ports"


def test_a_failed_port_create_is_never_hidden(
    client: IronicClient, wiped: requests_mock.Mocker, clock: FakeClock
) -> None:
    cache = client.node_cache(clock=clock)
    cache.poll()
    wiped.post(f"{API}/nodes", status_code=201, json=node_json(U1, name="ns~a"))
    wiped.post(f"{API}/ports", status_code=500, json={})
    clock.advance(0.5)
    client.create_node(name="ns~a", driver="fake-hardware")
    with pytest.raises(IronicUnavailable):
        client.create_port(U1, MAC1)
    client.list_ports(U1)
    assert ports_by_node(wiped) == 1, "the POST may have created it: ask Ironic"


def _image_op() -> PatchOp:
    return PatchOp("add", "/instance_info/image_source", "x")
