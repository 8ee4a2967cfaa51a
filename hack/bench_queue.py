"""Work-queue throughput: adds/s and processed/s with no-op reconciles.

Not a test: run it by hand and compare figures across changes.

    .venv/bin/python hack/bench_queue.py                # the standard table
    .venv/bin/python hack/bench_queue.py --adds 200000 --workers 1 4 16

Scenarios: every add a distinct key (the full add/get/done path per add), keys spread over
10k hosts, the same with the Prometheus `workqueue_*` metrics on, a dedup-heavy run (100
keys), and delayed adds released by one step of a fake clock (the heap path). One producer
thread adds while N workers get/done; "processed" counts reconciles, fewer than adds when
a key was added again before a worker got it. Each row is the best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bmo.runtime.clock import FakeClock
from bmo.runtime.queue import DelayingQueue
from bmo.runtime.queue_metrics import NOOP_METRICS, PROMETHEUS_METRICS, MetricsProvider


@dataclass(frozen=True)
class BenchRow:
    scenario: str
    workers: int
    adds: int
    keys: int
    processed: int
    add_seconds: float
    total_seconds: float

    @property
    def adds_per_second(self) -> float:
        return self.adds / self.add_seconds if self.add_seconds else float("inf")

    @property
    def processed_per_second(self) -> float:
        return self.processed / self.total_seconds if self.total_seconds else float("inf")


def run(
    scenario: str,
    *,
    adds: int,
    keys: int,
    workers: int,
    metrics: MetricsProvider,
    delayed: bool = False,
) -> BenchRow:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(
        name=f"bench-{scenario}-{workers}", clock=clock, metrics=metrics
    )
    rng = random.Random(42)
    key_names = [f"ns/host-{i}" for i in range(keys)]
    if keys >= adds:  # every add a distinct key: each one is a full add/get/done
        sequence = key_names[:adds]
    else:
        sequence = [rng.choice(key_names) for _ in range(adds)]
    delays = [rng.uniform(0.001, 10.0) for _ in range(adds)] if delayed else []
    processed = [0] * workers

    def worker(index: int) -> None:
        count = 0
        while True:
            key, _ = queue.get()
            if key is None:
                break
            count += 1  # the no-op reconcile
            queue.done(key)
        processed[index] = count

    add: Callable[[], None]
    if delayed:

        def add() -> None:
            for key, delay in zip(sequence, delays, strict=True):
                queue.add_after(key, delay)
            clock.step(10.0)  # release everything: the delay thread moves the heap over

    else:

        def add() -> None:
            for key in sequence:
                queue.add(key)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    add()
    added = time.perf_counter()
    if delayed:
        clock.wait_for_waiters(1, timeout=600.0)  # the delay thread has moved every key over
    queue.shut_down_with_drain()
    for thread in threads:
        thread.join()
    end = time.perf_counter()
    return BenchRow(scenario, workers, adds, keys, sum(processed), added - start, end - start)


def print_table(results: list[BenchRow]) -> None:
    header = (
        f"{'scenario':<16} {'workers':>7} {'adds':>8} {'keys':>6} {'processed':>9} "
        f"{'adds/s':>10} {'processed/s':>11} {'total s':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.scenario:<16} {r.workers:>7} {r.adds:>8} {r.keys:>6} {r.processed:>9} "
            f"{r.adds_per_second:>10,.0f} {r.processed_per_second:>11,.0f} "
            f"{r.total_seconds:>8.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--adds", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=10_000, help="keys in the spread runs")
    parser.add_argument("--dedup-keys", type=int, default=100, help="keys in the dedup run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best is kept")
    args = parser.parse_args(argv)

    results: list[BenchRow] = []
    runs: list[tuple[str, int, MetricsProvider, bool]] = [
        ("unique", args.adds, NOOP_METRICS, False),
        ("unique+metrics", args.adds, PROMETHEUS_METRICS, False),
        ("spread", args.keys, NOOP_METRICS, False),
        ("spread+metrics", args.keys, PROMETHEUS_METRICS, False),
        ("dedup-heavy", args.dedup_keys, NOOP_METRICS, False),
        ("delayed", args.keys, NOOP_METRICS, True),
    ]
    for workers in args.workers:
        for scenario, keys, metrics, delayed in runs:
            attempts = [
                run(
                    scenario,
                    adds=args.adds,
                    keys=keys,
                    workers=workers,
                    metrics=metrics,
                    delayed=delayed,
                )
                for _ in range(args.repeat)
            ]
            results.append(min(attempts, key=lambda r: r.total_seconds))
    print(f"python {sys.version.split()[0]}, {args.adds} adds per run, no-op reconciles")
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
