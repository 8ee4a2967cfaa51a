"""Events on their own budget: a bounded queue drained by one thread, with client-go's spam
filter, so publishing never makes a reconcile wait for the API server.

client-go's ``tools/record`` broadcaster hands each event to a buffered channel (1000 deep,
dropped when full: ``watch.DropIfChannelFull``) and a goroutine writes it through a client of
its own (controller-runtime builds the recorder's client from the same ``rest.Config``, so with
the same QPS and burst but *its own* token bucket). Before writing, the ``EventCorrelator``
(``tools/record/events_cache.go``) runs ``EventSourceObjectSpamFilter``: per source and
involved object a token bucket of 25 events refilled one per 5 minutes, so one host cannot
flood the API server with events. :class:`BackgroundEvents` is that pipeline around an
:class:`~bmo.controllers.baremetalhost.events.EventRecorder` (which already folds exact
repeats into ``count`` as the correlator's ``eventLogger`` does).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

import structlog

from bmo.api.host import BareMetalHost
from bmo.controllers.baremetalhost.events import EVENT_TYPE_NORMAL, EventTarget, HostEvent

__all__ = [
    "DEFAULT_QUEUE_LENGTH",
    "SPAM_BURST",
    "SPAM_QPS",
    "BackgroundEvents",
    "EventEmitter",
    "SpamFilter",
]

log = structlog.get_logger(__name__)

DEFAULT_QUEUE_LENGTH: Final = 10_000
"""client-go ``tools/record/event.go`` ``maxQueuedEvents`` is 1000; a thousand hosts
registering at once queue about five events each, so bmo keeps ten times that (a few MiB at
most) rather than drop the events of a fleet's first minutes."""
SPAM_BURST: Final = 25
"""client-go ``tools/record/events_cache.go`` ``defaultSpamBurst``."""
SPAM_QPS: Final = 1.0 / 300.0
"""client-go ``defaultSpamQPS``: one event per 5 minutes per object once the burst is spent."""
SPAM_CACHE_SIZE: Final = 4096
"""client-go ``maxLruCacheEntries``."""


class EventEmitter(Protocol):
    """Writes one event (``EventRecorder`` fits); must not raise."""

    def emit(
        self, target: EventTarget, reason: str, message: str, event_type: str = EVENT_TYPE_NORMAL
    ) -> None: ...


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class SpamFilter:
    """client-go ``EventSourceObjectSpamFilter``: a token bucket per involved object."""

    def __init__(
        self,
        *,
        burst: int = SPAM_BURST,
        qps: float = SPAM_QPS,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = SPAM_CACHE_SIZE,
    ) -> None:
        self._burst = burst
        self._qps = qps
        self._clock = clock
        self._cache_size = cache_size
        self._buckets: OrderedDict[tuple[str, str, str, str], _Bucket] = OrderedDict()

    def allow(self, target: EventTarget) -> bool:
        key = (target.namespace, target.kind, target.name, target.uid)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self._burst), now)
        else:
            bucket.tokens = min(
                float(self._burst), bucket.tokens + (now - bucket.stamp) * self._qps
            )
            bucket.stamp = now
            self._buckets.move_to_end(key)
        while len(self._buckets) > self._cache_size:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True


_Item = tuple[EventTarget, str, str, str]


class BackgroundEvents:
    """A ``HostEventSink`` that queues events for one writer thread (started on first use).

    ``emitter`` should write through its own rate-limited API client (see
    ``bmo.runtime.manager.RateLimitedApiClient``) so events spend their own budget. A full
    queue drops the event and logs it, as client-go does: an event is never worth stalling a
    reconcile for.
    """

    def __init__(
        self,
        emitter: EventEmitter,
        *,
        max_queued: int = DEFAULT_QUEUE_LENGTH,
        spam_filter: SpamFilter | None = None,
    ) -> None:
        self._emitter = emitter
        self._max = max_queued
        self._filter = spam_filter if spam_filter is not None else SpamFilter()
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def publish_all(self, host: BareMetalHost, events: Iterable[HostEvent]) -> None:
        target = EventTarget.for_host(host)
        items = [(target, e.reason, e.message, e.type or EVENT_TYPE_NORMAL) for e in events]
        if not items:
            return
        with self._cond:
            if self._closed:
                return
            for item in items:
                if len(self._queue) >= self._max:
                    self.dropped += 1
                    log.warning(
                        "event queue full; dropping event",
                        namespace=target.namespace,
                        host=target.name,
                        reason=item[1],
                    )
                    continue
                self._queue.append(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name="event-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event was written; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to ``timeout``) and stop the writer."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _drain(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                target, reason, message, event_type = self._queue.popleft()
                self._busy = True
            try:
                if self._filter.allow(target):
                    self._emitter.emit(target, reason, message, event_type)
                else:
                    log.info(
                        "event dropped by the spam filter",
                        namespace=target.namespace,
                        host=target.name,
                        reason=reason,
                    )
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
