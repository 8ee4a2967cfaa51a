# Over 600 lines: the poll, the overlay of bmo's own writes and the kept port list share one
# lock and one snapshot, and each read checks all three; split, that invariant would span modules.
"""An informer for Ironic: every node and port, listed once per poll interval, serving every
host's reads.

Upstream ``pkg/provisioner/ironic/ironic.go`` ``getNode`` GETs a host's node on every
reconcile, so Ironic's load grows with hosts times the reconcile rate; a single-process
Ironic answers ~10 requests/s and becomes the bottleneck of the whole fleet. This cache
replaces those reads with one paginated ``GET /v1/nodes?fields=...`` (only the fields
:class:`NodeView` holds) per poll interval:

* **Change lists.** Between two full lists (one per slow interval), a poll lists only the
  nodes changed since the newest change it saw (``GET /v1/nodes/detail`` sorted by
  ``updated_at``, newest first, back to :data:`CHANGE_OVERLAP` before that mark) and lays
  them over the snapshot: the cost of a poll follows what Ironic is doing, not the fleet's
  size. A node someone else deletes stays cached until the next full list.
* **Ports too.** Upstream ``register.go ensurePort`` lists a host's ports
  (``GET /v1/ports?node_uuid=...``) on every registration, i.e. every reconcile. Right after
  the node list, a poll makes one paginated ``GET /v1/ports?fields=...`` and keeps the
  ports grouped by node UUID: :meth:`NodeCache.ports` answers for a node that list's poll
  held (``[]`` when it has none). Only inspection changes ports inside Ironic, so the port
  list is kept for a slow interval; a node inspecting, inspected since (its
  ``inspection_started_at``/``inspection_finished_at`` changed), written since or listed
  since is read from Ironic instead. A failed port list only makes port reads go to Ironic;
  the nodes stay served.
* **Adaptive interval.** Short (``fast_interval``) while Ironic is working on any node (a
  transitional provision state, a target state set) or bmo wrote to one recently; long
  (``slow_interval``) at rest, so a provisioned fleet costs one list per minute.
* **Probes at rest.** Between two slow polls, every :data:`DEFAULT_PROBE_INTERVAL` the
  cache asks Ironic for its one most recently changed node (:meth:`NodeCache.probe`): none
  where the cache holds some (a wiped database), one it does not hold, one changed after
  the mark, or no answer (Ironic restarting) brings the next poll forward to now. At rest
  nothing else asks Ironic anything, so without it a wipe waited up to a slow interval.
* **Wake-ups.** Listeners are told when a node's provision/power state, target states,
  maintenance, fault or last error change, or a node appears or vanishes: the host controller
  enqueues the host instead of waiting for its requeue delay. A wiped Ironic database shows up
  as every node vanishing in one poll.
* **Writes go straight to Ironic** (:class:`bmo.ironic.client.IronicClient`) and
  :meth:`NodeCache.invalidate` the node (creating a port invalidates its node):
  reads of it and of its ports bypass the cache until a poll that *started after the write*
  has seen it, so a reconcile never acts on a state older than its own last write.
* **Unless the write answered them** (the overlay). ``POST /v1/nodes`` and
  ``PATCH /v1/nodes/{id}`` answer with the whole node, ``POST /v1/ports`` with the port; a
  node bmo has just created has no ports. Such an answer (and a direct read made after
  bmo's last write to the node: :meth:`NodeCache.observed`) is served for that node until a
  poll that started after it, or until bmo's next write to the node that did not answer it.
  Upstream (``ironic.go getNode``, ``register.go ensurePort``) GETs the node and lists its
  ports on every reconcile; after a wipe every host re-enrolls at once, and those reads
  were most of what bmo sent Ironic. A node's ports are known when bmo learnt them after
  its last write that could change them: an empty list for a node it created, a port list
  read since, or a list the cache served right before bmo created a port (plus that port,
  which is thus never hidden) or wrote something that cannot change ports (a PATCH, a
  power or maintenance request). A provision-state request drops the node's overlay (a 202
  without a body: the state is unknown), and its ports too unless the target is one that
  never touches ports (:data:`PORT_NEUTRAL_TARGETS`).
* **Never trusted when stale.** After a failed poll, or when the last good one is older than
  two slow intervals, every read goes to Ironic directly, where an outage raises as before.
  The same once the client saw Ironic unreachable or not ready (:meth:`NodeCache.distrust`):
  it may return on a wiped database, so nothing polled before is served and the next poll
  comes at once (with the per-host reads gone, nothing else notices a wipe sooner).
  A node absent from the cache is also looked up directly (it may be newer than the poll).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Final

from bmo.ironic.errors import (
    InvalidRequest,
    IronicError,
    IronicTimeout,
    NodeNotFound,
    is_unreachable,
)
from bmo.ironic.microversion import parse_version
from bmo.ironic.states import STABLE_STATES, State
from bmo.ironic.views import NodeView, PortView, ironic_time

__all__ = [
    "DEFAULT_FAST_INTERVAL",
    "DEFAULT_PROBE_INTERVAL",
    "DEFAULT_SLOW_INTERVAL",
    "POLL_DUTY_FACTOR",
    "NodeCache",
    "NodeChange",
    "cache_fields",
]

log = logging.getLogger(__name__)

DEFAULT_FAST_INTERVAL: Final = 1.0
DEFAULT_SLOW_INTERVAL: Final = 60.0
#: At rest, a one-node probe this often: 200 hosts at rest cost Ironic 0.03 requests per
#: host per minute more, and a wipe is seen within this long instead of a slow interval.
DEFAULT_PROBE_INTERVAL: Final = 10.0
#: After a write, poll fast this long even if no node looks busy yet (a ``manage`` request
#: leaves ``enroll`` with no target set for a moment).
WRITE_HOT_WINDOW: Final = 10.0
#: Provision-state targets after which a node's ports stay as bmo last knew them: Ironic's
#: conductor creates or changes ports only while inspecting (``ironic/drivers/modules/
#: inspect_utils.py create_ports_if_not_exist``, called by the inspection hooks), and none
#: of these requests inspects.
PORT_NEUTRAL_TARGETS: Final = frozenset({"manage", "adopt", "provide", "active", "deleted"})

#: Provision states in which Ironic's inspection hooks may add or delete the node's ports.
_INSPECTION_STATES: Final = frozenset({State.INSPECTING, State.INSPECT_WAIT})
#: Poll this many times the last poll's duration apart at least: listing every node costs
#: Ironic (one process, one core) in proportion to the fleet (200 nodes: ~0.13 CPU-s), so
#: the cache takes at most about a tenth of it. At twice, 200 hosts provisioning made Ironic
#: spend a third more CPU than a script driving the same nodes.
POLL_DUTY_FACTOR: Final = 10.0

#: Fields whose change wakes the host owning the node. ``provision_updated_at``: Ironic
#: stamps it on every provision-state change, so a node that went round between two polls
#: (``manageable``, inspected, ``manageable`` again) is still seen to have moved.
_WATCHED: Final = (
    "provision_state",
    "provision_updated_at",
    "target_provision_state",
    "power_state",
    "target_power_state",
    "maintenance",
    "fault",
    "last_error",
)
#: Fields whose change needs the host even while the node stays busy.
_ATTENTION: Final = ("maintenance", "fault", "last_error")
#: Fields only newer microversions accept in ``fields=`` (Ironic answers 406 otherwise).
_FIELD_SINCE: Final = {"health": (1, 109), "disable_power_off": (1, 95)}
#: :class:`NodeView` fields no microversion accepts in ``fields=``: Ironic's
#: ``api/controllers/v1/node.py _get_fields_for_node_query`` answers 400 "Field updated_at is
#: not a valid field." (its list has ``provision_updated_at`` but not ``updated_at``), and
#: ``utils.py sanitize_dict`` strips the ``updated_at`` every node body carries from a
#: ``fields=`` answer. Cached nodes therefore have ``updated_at=None``; single-node GETs
#: carry it.
_NOT_LISTABLE: Final = frozenset({"updated_at"})

#: How far before the newest change it saw a change list reaches back. A row's
#: ``updated_at`` is stamped just before its transaction commits, so a change committed
#: right after a list may carry a time older than the newest one that list showed; a
#: database keeping whole seconds (MySQL ``DATETIME``) and conductors on other hosts' clocks
#: widen that. Full lists (one per slow interval) catch anything older still.
CHANGE_OVERLAP: Final = timedelta(seconds=2)

#: The mark of a fleet none of whose nodes was ever written.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Clock = Callable[[], float]
ListNodes = Callable[[Iterable[str]], list[NodeView]]
ListPorts = Callable[[], list[PortView]]
ListChanged = Callable[[datetime | None], list[NodeView]]


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

    @property
    def actionable(self) -> bool:
        """Whether the host may have something to do about it: the node appeared, vanished
        or came to rest (no target, a stable state), or its maintenance, fault or last error
        changed. A node moving on between busy states (``inspecting`` to ``inspect wait``,
        ``cleaning`` to ``clean wait``), or powered on and off by the task Ironic runs on it,
        only makes its host find it still busy: waking the host for that spent a pass,
        about a third of a fleet's passes. Power is the host's again once the node rests."""
        before, after = self.before, self.after
        if before is None or after is None or not _busy(after):
            return True
        return any(getattr(before, name) != getattr(after, name) for name in _ATTENTION)


Listener = Callable[[NodeChange], None]


def _busy(node: NodeView) -> bool:
    return (
        node.provision_state not in STABLE_STATES
        or bool(node.target_provision_state)
        or bool(node.target_power_state)
    )


def _refused(exc: IronicError) -> bool:
    """No HTTP answer, and not for want of time: the connection was refused or reset."""
    return is_unreachable(exc) and not isinstance(exc, IronicTimeout)


def _changed(before: NodeView, after: NodeView) -> bool:
    return any(getattr(before, name) != getattr(after, name) for name in _WATCHED)


@dataclass(frozen=True)
class _PortList:
    """One port list and what the node list of its poll said about port-changing work."""

    started_at: float  # clock time its poll's node list was requested
    seq: int  # the write sequence number then (see :attr:`_Snapshot.seq`)
    # Node UUID → its ports; a node listed in that poll without any maps to ``()``.
    by_node: Mapping[str, tuple[PortView, ...]]
    # Node UUID → its inspection marks in that poll: a later change means an inspection
    # ran since, and may have changed the node's ports.
    marks: Mapping[str, tuple[str | None, str | None]]


@dataclass(frozen=True)
class _Snapshot:
    started_at: float  # clock time the successful list was requested
    by_uuid: Mapping[str, NodeView]
    by_name: Mapping[str, NodeView]
    # The ports, listed by this poll or an earlier one (:func:`_port_list_due`); ``None``
    # when that list failed (or the cache lists no ports): port reads then go to Ironic.
    ports: _PortList | None = None
    # The write sequence number when the list was requested (:attr:`NodeCache._seq`): an
    # overlay with a higher one is newer than this snapshot.
    seq: int = 0


def _newest(mark: datetime | None, nodes: Iterable[NodeView]) -> datetime | None:
    """The latest of ``mark`` and the nodes' ``updated_at``."""
    for node in nodes:
        stamp = ironic_time(node.updated_at)
        if stamp is not None and (mark is None or stamp > mark):
            mark = stamp
    return mark


