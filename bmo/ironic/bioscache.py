"""A node's BIOS settings, kept while Ironic shows the node unchanged.

Upstream ``controllers/metal3.io/hostfirmwaresettings_controller.go`` ``Reconcile`` calls
``prov.GetFirmwareSettings(true)`` on every reconcile (every 5 minutes per host, every minute
while a change is pending), and ``pkg/provisioner/ironic/ironic.go GetFirmwareSettings``
sends ``GET /v1/nodes/{id}/bios?detail=True`` each time: with 200 provisioned hosts that was
three quarters of bmo's requests to Ironic at rest, every answer the same as the last.

Ironic answers that GET from its own ``bios_settings`` table, never from the BMC, and only
conductor tasks that move the node through a transitional provision state rewrite it
(Ironic 39):

* ``conductor/utils.py node_update_cache`` (→ ``node_cache_bios_settings`` →
  ``task.driver.bios.cache_bios_settings``), called by ``conductor/verify.py
  do_node_verify`` (``verifying``), ``conductor/cleaning.py do_node_clean`` and
  ``do_next_clean_step`` (``cleaning``), ``conductor/servicing.py do_node_service`` and
  ``_tear_down_node_service`` (``servicing``);
* the ``drivers/base.py cache_bios_settings`` decorator on the BIOS interface's
  ``apply_configuration``/``factory_reset`` clean, service and deploy steps
  (``drivers/modules/redfish/bios.py``), and the fake interface's ``cache_bios_settings``
  clean step (``drivers/modules/fake.py``).

Each of these tasks ends by saving a new ``provision_state``, and every such save stamps
``provision_updated_at`` (``db/sqlalchemy/api.py _do_update_node``). So a node seen in a stable
provision state with no target, whose ``provision_updated_at`` (and ``updated_at``, when both
reads carry it) is what it was when its settings were read, still has those settings: they
are served from here instead of asking again.

``updated_at`` is compared only when both the stored read and the node at hand carry it: the
node cache's list cannot ask for it (see :func:`bmo.ironic.nodecache.cache_fields`), and a
node served from there must still find the entry a single-node GET stored, and vice versa.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from bmo.ironic.states import STABLE_STATES
from bmo.ironic.views import NodeView

__all__ = ["BIOS_CACHE_MAX_AGE", "BiosSettingsCache"]

#: The oldest read served, in seconds. A safety net, not the freshness mechanism: it bounds
#: how long a change the keys cannot see stays unnoticed (a driver or Ironic release that
#: re-caches BIOS settings outside a provision-state change, a database column keeping
#: whole seconds, where a task that starts and ends within the second of the read leaves
#: the timestamp as it was) and how long a node bmo no longer asks about is remembered.
#: Twelve times the controller's 5-minute period: a host at rest costs about one BIOS read
#: an hour instead of twelve.
BIOS_CACHE_MAX_AGE: Final = 60 * 60.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class _Entry:
    updated_at: str | None
    provision_updated_at: str
    detail: bool  # read with ``?detail=True`` (the registry fields): serves both kinds
    items: tuple[Mapping[str, Any], ...]
    read_at: float  # clock time the read was stored


def _cacheable(node: NodeView) -> bool:
    """No conductor task can be rewriting the node's BIOS table, and there is a
    provision-state timestamp to notice the next one by (a node never moved has none)."""
    return (
        node.provision_state in STABLE_STATES
        and not node.target_provision_state
        and node.provision_updated_at is not None
    )


class BiosSettingsCache:
    """Thread-safe; one per :class:`bmo.ironic.client.IronicClient`, shared by every
    provisioner built over it (a provisioner lives for one reconcile only)."""

    def __init__(
        self, *, clock: Clock = time.monotonic, max_age: float = BIOS_CACHE_MAX_AGE
    ) -> None:
        self._clock = clock
        self._max_age = max_age
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._pruned_at = clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, node: NodeView, detail: bool) -> tuple[Mapping[str, Any], ...] | None:
        """The settings stored for ``node`` if it is unchanged since they were read (and the
        read had the registry fields when ``detail`` asks for them), else ``None``: ask
        Ironic then. The mappings are read-only."""
        if not _cacheable(node):
            return None
        with self._lock:
            entry = self._entries.get(node.uuid)
            if entry is None or self._clock() - entry.read_at >= self._max_age:
                return None
        if entry.provision_updated_at != node.provision_updated_at:
            return None
        if (
            entry.updated_at is not None
            and node.updated_at is not None
            and entry.updated_at != node.updated_at
        ):
            return None
        if detail and not entry.detail:
            return None
        return entry.items

    def put(self, node: NodeView, detail: bool, items: Sequence[Mapping[str, Any]]) -> None:
        """Remember what Ironic answered for ``node`` (as read *before* the BIOS GET).

        Only a node in a stable state is remembered: one in a task may be rewriting its
        settings, and leaving the task changes its key anyway. Keying by the node read
        before the settings errs safe: a change in between makes the next node look
        different, never the other way round.
        """
        provision_updated_at = node.provision_updated_at
        if provision_updated_at is None or not _cacheable(node):
            self.evict(node.uuid)
            return
        now = self._clock()
        entry = _Entry(
            updated_at=node.updated_at,
            provision_updated_at=provision_updated_at,
            detail=detail,
            items=tuple(MappingProxyType(dict(item)) for item in items),
            read_at=now,
        )
        with self._lock:
            # Bound the size: nodes deleted, re-created under a new UUID or no longer asked
            # about leave entries nobody will hit again. Swept once per max age, not on every
            # store (a sweep per store is quadratic across a fleet).
            if now - self._pruned_at >= self._max_age:
                self._pruned_at = now
                self._entries = {
                    uuid: kept
                    for uuid, kept in self._entries.items()
                    if now - kept.read_at < self._max_age
                }
            self._entries[node.uuid] = entry

    def evict(self, *uuids: str | None) -> None:
        """Forget these nodes (bmo deleted or created them)."""
        with self._lock:
            for uuid in uuids:
                if uuid:
                    self._entries.pop(uuid, None)
