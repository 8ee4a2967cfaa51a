"""How many hosts may (de)provision at once over PXE (``PROVISIONING_LIMIT``).

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``loadBusyHosts`` and the count in
``HasCapacity``.

A PXE/iPXE deployment shares DHCP, TFTP and HTTP bandwidth between every booting machine, so
the Go operator caps the number of nodes in Ironic's busy states. Virtual-media hosts fetch
their ISO from the BMC and do not count, nor are they limited.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bmo.ironic.client import IronicClient
from bmo.ironic.nodecache import NodeCache
from bmo.ironic.states import State
from bmo.ironic.views import NodeView

__all__ = ["BUSY_STATES", "CAPACITY_FIELDS", "busy_node_names", "free_slots", "has_capacity"]

BUSY_STATES: Final = frozenset(
    {
        State.CLEANING,
        State.CLEAN_WAIT,
        State.INSPECTING,
        State.INSPECT_WAIT,
        State.DEPLOYING,
        State.DEPLOY_WAIT,
        State.DELETING,
    }
)
CAPACITY_FIELDS: Final = ("uuid", "name", "provision_state", "boot_interface")


def busy_node_names(nodes: Iterable[NodeView]) -> set[str]:
    """Names (or UUIDs, for unnamed nodes) of nodes holding a PXE provisioning slot."""
    return {
        node.name or node.uuid
        for node in nodes
        if node.provision_state in BUSY_STATES
        and "virtual-media" not in (node.boot_interface or "")
    }


def _busy_in_cache(cache: NodeCache) -> set[str] | None:
    """Busy nodes by the cache, plus every node bmo sent toward a busy state since its poll
    (it may just have been sent to inspect or deploy); ``None`` when the cache is stale."""
    nodes = cache.nodes()
    if nodes is None:
        return None
    pending = cache.pending_moves()
    return busy_node_names(nodes) | {
        node.name or node.uuid for node in nodes if node.uuid in pending
    }


def has_capacity(
    client: IronicClient, node_name: str, limit: int, cache: NodeCache | None = None
) -> bool:
    """True when ``node_name`` already holds a slot or fewer than ``limit`` are taken.

    With a synced node cache the count comes from it (:func:`_busy_in_cache`): a little
    conservative until the next poll, never over the limit.
    """
    busy = _busy_in_cache(cache) if cache is not None else None
    if busy is None:
        busy = busy_node_names(client.list_nodes(fields=CAPACITY_FIELDS))
    return node_name in busy or len(busy) < limit


def free_slots(cache: NodeCache, limit: int) -> int:
    """Slots :func:`has_capacity` would grant now by the cache (0 when it is stale)."""
    busy = _busy_in_cache(cache)
    return 0 if busy is None else max(0, limit - len(busy))
