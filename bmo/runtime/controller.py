"""The reconcile contract and the worker pool that honours it: controller-runtime's
``pkg/reconcile`` ``Result`` and ``pkg/internal/controller/controller.go`` ``reconcileHandler``.

A reconciler gets only ``namespace`` and ``name`` and reads what it needs from caches: the
reconcile is level-triggered, so it must do the right thing whatever events led to it. What
it returns decides what the queue does next:

==========================  ==========================================================
outcome                     queue
==========================  ==========================================================
``Result()``                ``forget`` (backoff reset)
``Result(requeue_after=d)`` ``forget`` + ``add_after(d)``
``Result(requeue=True)``    ``add_rate_limited`` (per-key backoff)
``TerminalError``           logged, ``forget``, not retried (only a new event retries)
``errors.NotFound``         ``forget``, not retried: the object is gone, and requeueing a
                            deleted object forever is the Go operator's issue #1190
any other exception         ``add_rate_limited`` and the error counter
==========================  ==========================================================
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import structlog
from prometheus_client import Counter, Gauge, Histogram

from bmo.runtime.cache import split_key
from bmo.runtime.errors import is_not_found
from bmo.runtime.queue import RateLimitingQueue
from bmo.runtime.registry import REGISTRY

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Result:
    """What to do after a successful reconcile; ``requeue_after`` wins over ``requeue``."""

    requeue: bool = False
    requeue_after: float | None = None


class ReconcileError(Exception):
    """Base of the errors a reconciler raises to steer the controller."""


class TerminalError(ReconcileError):
    """Retrying cannot help (bad spec, unsupported request): log it and wait for a change."""


class Reconciler(Protocol):
    def reconcile(self, namespace: str, name: str) -> Result: ...


RESULT_SUCCESS = "success"
RESULT_ERROR = "error"
RESULT_REQUEUE = "requeue"
RESULT_REQUEUE_AFTER = "requeue_after"

RECONCILE_TIME_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7),
    *(0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0),
    *(9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)
"""controller-runtime's reconcile-time buckets."""

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile",
    "Total number of reconciliations per controller",
    ["controller", "result"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors",
    "Total number of reconciliation errors per controller",
    ["controller"],
    registry=REGISTRY,
)
TERMINAL_ERRORS = Counter(
    "controller_runtime_terminal_reconcile_errors",
    "Total number of terminal reconciliation errors per controller",
    ["controller"],
    registry=REGISTRY,
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=RECONCILE_TIME_BUCKETS,
    registry=REGISTRY,
)
MAX_CONCURRENT = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
    registry=REGISTRY,
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
    registry=REGISTRY,
)


class Controller:
    """``workers`` threads taking keys from ``queue`` and reconciling them.

    The queue guarantees one worker per key; the controller only maps outcomes to queue
    operations (see the module table) and measures them.
    """

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        queue: RateLimitingQueue[str],
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError(f"controller {name!r}: workers must be at least 1, got {workers}")
        self.name = name
        self.reconciler = reconciler
        self.queue = queue
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._log = log.bind(controller=name)

    def start(self) -> None:
        """Start the worker threads (once)."""
        if self._threads:
            return
        MAX_CONCURRENT.labels(self.name).set(self.workers)
        for i in range(self.workers):
            thread = threading.Thread(
                target=self._worker, name=f"{self.name}-worker-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._log.info("controller started", workers=self.workers)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop taking new work, let in-flight reconciles finish, join the workers.

        Returns False if ``timeout`` (real seconds) ran out first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        drained = self.queue.shut_down_with_drain(timeout)
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        alive = any(t.is_alive() for t in self._threads)
        self._log.info("controller stopped", drained=drained and not alive)
        return drained and not alive

    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _worker(self) -> None:
        while True:
            key, shutdown = self.queue.get()
            if key is None:
                if shutdown:
                    return
                continue
            ACTIVE_WORKERS.labels(self.name).inc()
            try:
                self.process(key)
            finally:
                ACTIVE_WORKERS.labels(self.name).dec()
                self.queue.done(key)

    def process(self, key: str) -> str:
        """Reconcile one key and apply the outcome to the queue; returns the result label.

        Public so tests can drive a controller without threads.
        """
        namespace, name = split_key(key)
        # 48 random bits name a reconcile in the logs; ``uuid4`` (a getrandom syscall per
        # call) showed up in profiles of an idle fleet.
        reconcile_id = f"{random.getrandbits(48):012x}"
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(host=key, reconcile_id=reconcile_id):
            outcome = self._reconcile(key, namespace, name)
            RECONCILE_TIME.labels(self.name).observe(time.monotonic() - started)
            RECONCILE_TOTAL.labels(self.name, outcome).inc()
        return outcome

    def _reconcile(self, key: str, namespace: str, name: str) -> str:
        try:
            result = self.reconciler.reconcile(namespace, name)
        except TerminalError as exc:
            RECONCILE_ERRORS.labels(self.name).inc()
            TERMINAL_ERRORS.labels(self.name).inc()
            self._log.error("reconcile failed permanently; not retrying", error=str(exc))
            self.queue.forget(key)
            return RESULT_ERROR
        except Exception as exc:
            if is_not_found(exc):
                self._log.info("object not found; nothing to reconcile")
                self.queue.forget(key)
                return RESULT_SUCCESS
            RECONCILE_ERRORS.labels(self.name).inc()
            if isinstance(exc, ReconcileError):
                # An expected, explained failure (a write conflict, an unreadable Secret):
                # its message says it all, a traceback would only be noise.
                self._log.warning(
                    "reconcile failed; retrying with backoff",
                    error=str(exc),
                    retries=self.queue.num_requeues(key),
                )
            else:
                self._log.exception(
                    "reconcile failed; retrying with backoff",
                    retries=self.queue.num_requeues(key),
                )
            self.queue.add_rate_limited(key)
            return RESULT_ERROR
        if result.requeue_after is not None and result.requeue_after > 0:
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
            return RESULT_REQUEUE_AFTER
        if result.requeue:
            self.queue.add_rate_limited(key)
            return RESULT_REQUEUE
        self.queue.forget(key)
        return RESULT_SUCCESS
