"""BackgroundEvents: events leave the reconcile at once and are written by one thread, in
order, through client-go's per-object spam filter; a full queue drops rather than blocks."""

from __future__ import annotations

import threading

from bmo.api.host import BareMetalHost
from bmo.controllers.baremetalhost.eventqueue import BackgroundEvents, SpamFilter
from bmo.controllers.baremetalhost.events import EventTarget
from bmo.hoststate.actions import Event
from tests.integration.operator import host_body


class Emitter:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.emitted: list[tuple[str, str, str]] = []
        self.gate = gate

    def emit(
        self, target: EventTarget, reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        if self.gate is not None:
            self.gate.wait(10.0)
        self.emitted.append((target.name, reason, event_type))


def host(name: str) -> BareMetalHost:
    body = host_body(name)
    body["metadata"].update(namespace="ns", uid=f"uid-{name}")
    return BareMetalHost.from_dict(body)


def test_events_are_written_in_order_by_the_writer_thread() -> None:
    emitter = Emitter()
    sink = BackgroundEvents(emitter)
    sink.publish_all(host("a"), [Event("Registered", "r"), Event("PowerOn", "p")])
    sink.publish_all(host("b"), [Event("Warn", "w", "Warning")])
    assert sink.flush(10.0)
    assert emitter.emitted == [
        ("a", "Registered", "Normal"),
        ("a", "PowerOn", "Normal"),
        ("b", "Warn", "Warning"),
    ]
    sink.close()
    sink.publish_all(host("a"), [Event("Late", "l")])
    assert len(emitter.emitted) == 3


def test_a_full_queue_drops_instead_of_blocking_the_reconcile() -> None:
    gate = threading.Event()
    emitter = Emitter(gate)
    sink = BackgroundEvents(emitter, max_queued=2)
    sink.publish_all(host("a"), [Event(f"R{i}", "m") for i in range(6)])
    # Returned without waiting for the (blocked) writer; what did not fit was dropped.
    assert sink.dropped >= 3
    gate.set()
    assert sink.flush(10.0)
    assert 2 <= len(emitter.emitted) <= 3
    sink.close()


def test_spam_filter_allows_a_burst_per_object_then_one_per_refill() -> None:
    now = [0.0]
    spam = SpamFilter(burst=3, qps=1.0 / 300.0, clock=lambda: now[0])
    a, b = EventTarget("a", "ns", uid="1"), EventTarget("b", "ns", uid="2")
    assert [spam.allow(a) for _ in range(4)] == [True, True, True, False]
    assert spam.allow(b)  # another object has its own bucket
    now[0] += 299.0
    assert not spam.allow(a)
    now[0] += 2.0
    assert spam.allow(a)
    assert not spam.allow(a)
