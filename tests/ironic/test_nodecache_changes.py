"""Change lists: between full lists the node cache lists only the nodes Ironic changed.

The cache's two list functions are fakes here, so each test says exactly which nodes changed
and when; the client's paging is tested against requests-mock, and a real Ironic's answer to
the query in tests/ironic/test_nodecache_integration.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.errors import InvalidRequest, IronicUnavailable
from bmo.ironic.nodecache import CHANGE_OVERLAP, DEFAULT_SLOW_INTERVAL, NodeCache, NodeChange
from bmo.ironic.views import NodeView
from tests.ironic.conftest import API, FakeClock, node_json

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
U3 = "33333333-3333-4333-8333-333333333333"
T0 = datetime(2026, 12, 7, 1, 0, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def node(uuid: str, state: str = "manageable", updated: float | None = None) -> NodeView:
    return NodeView.from_json(
        node_json(
            uuid,
            name=f"ns~{uuid[:2]}",
            provision_state=state,
            updated_at=None if updated is None else stamp(updated),
        )
    )


class FakeIronic:
    """A full list and a change list over one set of nodes a test edits."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.nodes = {u: node(u, updated=i) for i, u in enumerate((U1, U2, U3))}
        self.full_lists = 0
        self.since: list[datetime | None] = []
        self.changes_error: Exception | None = None
        self.nodes_error: Exception | None = None

    def list_nodes(self, wanted: Iterable[str]) -> list[NodeView]:
        self.clock.advance(0.2)
        if self.nodes_error is not None:
            raise self.nodes_error
        self.full_lists += 1
        # A fields= list never carries updated_at.
        return [
            NodeView.from_json({**_as_json(n), "updated_at": None}) for n in self.nodes.values()
        ]

    def list_changed(self, since: datetime | None) -> list[NodeView]:
        self.clock.advance(0.05)
        self.since.append(since)
        if self.changes_error is not None:
            raise self.changes_error
        newest = sorted(
            (n for n in self.nodes.values() if n.updated_at),
            key=lambda n: n.updated_at or "",
            reverse=True,
        )
        if since is None:
            return newest[:1]
        return [n for n in newest if datetime.fromisoformat(n.updated_at or "") >= since]

    def change(self, uuid: str, state: str, updated: float) -> None:
        self.nodes[uuid] = node(uuid, state, updated)

    def cache(self) -> NodeCache:
        return NodeCache(
            self.list_nodes,
            lambda: ("uuid", "name"),
            list_changed=self.list_changed,
            clock=self.clock,
        )


def _as_json(view: NodeView) -> dict[str, object]:
    return {"uuid": view.uuid, "name": view.name, "provision_state": view.provision_state}


@pytest.fixture
def fake(clock: FakeClock) -> FakeIronic:
    return FakeIronic(clock)


def test_between_full_lists_a_poll_lists_only_what_changed(
    fake: FakeIronic, clock: FakeClock
) -> None:
    cache = fake.cache()
    seen: list[NodeChange] = []
    cache.add_listener(seen.append)
    cache.poll()
    assert fake.full_lists == 1
    assert fake.since == [None], "the first full list learns where changes start"
    seen.clear()

    fake.change(U2, "inspecting", updated=10)
    clock.advance(1)
    cache.poll()
    assert fake.full_lists == 1, "no full list within the slow interval"
    assert fake.since[-1] == T0 + timedelta(seconds=2) - CHANGE_OVERLAP
    assert [c.after.provision_state if c.after else None for c in seen] == ["inspecting"]
    served = cache.lookup(U2)
    assert served is not None and served.provision_state == "inspecting"
    assert served.updated_at is None, "served as a full list serves it"
    unchanged = cache.lookup(U1)
    assert unchanged is not None and unchanged.provision_state == "manageable"

    clock.advance(1)
    cache.poll()
    assert fake.since[-1] == T0 + timedelta(seconds=10) - CHANGE_OVERLAP, "the mark moved"

    clock.advance(DEFAULT_SLOW_INTERVAL)
    cache.poll()
    assert fake.full_lists == 2, "a full list once per slow interval"


