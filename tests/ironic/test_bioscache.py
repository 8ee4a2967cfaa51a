"""``BiosSettingsCache`` on its own: how nodes from the node cache (no ``updated_at``) and
from single-node GETs (with it) share entries, the size bound, and the read-only items.
The provisioner's use of it is in ``tests/ironic/provisioner/test_firmware.py``."""

from __future__ import annotations

import dataclasses

import pytest

from bmo.ironic.bioscache import BIOS_CACHE_MAX_AGE, BiosSettingsCache
from bmo.ironic.views import NodeView
from tests.ironic.conftest import FakeClock

T1 = "2026-01-02T03:04:05.123456+00:00"
T2 = "2026-01-02T04:05:06.654321+00:00"
ITEMS = [{"name": "A", "value": "1"}]
#: As a single-node GET shows a node at rest.
FETCHED = NodeView(uuid="u1", provision_state="active", updated_at=T1, provision_updated_at=T1)
#: The same node as the node cache's list shows it: ``fields=`` cannot ask for updated_at.
LISTED = dataclasses.replace(FETCHED, updated_at=None)


@pytest.fixture
def cache(clock: FakeClock) -> BiosSettingsCache:
    return BiosSettingsCache(clock=clock)


def test_node_view_reads_the_timestamps() -> None:
    node = NodeView.from_json({"uuid": "u1", "updated_at": T1, "provision_updated_at": T2})
    assert (node.updated_at, node.provision_updated_at) == (T1, T2)
    assert NodeView.from_json({"uuid": "u1"}).provision_updated_at is None


@pytest.mark.parametrize(
    ("stored", "asked"),
    [(FETCHED, LISTED), (LISTED, FETCHED), (LISTED, LISTED), (FETCHED, FETCHED)],
    ids=["fetched-then-listed", "listed-then-fetched", "listed", "fetched"],
)
def test_listed_and_fetched_nodes_share_entries(
    stored: NodeView, asked: NodeView, cache: BiosSettingsCache
) -> None:
    cache.put(stored, True, ITEMS)
    assert [dict(item) for item in cache.get(asked, True) or ()] == ITEMS


def test_updated_at_is_compared_when_both_reads_carry_it(cache: BiosSettingsCache) -> None:
    cache.put(FETCHED, True, ITEMS)
    assert cache.get(dataclasses.replace(FETCHED, updated_at=T2), True) is None
    # A listed node cannot tell: its provision timestamp decides.
    assert cache.get(dataclasses.replace(LISTED, provision_updated_at=T2), True) is None


def test_items_are_copies_and_read_only(cache: BiosSettingsCache) -> None:
    items = [{"name": "A", "value": "1"}]
    cache.put(FETCHED, False, items)
    items[0]["value"] = "2"
    (kept,) = cache.get(FETCHED, False) or ()
    assert kept["value"] == "1"
    with pytest.raises(TypeError):
        kept["value"] = "3"  # type: ignore[index]


def test_old_entries_are_dropped_when_another_is_stored(
    cache: BiosSettingsCache, clock: FakeClock
) -> None:
    cache.put(FETCHED, True, ITEMS)
    clock.advance(BIOS_CACHE_MAX_AGE)
    cache.put(dataclasses.replace(FETCHED, uuid="u2"), True, ITEMS)
    assert len(cache) == 1
    assert cache.get(FETCHED, True) is None


def test_a_node_seen_in_a_task_drops_its_entry(cache: BiosSettingsCache) -> None:
    cache.put(FETCHED, True, ITEMS)
    cleaning = dataclasses.replace(
        FETCHED, provision_state="cleaning", target_provision_state="available"
    )
    assert cache.get(cleaning, True) is None
    cache.put(cleaning, True, ITEMS)
    assert len(cache) == 0
