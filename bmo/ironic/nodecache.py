"""An informer for Ironic: every node and port, listed once per poll interval, serving every
host's reads.

Upstream ``pkg/provisioner/ironic/ironic.go`` ``getNode`` GETs a host's node on every
reconcile, so Ironic's load grows with hosts times the reconcile rate; a single-process
Ironic answers ~10 requests/s and becomes the bottleneck of the whole fleet. This cache
replaces those reads with one paginated ``GET /v1/nodes?fields=...`` (only the fields
:class:`NodeView` holds) per poll interval:

* **Ports too.** Upstream ``register.go ensurePort`` lists a host's ports
  (``GET /v1/ports?node_uuid=...``) on every registration, i.e. every reconcile. Right after
  the node list, the same poll makes one paginated ``GET /v1/ports?fields=...`` and keeps the
  ports grouped by node UUID: :meth:`NodeCache.ports` answers for a node the snapshot holds
  (``[]`` when it has none). A failed port list only makes port reads go to Ironic; the
  nodes stay served.
* **Adaptive interval.** Short (``fast_interval``) while Ironic is working on any node (a
  transitional provision state, a target state set) or bmo wrote to one recently; long
  (``slow_interval``) at rest, so a provisioned fleet costs one list per minute.
* **Wake-ups.** Listeners are told when a node's provision/power state, target states,
  maintenance, fault or last error change, or a node appears or vanishes: the host controller
  enqueues the host instead of waiting for its requeue delay. A wiped Ironic database shows up
  as every node vanishing in one poll.
* **Writes go straight to Ironic** (:class:`bmo.ironic.client.IronicClient`) and
  :meth:`NodeCache.invalidate` the node (creating a port invalidates its node):
  reads of it and of its ports bypass the cache until a poll that *started after the write*
  has seen it, so a reconcile never acts on a state older than its own last write.
* **Never trusted when stale.** After a failed poll, or when the last good one is older than
  two slow intervals, every read goes to Ironic directly, where an outage raises as before.
  The same once the client saw Ironic unreachable or not ready (:meth:`NodeCache.distrust`):
  it may return on a wiped database, so nothing polled before is served and the next poll
  comes at once (with the per-host reads gone, nothing else notices a wipe sooner).
  A node absent from the cache is also looked up directly (it may be newer than the poll).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Final

from bmo.ironic.errors import IronicError
from bmo.ironic.microversion import parse_version
from bmo.ironic.states import STABLE_STATES
from bmo.ironic.views import NodeView, PortView

__all__ = [
    "DEFAULT_FAST_INTERVAL",
    "DEFAULT_SLOW_INTERVAL",
    "NodeCache",
    "NodeChange",
    "cache_fields",
]

log = logging.getLogger(__name__)

DEFAULT_FAST_INTERVAL: Final = 1.0
DEFAULT_SLOW_INTERVAL: Final = 60.0
#: After a write, poll fast this long even if no node looks busy yet (a ``manage`` request
#: leaves ``enroll`` with no target set for a moment).
WRITE_HOT_WINDOW: Final = 10.0

#: Fields whose change wakes the host owning the node.
_WATCHED: Final = (
    "provision_state",
    "target_provision_state",
    "power_state",
    "target_power_state",
    "maintenance",
    "fault",
    "last_error",
)
#: Fields only newer microversions accept in ``fields=`` (Ironic answers 406 otherwise).
_FIELD_SINCE: Final = {"health": (1, 109), "disable_power_off": (1, 95)}
#: :class:`NodeView` fields no microversion accepts in ``fields=``: Ironic's
#: ``api/controllers/v1/node.py _get_fields_for_node_query`` answers 400 "Field updated_at is
#: not a valid field." (its list has ``provision_updated_at`` but not ``updated_at``), and
#: ``utils.py sanitize_dict`` strips the ``updated_at`` every node body carries from a
#: ``fields=`` answer. Cached nodes therefore have ``updated_at=None``; single-node GETs
#: carry it.
_NOT_LISTABLE: Final = frozenset({"updated_at"})

Clock = Callable[[], float]
ListNodes = Callable[[Iterable[str]], list[NodeView]]
ListPorts = Callable[[], list[PortView]]


def cache_fields(microversion: str) -> tuple[str, ...]:
    """The node fields to list: every :class:`NodeView` field this microversion serves in a
    list's ``fields=``."""
    version = parse_version(microversion)
    return tuple(
        f.name
        for f in fields(NodeView)
        if f.name not in _NOT_LISTABLE and version >= _FIELD_SINCE.get(f.name, (1, 0))
    )