def test_a_node_deleted_out_of_band_goes_with_the_next_full_list(
    fake: FakeIronic, clock: FakeClock
) -> None:
    cache = fake.cache()
    cache.poll()
    del fake.nodes[U3]
    clock.advance(1)
    cache.poll()
    assert cache.lookup(U3) is not None, "a change list cannot see a deletion"
    clock.advance(DEFAULT_SLOW_INTERVAL)
    cache.poll()
    assert cache.lookup(U3) is None
    assert cache.knows_absent(U3)


def test_a_failed_poll_forgets_the_mark(fake: FakeIronic, clock: FakeClock) -> None:
    cache = fake.cache()
    cache.poll()
    fake.changes_error = IronicUnavailable("connection refused")
    clock.advance(1)
    cache.poll()
    assert cache.lookup(U1) is None, "a failed change list is a failed poll"
    fake.changes_error = None
    fake.nodes = {U1: node(U1, updated=50)}  # back on another database
    clock.advance(1)
    cache.poll()
    assert fake.full_lists == 2, "after a failure the next poll lists everything"
    assert fake.since[-1] is None, "and learns a new mark first"
    assert cache.lookup(U2) is None


def test_an_ironic_refusing_change_lists_gets_full_lists(
    fake: FakeIronic, clock: FakeClock
) -> None:
    fake.changes_error = InvalidRequest("The sort_key value updated_at is an invalid field")
    cache = fake.cache()
    for _ in range(3):
        cache.poll()
        clock.advance(1)
    assert fake.full_lists == 3
    assert fake.since == [None], "asked once"


def test_a_fleet_never_written_starts_its_changes_at_the_epoch(
    fake: FakeIronic, clock: FakeClock
) -> None:
    fake.nodes = {u: node(u) for u in (U1, U2)}
    cache = fake.cache()
    cache.poll()
    fake.change(U1, "verifying", updated=5)
    clock.advance(1)
    cache.poll()
    assert fake.full_lists == 1
    served = cache.lookup(U1)
    assert served is not None and served.provision_state == "verifying"


def _detail(*nodes: dict[str, object], more: bool) -> dict[str, object]:
    body: dict[str, object] = {"nodes": list(nodes)}
    if more:
        body["next"] = f"{API}/nodes/detail?limit=50&marker=x"
    return body


def test_the_client_pages_changes_back_to_the_first_older_node(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(
        f"{API}/nodes/detail",
        [
            {"json": _detail(node_json(U1, updated_at=stamp(30)), more=True)},
            {
                "json": _detail(
                    node_json(U2, updated_at=stamp(20)),
                    node_json(U3, updated_at=stamp(5)),
                    more=True,
                )
            },
            {"json": _detail(node_json("never-asked", updated_at=stamp(1)), more=False)},
        ],
    )
    nodes = client.list_changed_nodes(T0 + timedelta(seconds=10))
    assert [n.uuid for n in nodes] == [U1, U2, U3]
    queries = [
        parse_qs(urlparse(r.url).query)
        for r in mock_ironic.request_history
        if r.path == "/v1/nodes/detail"
    ]
    assert len(queries) == 2, "stops at the first node changed before the mark"
    assert queries[0]["sort_key"] == ["updated_at"] and queries[0]["sort_dir"] == ["desc"]
    assert "marker" not in queries[0] and queries[1]["marker"] == [U1]


def test_the_client_asks_for_one_node_to_learn_the_mark(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(
        f"{API}/nodes/detail", json=_detail(node_json(U1, updated_at=stamp(3)), more=True)
    )
    assert [n.uuid for n in client.list_changed_nodes(None)] == [U1]
    (request,) = [r for r in mock_ironic.request_history if r.path == "/v1/nodes/detail"]
    assert parse_qs(urlparse(request.url).query)["limit"] == ["1"]