def _inspection_marks(node: NodeView) -> tuple[str | None, str | None]:
    return (node.inspection_started_at, node.inspection_finished_at)


def _ports_may_move(node: NodeView) -> bool:
    """Ironic may be changing the node's ports now: only inspection does
    (:data:`PORT_NEUTRAL_TARGETS`)."""
    return node.provision_state in _INSPECTION_STATES


@dataclass(frozen=True)
class _Overlay:
    """What bmo learnt about one node after the snapshot it holds: the answer of its own
    write, or a direct read since its last write. ``seq`` orders it against bmo's writes
    (a sequence number, not a clock time: two writes may share a clock tick)."""

    seq: int
    value: NodeView | tuple[PortView, ...]
    # For ports: the node's inspection marks when they were learnt (``None``: unknown). An
    # inspection since may have changed them, and port overlays outlive node polls.
    marks: tuple[str | None, str | None] | None = None


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
        list_changed: ListChanged | None = None,
        fast_interval: float = DEFAULT_FAST_INTERVAL,
        slow_interval: float = DEFAULT_SLOW_INTERVAL,
        probe_interval: float | None = DEFAULT_PROBE_INTERVAL,
        clock: Clock = time.monotonic,
    ) -> None:
        self._list_nodes = list_nodes
        self._fields = fields_for_poll
        self._list_ports = list_ports
        self._list_changed = list_changed
        # Where the next change list starts (Ironic's clock: the newest ``updated_at`` the
        # cache has seen), and when the last full list was requested (this clock).
        self._mark: datetime | None = None
        self._full_at: float | None = None
        self._fast = fast_interval
        self._slow = slow_interval
        self._probe_interval = probe_interval
        self._probed_at: float | None = None
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
        # Every write (:meth:`invalidate`) takes the next sequence number; ident → the
        # number of bmo's last write to that node. The overlays (node UUID → what bmo
        # learnt since the snapshot) are served while no later write touched the node.
        self._seq = 0
        self._written_seq: dict[str, int] = {}
        self._node_overlay: dict[str, _Overlay] = {}
        self._overlay_names: dict[str, str] = {}
        self._port_overlay: dict[str, _Overlay] = {}
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
            overlaid = self._overlaid_node(ident, snapshot)
            if overlaid is not None:
                return overlaid
            node = snapshot.by_uuid.get(ident) or snapshot.by_name.get(ident)
            if node is None or self._written_since(node, snapshot.started_at):
                return None
            return node

    def ports(self, node_uuid: str) -> list[PortView] | None:
        """The node's cached ports (``[]`` for a listed node without any), or ``None`` when
        the cache cannot answer (stale, never synced, the port list failed, the node not
        listed, or written since the poll started: a port bmo created is never hidden)."""
        with self._lock:
            served = self._served_ports(node_uuid)
            return list(served) if served is not None else None

    def _served_ports(self, node_uuid: str) -> tuple[PortView, ...] | None:
        """What :meth:`ports` answers (lock held)."""
        snapshot = self._snapshot
        if snapshot is None or not self._fresh(snapshot):
            return None
        overlaid = self._overlaid_ports(node_uuid, snapshot)
        if overlaid is not None:
            return overlaid
        listed = snapshot.ports
        node = snapshot.by_uuid.get(node_uuid)
        if listed is None or node is None or self._written_since(node, listed.started_at):
            return None
        if listed.marks.get(node.uuid, ("?", "?")) != _inspection_marks(node):
            return None  # not listed then, or inspected since: its ports may have changed
        if _ports_may_move(node):
            return None
        return listed.by_node.get(node.uuid, ())

    def _written_since(self, node: NodeView, since: float) -> bool:
        """bmo wrote to the node (by UUID or name) since ``since`` (a poll's start)."""
        for key in (node.uuid, node.name):
            written = self._written.get(key) if key else None
            if written is not None and written >= since:
                return True
        return False

    def _valid(self, overlay: _Overlay | None, seq: int, *idents: str | None) -> bool:
        """Newer than the list it overlays (taken at write number ``seq``), and no write to
        the node since."""
        if overlay is None or overlay.seq <= seq:
            return False
        return all(self._written_seq.get(ident, -1) <= overlay.seq for ident in idents if ident)

    def _overlaid_node(self, ident: str, snapshot: _Snapshot) -> NodeView | None:
        overlay = self._node_overlay.get(self._overlay_names.get(ident, ident))
        if overlay is None or not isinstance(overlay.value, NodeView):
            return None
        node = overlay.value
        if ident not in (node.uuid, node.name):  # renamed since the name was indexed
            return None
        return node if self._valid(overlay, snapshot.seq, node.uuid, node.name) else None

    def _overlaid_ports(self, node_uuid: str, snapshot: _Snapshot) -> tuple[PortView, ...] | None:
        overlay = self._port_overlay.get(node_uuid)
        if overlay is None or isinstance(overlay.value, NodeView):
            return None
        listed = snapshot.ports
        seq = listed.seq if listed is not None else snapshot.seq
        if not self._valid(overlay, seq, node_uuid):
            return None
        now = self._node_now(node_uuid, snapshot)
        if now is not None and (
            _ports_may_move(now) or overlay.marks not in (None, _inspection_marks(now))
        ):
            return None  # inspecting, or inspected since bmo learnt the ports
        return overlay.value

    def _node_now(self, node_uuid: str, snapshot: _Snapshot | None) -> NodeView | None:
        """The newest view of the node bmo holds (lock held)."""
        if snapshot is None:
            return None
        return self._overlaid_node(node_uuid, snapshot) or snapshot.by_uuid.get(node_uuid)

    def _port_overlay_for(
        self, node_uuid: str, seq: int, ports: tuple[PortView, ...], node: NodeView | None = None
    ) -> _Overlay:
        """A port overlay stamped with the node's inspection marks now (lock held)."""
        now = node if node is not None else self._node_now(node_uuid, self._snapshot)
        return _Overlay(seq, ports, _inspection_marks(now) if now is not None else None)

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

    def invalidate(
        self,
        *idents: str | None,
        moved: bool = False,
        answer: NodeView | None = None,
        ports: Iterable[PortView] | None = None,
        keep_ports: bool = False,
    ) -> None:
        """bmo wrote to this node: bypass the cache for it until a later poll saw it, and
        poll fast for a while. ``moved``: the write was a provision-state request toward a
        state that holds a provisioning slot (:meth:`pending_moves`).

        What the write answered is served instead (the overlay): ``answer``, the node it
        returned (keyed by its UUID and name, which join ``idents``); ``ports``, the node's
        whole port list when the write makes it known (``()`` for a node bmo just created).
        ``keep_ports``: the write cannot have changed the node's ports, so the port list
        :meth:`ports` served right before (overlay or poll) stays served. Any other write
        drops both overlays.
        """
        if answer is not None:
            idents = (*idents, answer.uuid, answer.name)
        with self._lock:
            kept = {ident: self._served_ports(ident) for ident in idents if ident and keep_ports}
            seq = self._stamp(idents, moved=moved)
            for ident, known in kept.items():
                if known is not None:
                    self._port_overlay[ident] = self._port_overlay_for(ident, seq, known)
            if answer is not None:
                self._remember_node(answer, seq)
                if ports is not None:
                    self._port_overlay[answer.uuid] = self._port_overlay_for(
                        answer.uuid, seq, tuple(ports), answer
                    )
        self._wake.set()

    def port_created(self, node_uuid: str, port: PortView) -> None:
        """bmo created this port on the node (``POST /v1/ports`` answered it): invalidate
        the node, and when :meth:`ports` could answer for it right before, serve that list
        with this port added (it would have served the list anyway; the port is never
        hidden). Otherwise the node's ports are read from Ironic until the next poll."""
        with self._lock:
            known = self._served_ports(node_uuid)
            seq = self._stamp((node_uuid,))
            if known is not None:
                updated = (*(p for p in known if p.uuid != port.uuid), port)
                self._port_overlay[node_uuid] = self._port_overlay_for(node_uuid, seq, updated)
        self._wake.set()

    def _stamp(self, idents: Iterable[str | None], *, moved: bool = False) -> int:
        """Record one write to these idents (lock held); its sequence number."""
        now = self._clock()
        self._seq += 1
        for ident in idents:
            if ident:
                self._written[ident] = now
                self._written_seq[ident] = self._seq
                if moved:
                    self._moved[ident] = now
        self._last_write_at = now
        return self._seq

    def mark(self) -> int:
        """Taken before a direct read: hand it to :meth:`observed` with the answer."""
        with self._lock:
            return self._seq

    def observed(
        self,
        mark: int,
        node: NodeView | None = None,
        *,
        ports_of: str | None = None,
        ports: Iterable[PortView] = (),
    ) -> None:
        """A direct read requested at ``mark`` answered ``node`` (or, with ``ports_of``, that
        node's whole port list): serve it until a poll that started later, unless bmo wrote
        to the node since ``mark`` (the answer may predate that write)."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None:
                return
            idents = (node.uuid, node.name) if node is not None else ()
            if (
                node is not None
                and mark > snapshot.seq  # else the snapshot is as new and answers already
                and all(self._written_seq.get(ident, -1) <= mark for ident in idents if ident)
            ):
                self._remember_node(node, mark)
            port_seq = snapshot.ports.seq if snapshot.ports is not None else snapshot.seq
            if ports_of and mark > port_seq and self._written_seq.get(ports_of, -1) <= mark:
                current = self._port_overlay.get(ports_of)
                if current is None or current.seq <= mark:
                    self._port_overlay[ports_of] = self._port_overlay_for(
                        ports_of, mark, tuple(ports)
                    )

    def _remember_node(self, node: NodeView, seq: int) -> None:
        current = self._node_overlay.get(node.uuid)
        if current is not None and current.seq > seq:
            return
        self._node_overlay[node.uuid] = _Overlay(seq, node)
        if node.name:
            self._overlay_names[node.name] = node.uuid

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

        "Fast" is never shorter than :data:`POLL_DUTY_FACTOR` times the last poll took:
        listing every node costs Ironic (one process, one core) in proportion to the fleet,
        and the cache must not become the load it was built to remove.
        """
        with self._lock:
            snapshot = self._snapshot
            now = self._clock()
            fast = max(self._fast, POLL_DUTY_FACTOR * self._last_duration)
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
            seq = self._seq
        try:
            by_uuid, full, mark = self._list(started)
        except IronicError as exc:
            log.info("ironic node cache: list failed, reads go to ironic: %s", exc)
            with self._lock:
                # Reads must not trust it, but the next good list is diffed against it:
                # an outage must not end in a wake-up of every host.
                if self._snapshot is not None:
                    self._last_known = self._snapshot
                self._snapshot = None
                self._mark = None  # Ironic may come back on another database
                # A failed list says nothing of what a list costs Ironic: a slow failure
                # (timeouts) keeps the last good list's spacing, Ironic being there and
                # loaded. One refused (however long the client's retries of the refusal
                # took), or failed sooner than a good list takes, says Ironic is not there
                # (restarting, maybe on a wiped database): the spacing measured against
                # the fleet it had goes, so its first list when back comes a fast interval
                # later, and the wipe is seen then.
                if _refused(exc) or self._clock() - started < self._last_duration:
                    self._last_duration = 0.0
            return []
        by_name = {node.name: node for node in by_uuid.values() if node.name}
        with self._lock:
            held = self._snapshot.ports if self._snapshot is not None else None
            self._mark = mark
            if full:
                self._full_at = started
        if self._port_list_due(held, started):
            grouped = self._poll_ports()
            held = None
            if grouped is not None:
                marks = {uuid: _inspection_marks(node) for uuid, node in by_uuid.items()}
                held = _PortList(started, seq, grouped, marks)
        with self._lock:
            previous = self._snapshot or self._last_known
            self._last_known = None
            self._snapshot = _Snapshot(started, by_uuid, by_name, held, seq)
            self._last_duration = max(0.0, self._clock() - started)
            self.polls += 1
            # Writes this poll (and the held port list) have seen need no remembering, nor
            # what they answered.
            port_seq = held.seq if held is not None else seq
            seen_at = held.started_at if held is not None else started
            self._written = {k: at for k, at in self._written.items() if at >= seen_at}
            self._moved = {k: at for k, at in self._moved.items() if at >= started}
            self._written_seq = {k: n for k, n in self._written_seq.items() if n > port_seq}
            self._node_overlay = {k: o for k, o in self._node_overlay.items() if o.seq > seq}
            self._port_overlay = {k: o for k, o in self._port_overlay.items() if o.seq > port_seq}
            self._overlay_names = {
                k: u for k, u in self._overlay_names.items() if u in self._node_overlay
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

    def probe(self) -> bool:
        """Whether the next poll is due now, from Ironic's one most recently changed node.

        ``GET /v1/nodes/detail?sort_key=updated_at&sort_dir=desc&limit=1``: one node for
        Ironic to build and check against its policy, whatever the fleet's size (those are
        what a full list costs it per node). The poll is due when that node is changed after
        the mark (a change list then fetches what changed); when it is missing (an emptied
        database) or not one the cache holds (re-enrolled, or new), and the poll is then a
        full list, the only one that shows nodes gone; or when Ironic does not answer, and
        the poll is then a full list too (Ironic may be back by then, on a wiped database;
        if not, the failed poll makes reads go to Ironic, and polls come a fast interval
        apart until it is back). Without change lists (an Ironic refusing the sort) or a
        trusted snapshot it says no: the poll itself is then the only look.
        """
        with self._lock:
            snapshot = self._snapshot
            mark = self._mark
            list_changed = self._list_changed
            self._probed_at = self._clock()
        if list_changed is None or snapshot is None or mark is None:
            return False
        try:
            newest = list_changed(None)
        except IronicError as exc:
            # Ironic may be restarting, and come back on another database: its changes
            # then start afresh, and only a full list shows what is gone.
            log.info("ironic node cache: probe failed, listing every node now: %s", exc)
            with self._lock:
                self._full_at = None
                self._mark = None
            return True
        if newest and newest[0].uuid in snapshot.by_uuid:
            changed_at = ironic_time(newest[0].updated_at)
            return changed_at is not None and changed_at > mark
        if not newest and not snapshot.by_uuid:
            return False
        log.info(
            "ironic node cache: probe found %s, listing every node now",
            f"node {newest[0].uuid} not cached" if newest else "no node",
        )
        with self._lock:
            self._full_at = None
        return True

    def _list(self, started: float) -> tuple[dict[str, NodeView], bool, datetime | None]:
        """Every node by UUID, whether that came from a full list, and the mark the next
        change list starts from.

        A full list costs Ironic in proportion to the fleet, a change list in proportion to
        what changed since the last poll, so while a trusted snapshot is held, the mark is
        known and a full list was made within the slow interval, only the nodes changed
        since the mark (less :data:`CHANGE_OVERLAP`) are listed and laid over the snapshot.
        A node's row changes (its ``updated_at``) with everything bmo reads of it: state,
        power, fields, the lock a task holds. A node deleted by someone else stays until the
        next full list; the ones bmo deletes are its own writes, read from Ironic.

        A full list keeps the mark it has: changes since then are in the full list anyway,
        so a change list from there is only longer than it needs to be when much changed
        during a long rest. Without one (the first list, or one after a failure), the full
        list is preceded by a one-node change list: the newest change before it is where the
        next change list starts.
        """
        with self._lock:
            snapshot = self._snapshot
            mark = self._mark
            recent = (
                self._list_changed is not None
                and snapshot is not None
                and self._fresh(snapshot)
                and mark is not None
                and self._full_at is not None
                and started - self._full_at < self._slow
            )
        if recent:
            assert self._list_changed is not None and snapshot is not None and mark is not None
            changed = self._list_changed(mark - CHANGE_OVERLAP)
            merged = dict(snapshot.by_uuid)
            for node in changed:
                # Served without ``updated_at``, as a full list serves every node: a lock
                # taken and released changes it, and the BIOS cache keyed on it would then
                # read again what nothing changed (see :mod:`bmo.ironic.bioscache`).
                merged[node.uuid] = dataclasses.replace(node, updated_at=None)
            return merged, False, _newest(mark, changed)
        if self._list_changed is not None and mark is None:
            try:
                # No node ever written (none has an ``updated_at``): every change is new.
                mark = _newest(None, self._list_changed(None)) or _EPOCH
            except (InvalidRequest, NodeNotFound) as exc:
                log.info("ironic node cache: no change lists, every poll lists all: %s", exc)
                self._list_changed = None
        listed = self._list_nodes(self._fields())
        return {node.uuid: node for node in listed}, True, mark

    def _port_list_due(self, held: _PortList | None, now: float) -> bool:
        """Whether this poll lists the ports again, or keeps the list it holds.

        Ironic changes a node's ports only while inspecting it, and :meth:`ports` does not
        serve a node inspected (or inspecting) since its list, nor one written to since, nor
        one listed after it. Those few are read from Ironic directly; the list of every port
        (as costly for Ironic as the node list) is then needed only when none is held, or to
        see changes made by others, once per slow interval.
        """
        if held is None:
            return True
        with self._lock:
            distrusted = self._distrusted_at
        if distrusted is not None and held.started_at <= distrusted:
            return True
        return now - held.started_at >= self._slow

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
                    probed = max(last, self._probed_at or 0.0)
                now = self._clock()
                interval = self.interval()
                remaining = last + interval - now
                if remaining <= 0:
                    break
                # Only at rest: while nodes move, polls come faster than probes would, and
                # a poll stretched by the duty factor must not be brought forward.
                if self._probe_interval is not None and interval >= self._slow:
                    probe_in = probed + self._probe_interval - now
                    if probe_in <= 0:
                        if self.probe():
                            break
                        continue
                    remaining = min(remaining, probe_in)
                # A write shortens the wait (the interval may drop to fast): recompute.
                self._wake.wait(remaining)
                self._wake.clear()
