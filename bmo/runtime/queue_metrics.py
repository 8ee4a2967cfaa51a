"""client-go's `workqueue_*` Prometheus metrics, and a no-op provider for tests that don't care.

The series and their meanings match client-go (`util/workqueue/metrics.go` as registered by
Kubernetes components), labelled by queue `name`, so dashboards and alerts written for Go
controllers work unchanged. The metric vectors are created once, at import, on
`bmo.runtime.registry.REGISTRY`: building many queues (tests do) only adds label children, never
re-registers. Unfinished work and the longest-running processor are computed when scraped,
from each live queue's own clock, instead of by client-go's 500 ms updater goroutine: no
thread, never stale, and a `FakeClock` drives them in tests.

Queues sharing a name share series (client-go behaves the same); give each queue its own.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Iterable
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bmo.runtime.clock import Clock
from bmo.runtime.registry import REGISTRY

__all__ = [
    "DURATION_BUCKETS",
    "NOOP_METRICS",
    "PROMETHEUS_METRICS",
    "MetricsProvider",
    "NoopMetricsProvider",
    "PrometheusMetricsProvider",
    "QueueMetrics",
]

# client-go: prometheus.ExponentialBuckets(10e-9, 10, 10), i.e. 10 ns .. 10 s.
DURATION_BUCKETS: tuple[float, ...] = tuple(10.0**e for e in range(-8, 2))


class QueueMetrics(Protocol):
    """What a queue reports; `add`, `get` and `done` are called with the queue's lock held."""

    def add(self, key: Hashable) -> None:
        """`key` became dirty (a real add, not a deduplicated one)."""
        ...

    def get(self, key: Hashable) -> None:
        """`key` was handed to a worker."""
        ...

    def done(self, key: Hashable) -> None:
        """The worker finished with `key`."""
        ...

    def retry(self) -> None:
        """A delayed or rate-limited add was requested."""
        ...


class MetricsProvider(Protocol):
    """Makes the `QueueMetrics` for one named queue."""

    def for_queue(self, name: str, clock: Clock) -> QueueMetrics: ...


class _NoopQueueMetrics:
    def add(self, key: Hashable) -> None:
        """Not measured."""

    def get(self, key: Hashable) -> None:
        """Not measured."""

    def done(self, key: Hashable) -> None:
        """Not measured."""

    def retry(self) -> None:
        """Not measured."""


class NoopMetricsProvider:
    """Measures nothing: for tests and benchmarks that are not about metrics."""

    def for_queue(self, name: str, clock: Clock) -> QueueMetrics:
        return _NoopQueueMetrics()


_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=REGISTRY)
_ADDS = Counter(
    "workqueue_adds", "Total number of adds handled by workqueue", ["name"], registry=REGISTRY
)
_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested.",
    ["name"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
    ["name"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
_RETRIES = Counter(
    "workqueue_retries", "Total number of retries handled by workqueue", ["name"], registry=REGISTRY
)
_UNFINISHED_HELP = (
    "How many seconds of work has done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads. One can deduce the number of stuck "
    "threads by observing the rate at which this increases."
)
_LONGEST_HELP = "How many seconds has the longest running processor for workqueue been running."


class _PrometheusQueueMetrics:
    """client-go's `defaultQueueMetrics`: per-key add and start times feed the histograms."""

    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self._clock = clock
        self._depth = _DEPTH.labels(name)
        self._adds = _ADDS.labels(name)
        self._queue_duration = _QUEUE_DURATION.labels(name)
        self._work_duration = _WORK_DURATION.labels(name)
        self._retries = _RETRIES.labels(name)
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        # Guards _started_at against the scrape thread; the queue's lock covers the rest.
        self._lock = threading.Lock()

    def add(self, key: Hashable) -> None:
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(key, self._clock.now())

    def get(self, key: Hashable) -> None:
        now = self._clock.now()
        self._depth.dec()
        with self._lock:
            self._started_at[key] = now
        added = self._added_at.pop(key, None)
        if added is not None:
            self._queue_duration.observe(max(0.0, now - added))

    def done(self, key: Hashable) -> None:
        with self._lock:
            started = self._started_at.pop(key, None)
        if started is not None:
            self._work_duration.observe(max(0.0, self._clock.now() - started))

    def retry(self) -> None:
        self._retries.inc()

    def unfinished(self) -> tuple[float, float]:
        """(total seconds of in-flight work, age of the oldest in-flight item)."""
        now = self._clock.now()
        with self._lock:
            ages = [max(0.0, now - started) for started in self._started_at.values()]
        return sum(ages), max(ages, default=0.0)


class _UnfinishedWorkCollector(Collector):
    """Computes the two in-flight gauges from the live queues at scrape time."""

    def __init__(self) -> None:
        self._queues: weakref.WeakSet[_PrometheusQueueMetrics] = weakref.WeakSet()
        self._lock = threading.Lock()

    def track(self, metrics: _PrometheusQueueMetrics) -> None:
        with self._lock:
            self._queues.add(metrics)

    def describe(self) -> Iterable[Metric]:
        return self._families({})

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            queues = list(self._queues)
        totals: dict[str, tuple[float, float]] = {}
        for queue in queues:
            total, longest = queue.unfinished()
            seen_total, seen_longest = totals.get(queue.name, (0.0, 0.0))
            totals[queue.name] = (seen_total + total, max(seen_longest, longest))
        return self._families(totals)

    @staticmethod
    def _families(totals: dict[str, tuple[float, float]]) -> list[Metric]:
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds", _UNFINISHED_HELP, labels=["name"]
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds", _LONGEST_HELP, labels=["name"]
        )
        for name, (total, oldest) in sorted(totals.items()):
            unfinished.add_metric([name], total)
            longest.add_metric([name], oldest)
        return [unfinished, longest]


_UNFINISHED = _UnfinishedWorkCollector()
REGISTRY.register(_UNFINISHED)


class PrometheusMetricsProvider:
    """The `workqueue_*` series on the process registry; unnamed queues are not measured."""

    def for_queue(self, name: str, clock: Clock) -> QueueMetrics:
        if not name:
            return _NoopQueueMetrics()
        metrics = _PrometheusQueueMetrics(name, clock)
        _UNFINISHED.track(metrics)
        return metrics


NOOP_METRICS: MetricsProvider = NoopMetricsProvider()
PROMETHEUS_METRICS: MetricsProvider = PrometheusMetricsProvider()
