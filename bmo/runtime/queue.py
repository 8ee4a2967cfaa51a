"""The controller work queue, with the semantics of client-go's `util/workqueue`.

Every scale bug of a controller (hot loops, endless requeues, two workers fighting over one
object) is a queue bug, so this restates client-go's proven design rather than inventing one:

* **fair**: keys are handed out in the order they were added (FIFO);
* **stingy**: a key added many times before a worker gets it is processed once (`dirty`);
* **one worker per key**: a key being processed is never handed out again until `done()`;
  adding it meanwhile only marks it dirty, and `done()` puts it back in line (`processing`);
* **shutdown-aware**: after `shut_down()` adds are ignored, queued keys are still handed out,
  and then every `get()` returns at once.

`DelayingQueue` adds `add_after` (a heap ordered by ready time, one thread parked on the
injected clock) and `RateLimitingQueue` adds per-key backoff through a `RateLimiter`.
Workers must call `done(key)` for every key they got, and the controller calls
`forget(key)` once a key reconciles cleanly.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from bmo.runtime.clock import Clock, RealClock
from bmo.runtime.queue_metrics import PROMETHEUS_METRICS, MetricsProvider
from bmo.runtime.ratelimit import RateLimiter, default_controller_rate_limiter

__all__ = ["DelayingQueue", "RateLimitingQueue", "WorkQueue"]

T = TypeVar("T", bound=Hashable)

# Insurance, as in client-go: the delay thread re-checks the heap at least this often (seconds
# on the injected clock) even if a wake-up were somehow missed.
MAX_WAIT = 10.0


class WorkQueue(Generic[T]):
    """A FIFO of keys with a dirty set and a processing set (client-go `workqueue.Type`)."""

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        metrics: MetricsProvider = PROMETHEUS_METRICS,
    ) -> None:
        self.name = name
        self._clock: Clock = clock if clock is not None else RealClock()
        self._metrics = metrics.for_queue(name, self._clock)
        self._queue: deque[T] = deque()  # in dirty, not in processing
        self._dirty: set[T] = set()  # needs processing
        self._processing: set[T] = set()  # handed to a worker, done() not yet called
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # queue non-empty, or shutting down
        self._idle = threading.Condition(self._lock)  # processing became empty, or forced
        self._shutting_down = False
        self._drain = False

    def add(self, key: T) -> None:
        """Mark `key` as needing processing."""
        with self._lock:
            if self._shutting_down or key in self._dirty:
                return
            self._metrics.add(key)
            self._dirty.add(key)
            if key in self._processing:
                return  # done() re-queues it
            self._queue.append(key)
            self._ready.notify()

    def get(self, timeout: float | None = None) -> tuple[T | None, bool]:
        """Block until a key is ready; return `(key, shutdown)`.

        `key` is None when nothing was handed out: `shutdown` is then True if the queue is
        shut down and empty (the worker should exit), False if `timeout` (real seconds: it
        bounds how long this thread blocks, not queue timing) ran out.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._queue and not self._shutting_down:
                if deadline is None:
                    self._ready.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, False
                self._ready.wait(remaining)
            if not self._queue:
                return None, True
            key = self._queue.popleft()
            self._metrics.get(key)
            self._processing.add(key)
            self._dirty.discard(key)
            return key, False

    def done(self, key: T) -> None:
        """The worker is finished with `key`; re-queue it if it was added meanwhile."""
        with self._lock:
            self._metrics.done(key)
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._ready.notify()
            elif not self._processing:
                self._idle.notify_all()

    def __len__(self) -> int:
        """Keys waiting for a worker; informational only (it may change at once)."""
        with self._lock:
            return len(self._queue)

    def len(self) -> int:
        """client-go's `Len()`; same as `len(queue)`."""
        return self.__len__()

    def __bool__(self) -> bool:
        # A queue object is always truthy: `if queue:` must not mean "is it empty".
        return True

    def shut_down(self) -> None:
        """Ignore further adds and release every blocked `get()` once the queue is empty.

        Also ends a concurrent `shut_down_with_drain()` without waiting for in-flight keys.
        """
        with self._lock:
            self._drain = False
            self._shutting_down = True
            self._ready.notify_all()
            self._idle.notify_all()
        self._after_shut_down()

    def shut_down_with_drain(self, timeout: float | None = None) -> bool:
        """Shut down, then wait until every key handed out has been `done()`.

        Workers must keep calling `done()` (they still get queued keys). Returns True once
        drained; False if `timeout` (real seconds) ran out or `shut_down()` cut it short.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._drain = True
            self._shutting_down = True
            self._ready.notify_all()
        self._after_shut_down()
        with self._lock:
            while self._processing and self._drain:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._idle.wait(remaining)
            return not self._processing

    def shutting_down(self) -> bool:
        with self._lock:
            return self._shutting_down

    def _after_shut_down(self) -> None:
        """Hook for subclasses, called without the queue lock held."""

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"{type(self).__name__}(name={self.name!r}, queued={len(self._queue)}, "
                f"processing={len(self._processing)}, shutting_down={self._shutting_down})"
            )


class DelayingQueue(WorkQueue[T]):
    """A work queue that can also add a key once a delay has passed on the injected clock.

    A key already waiting keeps the earlier of its two ready times (client-go), so a
    `requeue_after` of 10 minutes cannot postpone a retry due in 5 seconds. The thread that
    moves ready keys into the queue starts on the first delayed add.
    """

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        metrics: MetricsProvider = PROMETHEUS_METRICS,
    ) -> None:
        super().__init__(name, clock=clock, metrics=metrics)
        # Lock order: _waiting (delay thread) -> _lock (add). Never take them the other way.
        self._waiting = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, T]] = []  # (ready_at, seq, key); may hold stale
        self._ready_at: dict[T, tuple[float, int]] = {}  # the live heap entry of each key
        self._seq = 0
        self._thread: threading.Thread | None = None

    def add_after(self, key: T, delay: float) -> None:
        """Add `key` after `delay` seconds on the queue's clock; `delay <= 0` adds now."""
        if self.shutting_down():
            return
        self._metrics.retry()
        if delay <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + delay
        with self._waiting:
            current = self._ready_at.get(key)
            if current is not None and current[0] <= ready_at:
                return
            self._seq += 1
            self._ready_at[key] = (ready_at, self._seq)
            heapq.heappush(self._heap, (ready_at, self._seq, key))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"workqueue-delay-{self.name}", daemon=True
                )
                self._thread.start()
            elif self._heap[0][1] == self._seq:
                self._waiting.notify()  # a new earliest deadline

    def waiting(self) -> int:
        """How many keys are parked for a future time."""
        with self._waiting:
            return len(self._ready_at)

    def _run(self) -> None:
        with self._waiting:
            while not self.shutting_down():
                now = self._clock.now()
                while self._heap and self._heap[0][0] <= now:
                    ready_at, seq, key = heapq.heappop(self._heap)
                    if self._ready_at.get(key) == (ready_at, seq):
                        del self._ready_at[key]
                        self.add(key)
                while self._heap and self._ready_at.get(self._heap[0][2]) != self._heap[0][:2]:
                    heapq.heappop(self._heap)  # superseded by an earlier ready time
                timeout = min(self._heap[0][0] - now, MAX_WAIT) if self._heap else None
                self._clock.wait(self._waiting, timeout)

    def _after_shut_down(self) -> None:
        with self._waiting:
            self._waiting.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


class RateLimitingQueue(DelayingQueue[T]):
    """A delaying queue whose retries wait as long as the rate limiter says (backoff)."""

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        metrics: MetricsProvider = PROMETHEUS_METRICS,
    ) -> None:
        super().__init__(name, clock=clock, metrics=metrics)
        self.rate_limiter: RateLimiter = (
            rate_limiter
            if rate_limiter is not None
            else default_controller_rate_limiter(self._clock)
        )

    def add_rate_limited(self, key: T) -> None:
        """Add `key` once the rate limiter allows: the retry path after a failed reconcile."""
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: T) -> None:
        """Reset `key`'s backoff (it reconciled cleanly); does not remove it from the queue."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: T) -> int:
        return self.rate_limiter.num_requeues(key)
