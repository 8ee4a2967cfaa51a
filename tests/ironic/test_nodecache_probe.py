"""Probes at rest: between two slow polls the node cache asks Ironic for its one most
recently changed node, and polls at once when that says something moved or went.

The list functions are the fakes of tests/ironic/test_nodecache_changes.py; a real Ironic's
answer (a wipe and a restart included) is in tests/ironic/test_nodecache_integration.py.
"""

from __future__ import annotations

import threading
import time

import pytest

from bmo.ironic.errors import InvalidRequest, IronicUnavailable
from bmo.ironic.nodecache import DEFAULT_PROBE_INTERVAL, DEFAULT_SLOW_INTERVAL, NodeCache
from tests.ironic.conftest import FakeClock
from tests.ironic.test_nodecache_changes import U1, U2, FakeIronic, node

U4 = "44444444-4444-4444-8444-444444444444"


@pytest.fixture
def fake(clock: FakeClock) -> FakeIronic:
    return FakeIronic(clock)


def test_a_fleet_at_rest_probes_without_polling(fake: FakeIronic) -> None:
    cache = fake.cache()
    cache.poll()
    asked = len(fake.since)
    assert cache.probe() is False
    assert cache.probe() is False
    assert fake.since[asked:] == [None, None], "each probe asks for the newest node only"
    assert fake.full_lists == 1


def test_a_change_after_the_mark_makes_the_poll_due(fake: FakeIronic, clock: FakeClock) -> None:
    cache = fake.cache()
    cache.poll()
    fake.change(U2, "inspecting", updated=30)
    assert cache.probe() is True
    clock.advance(1)
    cache.poll()
    assert fake.full_lists == 1, "the poll it brings forward is a change list"
    served = cache.lookup(U2)
    assert served is not None and served.provision_state == "inspecting"
    assert cache.probe() is False, "seen: nothing new since"


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("every node gone (a wiped database)", lambda f: f.nodes.clear()),
        (
            "the newest node one the cache does not hold",
            lambda f: f.nodes.__setitem__(U4, node(U4, updated=100)),
        ),
    ],
)
def test_a_probe_that_finds_the_fleet_changed_makes_the_poll_due(
    fake: FakeIronic, what: str, edit: object
) -> None:
    cache = fake.cache()
    cache.poll()
    assert callable(edit)
    edit(fake)
    assert cache.probe() is True, what
    cache.poll()
    assert fake.full_lists == 2, "only a full list shows nodes gone"


def test_no_answer_makes_the_poll_due(fake: FakeIronic, clock: FakeClock) -> None:
    cache = fake.cache()
    cache.poll()
    fake.changes_error = IronicUnavailable("connection refused")
    assert cache.probe() is True
    clock.advance(1)
    cache.poll()
    assert cache.lookup(U1) is None, "the failed poll makes reads go to Ironic"
    assert cache.probe() is False, "nothing trusted to probe against: polls come fast"
    assert cache.interval() < DEFAULT_PROBE_INTERVAL


def test_ironic_back_on_a_wiped_database_by_the_poll_after_a_failed_probe(
    fake: FakeIronic, clock: FakeClock
) -> None:
    """The probe met Ironic restarting; by the poll it brings forward, Ironic is back with
    no node. A change list would find no change there, so that poll lists everything."""
    cache = fake.cache()
    cache.poll()
    fake.changes_error = IronicUnavailable("connection refused")
    assert cache.probe() is True
    fake.changes_error = None
    fake.nodes.clear()
    clock.advance(1)
    cache.poll()
    assert fake.full_lists == 2
    assert cache.nodes() == [], "every node seen gone"


def test_without_change_lists_there_is_nothing_to_probe(fake: FakeIronic) -> None:
    fake.changes_error = InvalidRequest("The sort_key value updated_at is an invalid field")
    cache = fake.cache()
    cache.poll()
    asked = len(fake.since)
    assert cache.probe() is False
    assert len(fake.since) == asked, "no request"


def test_the_poller_probes_between_slow_polls_and_sees_a_wipe_at_once() -> None:
    """The poller's own schedule, on the real clock: slow polls a long way apart, probes
    0.05 s apart; emptying Ironic is seen by the next probe, not the next slow poll."""
    fake = FakeIronic(FakeClock())
    gone = threading.Event()
    cache = NodeCache(
        fake.list_nodes,
        lambda: ("uuid", "name"),
        list_changed=fake.list_changed,
        slow_interval=DEFAULT_SLOW_INTERVAL,
        probe_interval=0.05,
    )
    cache.add_listener(lambda change: gone.set() if change.after is None else None)
    cache.start()
    try:
        deadline = time.monotonic() + 10
        while cache.interval() < DEFAULT_SLOW_INTERVAL or len(fake.since) < 3:
            assert time.monotonic() < deadline, "the poller never came to rest and probed"
            time.sleep(0.01)
        assert fake.full_lists == 1
        fake.nodes.clear()
        assert gone.wait(10), "the wipe waited for the slow poll"
        assert fake.full_lists == 2, "seen by a full list brought forward"
    finally:
        cache.stop()


def test_the_poller_does_not_probe_while_nodes_move() -> None:
    """A node inspecting keeps polls a fast interval apart: no probe in between (one would
    bring forward a poll the duty factor spaced out)."""
    fake = FakeIronic(FakeClock())
    fake.change(U1, "inspecting", updated=5)
    cache = NodeCache(
        fake.list_nodes,
        lambda: ("uuid", "name"),
        list_changed=fake.list_changed,
        fast_interval=0.5,
        slow_interval=DEFAULT_SLOW_INTERVAL,
        probe_interval=0.01,
    )
    cache.start()
    try:
        deadline = time.monotonic() + 10
        while len([s for s in fake.since if s is not None]) < 2:
            assert time.monotonic() < deadline, "no change list came"
            time.sleep(0.01)
    finally:
        cache.stop()
    assert fake.since.count(None) == 1, "only the first poll asked for the newest node"