@dataclass(frozen=True)
class NodeChange:
    """One node's change between two polls; ``before``/``after`` is ``None`` when absent."""

    before: NodeView | None
    after: NodeView | None

    @property
    def name(self) -> str | None:
        node = self.after or self.before
        return node.name if node is not None else None


Listener = Callable[[NodeChange], None]


def _busy(node: NodeView) -> bool:
    return (
        node.provision_state not in STABLE_STATES
        or bool(node.target_provision_state)
        or bool(node.target_power_state)
    )


def _changed(before: NodeView, after: NodeView) -> bool:
    return any(getattr(before, name) != getattr(after, name) for name in _WATCHED)


@dataclass(frozen=True)
class _Snapshot:
    started_at: float  # clock time the successful list was requested
    by_uuid: Mapping[str, NodeView]
    by_name: Mapping[str, NodeView]
    # Node UUID → its ports, listed after the nodes; ``None`` when that list failed (or the
    # cache lists no ports): port reads then go to Ironic.
    ports: Mapping[str, tuple[PortView, ...]] | None = None


class NodeCache:
    """Thread-safe. ``list_nodes(fields)`` (the client's paged ``list_nodes``) and, when
    given, ``list_ports()`` (its paged port list) are the requests it makes, once per poll;
    ``fields`` is a callable so the microversion is read at poll time."""

    def __init__(
        self,
        list_nodes: ListNodes,
        fields_for_poll: Callable[[], Iterable[str]],
        *,
        list_ports: ListPorts | None = None,
        fast_interval: float = DEFAULT_FAST_INTERVAL,
        slow_interval: float = DEFAULT_SLOW_INTERVAL,
        clock: Clock = time.monotonic,
    ) -> None:
        self._list_nodes = list_nodes
        self._fields = fields_for_poll
        self._list_ports = list_ports
        self._fast = fast_interval
        self._slow = slow_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._last_poll_at: float | None = None
        self._last_write_at: float | None = None
        self._distrusted_at: float | None = None
        # ident (uuid or name) → clock time of bmo's last write to that node, and of its
        # last provision-state request (which may take a capacity slot).
        self._written: dict[str, float] = {}
        self._moved: dict[str, float] = {}
        # ident → clock time bmo last created (or deleted the node of) a port of that node.
        self._ports_written: dict[str, float] = {}
        self._last_duration = 0.0
        self._last_known: _Snapshot | None = None
        self._listeners: list[Listener] = []
        self._poll_listeners: list[Callable[[], None]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0

    # -- reads -----------------------------------------------------------------------------

    def lookup(self, ident: str) -> NodeView | None:
        """The cached node by UUID or name, or ``None`` when the cache cannot answer (stale,
        never synced, written since the last poll, or not listed): ask Ironic then."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or not self._fresh(snapshot):
                return None
            node = snapshot.by_uuid.get(ident) or snapshot.by_name.get(ident)
            if node is None or self._written_since(node, snapshot):
                return None
            return node

    def ports(self, node_uuid: str) -> list[PortView] | None:
        """The node's cached ports (``[]`` for a listed node without any), or ``None`` when
        the cache cannot answer (stale, never synced, the port list failed, the node not
        listed, or bmo wrote its ports since the poll started: a port bmo created is never
        hidden).

        Only port writes count: a PATCH or a state change of the node leaves its ports
        alone, and bmo writes to most nodes it reconciles, so bypassing on those sent a port
        list to Ironic on nearly every pass (9 a host on the way to ``provisioned``).
        """
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or snapshot.ports is None or not self._fresh(snapshot):
                return None
            node = snapshot.by_uuid.get(node_uuid)
            if node is None or self._written_since(node, snapshot, self._ports_written):
                return None
            return list(snapshot.ports.get(node.uuid, ()))

    def _written_since(
        self, node: NodeView, snapshot: _Snapshot, writes: Mapping[str, float] | None = None
    ) -> bool:
        """bmo wrote to the node (by UUID or name) since the snapshot's poll started;
        ``writes`` picks which writes (default: any)."""
        writes = self._written if writes is None else writes
        for key in (node.uuid, node.name):
            written = writes.get(key) if key else None
            if written is not None and written >= snapshot.started_at:
                return True
        return False

    def knows_absent(self, ident: str) -> bool:
        """True when a fresh snapshot has no node by this UUID or name and bmo has not
        written to one by that ident since it was taken.

        bmo invalidates the UUID and name of every node it creates, so for bmo's own nodes
        this is exact; a node someone else created after the poll is missed until the next
        one (an enroll then meets Ironic's name conflict and finds the node).
        """
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or not self._fresh(snapshot):
                return False
            if ident in snapshot.by_uuid or ident in snapshot.by_name:
                return False
            written = self._written.get(ident)
            return written is None or written < snapshot.started_at

    def nodes(self) -> list[NodeView] | None:
        """Every cached node, or ``None`` when the cache is stale or never synced."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or not self._fresh(snapshot):
                return None
            return list(snapshot.by_uuid.values())

    def pending_moves(self) -> set[str]:
        """UUIDs of nodes sent a provision-state request since the held poll started."""
        with self._lock:
            since = self._snapshot.started_at if self._snapshot else float("-inf")
            return {ident for ident, at in self._moved.items() if at >= since}

    def _fresh(self, snapshot: _Snapshot) -> bool:
        """Recent enough, and taken after Ironic was last seen unreachable (:meth:`distrust`)."""
        if self._distrusted_at is not None and snapshot.started_at <= self._distrusted_at:
            return False
        # Two slow intervals (a poll takes time, the poller may run late) and never less
        # than a few fast ones.
        limit = max(2 * self._slow, 5 * self._fast)
        return self._clock() - snapshot.started_at <= limit

    # -- writes ----------------------------------------------------------------------------

    def invalidate(self, *idents: str | None, moved: bool = False, ports: bool = False) -> None:
        """bmo wrote to this node: bypass the cache for it until a later poll saw it, and
        poll fast for a while. ``moved``: the write was a provision-state request toward a
        slot; ``ports``: it created a port of the node (or deleted the node and its ports)."""
        now = self._clock()
        with self._lock:
            for ident in idents:
                if ident:
                    self._written[ident] = now
                    if moved:
                        self._moved[ident] = now
                    if ports:
                        self._ports_written[ident] = now
            self._last_write_at = now
        self._wake.set()

    def distrust(self) -> None:
        """Ironic was seen unreachable or not ready: it may come back restarted on another
        database (a wiped one), so serve nothing polled before now and poll at once.

        With every read served here, nothing else would notice a wipe before the next slow
        poll (a minute at rest); the readiness check every reconcile makes notices the gap.
        """
        with self._lock:
            self._distrusted_at = self._clock()
        self._wake.set()

    # -- listeners -------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def add_poll_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every successful poll, once its changes were told."""
        with self._lock:
            self._poll_listeners.append(listener)

    # -- polling ---------------------------------------------------------------------------

    def interval(self) -> float:
        """The wait until the next poll: fast while anything moves, slow at rest.

        "Fast" is never shorter than twice the last list took: listing every node costs
        Ironic (one process, one core) in proportion to the fleet, and the cache must not
        become the load it was built to remove.
        """
        with self._lock:
            snapshot = self._snapshot
            now = self._clock()
            fast = max(self._fast, 2 * self._last_duration)
            if snapshot is None or not self._fresh(snapshot):
                return fast
            if self._last_write_at is not None and now - self._last_write_at < WRITE_HOT_WINDOW:
                return fast
            if any(_busy(node) for node in snapshot.by_uuid.values()):
                return fast
            return max(self._slow, fast)

    def poll(self) -> list[NodeChange]:
        """List the nodes, then the ports, once; return (and tell listeners about) what
        changed.

        A failed node list drops the snapshot, so reads go to Ironic and fail there; a failed
        port list keeps the nodes and drops only the ports.
        """
        started = self._clock()
        with self._lock:
            self._last_poll_at = started
        try:
            listed = self._list_nodes(self._fields())
        except IronicError as exc:
            log.info("ironic node cache: list failed, reads go to ironic: %s", exc)
            with self._lock:
                # Reads must not trust it, but the next good list is diffed against it:
                # an outage must not end in a wake-up of every host.
                if self._snapshot is not None:
                    self._last_known = self._snapshot
                self._snapshot = None
                self._last_duration = max(0.0, self._clock() - started)
            return []
        by_uuid = {node.uuid: node for node in listed}
        by_name = {node.name: node for node in listed if node.name}
        ports = self._poll_ports()
        with self._lock:
            previous = self._snapshot or self._last_known
            self._last_known = None
            self._snapshot = _Snapshot(started, by_uuid, by_name, ports)
            self._last_duration = max(0.0, self._clock() - started)
            self.polls += 1
            # Writes this poll has seen need no remembering.
            self._written = {k: at for k, at in self._written.items() if at >= started}
            self._moved = {k: at for k, at in self._moved.items() if at >= started}
            self._ports_written = {
                k: at for k, at in self._ports_written.items() if at >= started
            }
            listeners = list(self._listeners)
            poll_listeners = list(self._poll_listeners)
        changes = self._diff(previous, by_uuid)
        if previous is not None and previous.by_uuid and not by_uuid:
            log.warning("ironic node cache: all %d nodes vanished", len(previous.by_uuid))
        for change in changes:
            for listener in listeners:
                try:
                    listener(change)
                except Exception:  # a listener's bug must not stop the poller
                    log.exception("ironic node cache listener failed")
        for poll_listener in poll_listeners:
            try:
                poll_listener()
            except Exception:
                log.exception("ironic node cache poll listener failed")
        return changes

    def _poll_ports(self) -> dict[str, tuple[PortView, ...]] | None:
        """Every port grouped by node UUID, or ``None`` (no port list, or it failed).

        Listed after the nodes and judged against the node poll's start: a port write that
        finished before the node list started is in this list, and one after it makes
        :meth:`ports` bypass the cache for that node anyway.
        """
        if self._list_ports is None:
            return None
        try:
            listed = self._list_ports()
        except IronicError as exc:
            log.info("ironic node cache: port list failed, port reads go to ironic: %s", exc)
            return None
        grouped: dict[str, list[PortView]] = {}
        for port in listed:
            if port.node_uuid:
                grouped.setdefault(port.node_uuid, []).append(port)
        return {uuid: tuple(node_ports) for uuid, node_ports in grouped.items()}

    @staticmethod
    def _diff(previous: _Snapshot | None, current: Mapping[str, NodeView]) -> list[NodeChange]:
        if previous is None:
            # First sync (or after an outage): every node is news to someone waiting on it.
            return [NodeChange(None, node) for node in current.values()]
        changes = [
            NodeChange(before, current.get(uuid))
            for uuid, before in previous.by_uuid.items()
            if uuid not in current or _changed(before, current[uuid])
        ]
        changes.extend(
            NodeChange(None, node) for uuid, node in current.items() if uuid not in previous.by_uuid
        )
        return changes

    def start(self) -> NodeCache:
        """Poll in a daemon thread until :meth:`stop` (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return self
            self._thread = threading.Thread(target=self._run, name="ironic-node-cache", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            while not self._stop.is_set():
                with self._lock:
                    last = self._last_poll_at or 0.0
                remaining = last + self.interval() - self._clock()
                if remaining <= 0:
                    break
                # A write shortens the wait (the interval may drop to fast): recompute.
                self._wake.wait(remaining)
                self._wake.clear()
