"""The work queue keeps client-go's promises: fair, stingy, one worker per key, shutdown-aware.

Timing is driven by a FakeClock; threads are synchronised with events and joins that have
deadlines, never with sleeps.
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bmo.runtime.clock import FakeClock
from bmo.runtime.queue import DelayingQueue, RateLimitingQueue, WorkQueue
from bmo.runtime.queue_metrics import NOOP_METRICS, PROMETHEUS_METRICS
from bmo.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
)
from bmo.runtime.registry import REGISTRY

DEADLINE = 10.0  # real seconds any blocking call in these tests may take before failing


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture
def queues() -> Iterator[list[WorkQueue[Any]]]:
    """Every queue a test builds is shut down afterwards, so no delay thread outlives it."""
    made: list[WorkQueue[Any]] = []
    yield made
    for queue in made:
        queue.shut_down()


@pytest.fixture
def work_queue(queues: list[WorkQueue[Any]]) -> WorkQueue[str]:
    queue: WorkQueue[str] = WorkQueue(metrics=NOOP_METRICS)
    queues.append(queue)
    return queue


@pytest.fixture
def delaying(queues: list[WorkQueue[Any]], clock: FakeClock) -> DelayingQueue[str]:
    queue: DelayingQueue[str] = DelayingQueue(clock=clock, metrics=NOOP_METRICS)
    queues.append(queue)
    return queue


def take(queue: WorkQueue[str]) -> str:
    key, shutdown = queue.get(timeout=DEADLINE)
    assert not shutdown
    assert key is not None, "no key became ready"
    return key


def assert_empty(queue: WorkQueue[str]) -> None:
    assert queue.get(timeout=0) == (None, False)


def run_thread(target: Callable[..., None], *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def join(thread: threading.Thread) -> None:
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"{thread.name} did not finish"


# --- FakeClock ----------------------------------------------------------------------------


def test_fake_clock_wait_reports_whether_its_deadline_passed(clock: FakeClock) -> None:
    cond = threading.Condition()
    results: list[bool] = []

    def waiter() -> None:
        with cond:
            results.append(clock.wait(cond, 5.0))

    thread = run_thread(waiter)
    assert clock.wait_for_waiters(1)
    clock.step(4.0)
    join(thread)
    assert results == [True]  # woken before the deadline: callers loop and re-check

    deadline = clock.now() + 5.0
    thread = run_thread(waiter)
    assert clock.wait_for_waiters(1)
    clock.set(deadline)
    join(thread)
    assert results == [True, False]
    assert clock.waiters() == 0


def test_fake_clock_sleep_returns_only_when_time_has_passed(clock: FakeClock) -> None:
    finished = threading.Event()
    start = clock.now()

    def sleeper() -> None:
        clock.sleep(2.0)
        finished.set()

    thread = run_thread(sleeper)
    assert clock.wait_for_waiters(1)
    clock.step(1.0)
    assert clock.wait_for_waiters(1)  # woke, saw 1 s < 2 s, parked again
    assert not finished.is_set()
    clock.step(1.0)
    join(thread)
    assert clock.now() == start + 2.0


def test_fake_clock_refuses_to_step_backwards(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        clock.step(-1.0)
    clock.set(5.0)  # set may go backwards, as in client-go
    assert clock.now() == 5.0


# --- WorkQueue ----------------------------------------------------------------------------


def test_keys_come_out_in_the_order_they_went_in(work_queue: WorkQueue[str]) -> None:
    for key in ["ns/c", "ns/a", "ns/b"]:
        work_queue.add(key)
    assert [take(work_queue) for _ in range(3)] == ["ns/c", "ns/a", "ns/b"]


def test_a_key_added_many_times_before_get_is_handed_out_once(
    work_queue: WorkQueue[str],
) -> None:
    for _ in range(5):
        work_queue.add("ns/a")
    work_queue.add("ns/b")
    work_queue.add("ns/a")
    assert len(work_queue) == 2
    assert work_queue.len() == 2
    assert [take(work_queue), take(work_queue)] == ["ns/a", "ns/b"]
    assert_empty(work_queue)


def test_a_key_added_while_processing_waits_for_done_then_is_requeued(
    work_queue: WorkQueue[str],
) -> None:
    work_queue.add("ns/a")
    assert take(work_queue) == "ns/a"
    work_queue.add("ns/a")
    work_queue.add("ns/a")
    assert len(work_queue) == 0
    assert_empty(work_queue)  # never handed to a second worker while the first holds it
    work_queue.done("ns/a")
    assert len(work_queue) == 1
    assert take(work_queue) == "ns/a"
    work_queue.done("ns/a")
    assert_empty(work_queue)


def test_done_without_a_new_add_does_not_requeue(work_queue: WorkQueue[str]) -> None:
    work_queue.add("ns/a")
    take(work_queue)
    work_queue.done("ns/a")
    assert len(work_queue) == 0
    assert_empty(work_queue)


def test_an_empty_queue_is_still_truthy(work_queue: WorkQueue[str]) -> None:
    assert len(work_queue) == 0
    assert work_queue


def test_get_times_out_without_shutdown(work_queue: WorkQueue[str]) -> None:
    assert work_queue.get(timeout=0.01) == (None, False)


def test_a_blocked_get_is_woken_by_an_add(work_queue: WorkQueue[str]) -> None:
    got: list[tuple[str | None, bool]] = []
    thread = run_thread(lambda: got.append(work_queue.get(timeout=DEADLINE)))
    work_queue.add("ns/a")
    join(thread)
    assert got == [("ns/a", False)]


def test_no_key_is_ever_processed_by_two_workers_and_no_add_is_lost() -> None:
    queue: WorkQueue[str] = WorkQueue(metrics=NOOP_METRICS)
    keys = [f"ns/host-{i}" for i in range(16)]
    lock = threading.Lock()
    in_flight = dict.fromkeys(keys, 0)
    overlaps: list[str] = []
    seq = itertools.count()
    last_add: dict[str, int] = {}
    last_start: dict[str, int] = {}

    def worker() -> None:
        while True:
            key, shutdown = queue.get(timeout=DEADLINE)
            if key is None:
                assert shutdown, "worker starved before shutdown"
                return
            with lock:
                last_start[key] = next(seq)
                in_flight[key] += 1
                if in_flight[key] > 1:
                    overlaps.append(key)
            sum(range(200))  # a little work, so workers really overlap
            with lock:
                in_flight[key] -= 1
            queue.done(key)

    def producer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(3000):
            key = rng.choice(keys)
            with lock:
                last_add[key] = next(seq)
                queue.add(key)

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # make the interpreter interleave threads much more often
    try:
        workers = [run_thread(worker) for _ in range(8)]
        producers = [run_thread(producer, seed) for seed in range(4)]
        for thread in producers:
            join(thread)
        assert queue.shut_down_with_drain(timeout=DEADLINE)
        for thread in workers:
            join(thread)
    finally:
        sys.setswitchinterval(switch_interval)

    assert overlaps == []
    # Every add was followed by a processing that started after it: nothing was dropped.
    assert {key for key in last_add if last_start.get(key, -1) < last_add[key]} == set()


def test_shut_down_ignores_adds_hands_out_what_is_queued_then_reports_shutdown(
    work_queue: WorkQueue[str],
) -> None:
    work_queue.add("ns/a")
    work_queue.add("ns/b")
    work_queue.shut_down()
    assert work_queue.shutting_down()
    work_queue.add("ns/c")
    assert [take(work_queue), take(work_queue)] == ["ns/a", "ns/b"]
    assert work_queue.get() == (None, True)
    assert work_queue.get(timeout=0) == (None, True)


def test_shut_down_wakes_every_blocked_getter(work_queue: WorkQueue[str]) -> None:
    results: list[tuple[str | None, bool]] = []
    started = [threading.Event() for _ in range(4)]

    def getter(ready: threading.Event) -> None:
        ready.set()
        results.append(work_queue.get())  # no timeout: only shutdown can release it

    threads = [run_thread(getter, event) for event in started]
    for event in started:
        assert event.wait(DEADLINE)
    work_queue.shut_down()
    for thread in threads:
        join(thread)
    assert results == [(None, True)] * 4


def test_shut_down_with_drain_waits_until_in_flight_keys_are_done(
    work_queue: WorkQueue[str],
) -> None:
    work_queue.add("ns/a")
    work_queue.add("ns/b")
    assert take(work_queue) == "ns/a"
    assert work_queue.shut_down_with_drain(timeout=0.01) is False  # ns/a still in flight

    done_called = threading.Event()
    outcome: list[tuple[bool, bool]] = []
    drainer = run_thread(
        lambda: outcome.append((work_queue.shut_down_with_drain(), done_called.is_set()))
    )

    # Queued keys are still handed out during the drain, and must be done too.
    assert take(work_queue) == "ns/b"
    work_queue.done("ns/b")
    done_called.set()
    work_queue.done("ns/a")
    join(drainer)
    assert outcome == [(True, True)]
    assert work_queue.get(timeout=0) == (None, True)


def test_shut_down_cuts_a_drain_short(work_queue: WorkQueue[str]) -> None:
    work_queue.add("ns/a")
    take(work_queue)
    outcome: list[bool] = []
    drainer = run_thread(lambda: outcome.append(work_queue.shut_down_with_drain()))
    assert work_queue.get(timeout=DEADLINE) == (None, True)  # the drain has begun
    work_queue.shut_down()
    join(drainer)
    assert outcome == [False]


class WorkQueueModel(RuleBasedStateMachine):
    """Random single-threaded histories against a model of client-go's three structures."""

    keys = st.sampled_from(["ns/a", "ns/b", "ns/c", "ns/d"])

    def __init__(self) -> None:
        super().__init__()
        self.queue: WorkQueue[str] = WorkQueue(metrics=NOOP_METRICS)
        self.fifo: list[str] = []
        self.dirty: set[str] = set()
        self.processing: set[str] = set()

    @rule(key=keys)
    def add(self, key: str) -> None:
        self.queue.add(key)
        if key in self.dirty:
            return
        self.dirty.add(key)
        if key not in self.processing:
            self.fifo.append(key)

    @rule()
    def get(self) -> None:
        key, shutdown = self.queue.get(timeout=0)
        assert not shutdown
        if not self.fifo:
            assert key is None
            return
        expected = self.fifo.pop(0)
        assert key == expected
        self.dirty.discard(expected)
        self.processing.add(expected)

    @precondition(lambda self: bool(self.processing))
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.processing)))
        self.queue.done(key)
        self.processing.discard(key)
        if key in self.dirty:
            self.fifo.append(key)

    @invariant()
    def same_length(self) -> None:
        assert len(self.queue) == len(self.fifo)

    @invariant()
    def queued_keys_are_dirty_and_not_processing(self) -> None:
        assert set(self.fifo) <= self.dirty
        assert not set(self.fifo) & self.processing
        assert len(set(self.fifo)) == len(self.fifo)


TestWorkQueueModel = WorkQueueModel.TestCase
TestWorkQueueModel.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


# --- DelayingQueue ------------------------------------------------------------------------


def test_delayed_keys_become_ready_in_ready_time_order(
    delaying: DelayingQueue[str], clock: FakeClock
) -> None:
    delaying.add_after("ns/slow", 3.0)
    delaying.add_after("ns/fast", 1.0)
    delaying.add_after("ns/middle", 2.0)
    assert delaying.waiting() == 3
    assert clock.wait_for_waiters(1)
    assert len(delaying) == 0

    clock.step(0.999)
    assert clock.wait_for_waiters(1)
    assert len(delaying) == 0  # nothing is early

    clock.step(0.001)
    assert clock.wait_for_waiters(1)
    assert len(delaying) == 1
    assert take(delaying) == "ns/fast"
    assert delaying.waiting() == 2

    clock.step(5.0)
    assert clock.wait_for_waiters(1)
    assert [take(delaying), take(delaying)] == ["ns/middle", "ns/slow"]
    assert delaying.waiting() == 0


def test_a_key_delayed_twice_keeps_the_earliest_ready_time(
    delaying: DelayingQueue[str], clock: FakeClock
) -> None:
    delaying.add_after("ns/a", 5.0)
    delaying.add_after("ns/a", 1.0)  # earlier: wins
    delaying.add_after("ns/a", 10.0)  # later: ignored
    assert delaying.waiting() == 1

    clock.step(1.0)
    assert clock.wait_for_waiters(1)
    assert take(delaying) == "ns/a"
    delaying.done("ns/a")

    clock.step(20.0)  # the superseded 5 s and the ignored 10 s entries never fire
    assert clock.wait_for_waiters(1)
    assert_empty(delaying)
    assert delaying.waiting() == 0


def test_a_key_ready_while_already_queued_is_deduplicated(
    delaying: DelayingQueue[str], clock: FakeClock
) -> None:
    delaying.add("ns/a")
    delaying.add_after("ns/a", 1.0)
    clock.step(1.0)
    assert clock.wait_for_waiters(1)
    assert len(delaying) == 1
    assert take(delaying) == "ns/a"
    assert_empty(delaying)


def test_zero_or_negative_delay_adds_at_once(delaying: DelayingQueue[str]) -> None:
    delaying.add_after("ns/a", 0)
    delaying.add_after("ns/b", -3.0)
    assert delaying.waiting() == 0
    assert [take(delaying), take(delaying)] == ["ns/a", "ns/b"]


def test_delayed_adds_after_shut_down_are_dropped(
    delaying: DelayingQueue[str], clock: FakeClock
) -> None:
    delaying.add_after("ns/a", 1.0)
    delaying.shut_down()
    delaying.add_after("ns/b", 1.0)
    delaying.add_after("ns/c", 0)
    clock.step(5.0)
    assert delaying.get(timeout=0) == (None, True)


# --- RateLimitingQueue --------------------------------------------------------------------


def test_rate_limited_retries_back_off_exponentially_and_forget_resets(
    queues: list[WorkQueue[Any]], clock: FakeClock
) -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(
        rate_limiter=ItemExponentialFailureRateLimiter(base=0.005, max_delay=1000.0),
        clock=clock,
        metrics=NOOP_METRICS,
    )
    queues.append(queue)

    def retry_delay() -> float:
        """Fail once more and measure how long the retry waits, on the fake clock."""
        queue.add_rate_limited("ns/a")
        before = clock.now()
        expected_delay = 0.005 * 2 ** (queue.num_requeues("ns/a") - 1)
        clock.step(expected_delay * 0.99)
        assert clock.wait_for_waiters(1)
        assert len(queue) == 0, "retried too early"
        clock.set(before + expected_delay)
        assert take(queue) == "ns/a"
        queue.done("ns/a")
        return round(clock.now() - before, 9)

    assert [retry_delay() for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert queue.num_requeues("ns/a") == 4
    queue.forget("ns/a")
    assert queue.num_requeues("ns/a") == 0
    assert retry_delay() == 0.005


def test_the_default_rate_limiter_is_exponential_and_bucket(
    queues: list[WorkQueue[Any]], clock: FakeClock
) -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(name="", clock=clock, metrics=NOOP_METRICS)
    queues.append(queue)
    limiter = queue.rate_limiter
    assert isinstance(limiter, MaxOfRateLimiter)
    exponential, bucket = limiter.limiters
    assert isinstance(exponential, ItemExponentialFailureRateLimiter)
    assert (exponential.base, exponential.max_delay) == (0.005, 1000.0)
    assert isinstance(bucket, BucketRateLimiter)
    assert (bucket.qps, bucket.burst) == (10.0, 100)
    # First failures wait 5 ms; the bucket (on the queue's clock) lets 100 through at once
    # and makes the 101st wait 0.1 s.
    for i in range(101):
        queue.add_rate_limited(f"ns/h{i}")
    assert queue.waiting() == 101
    clock.step(0.005)
    assert clock.wait_for_waiters(1)
    assert len(queue) == 100
    clock.step(0.1)
    assert clock.wait_for_waiters(1)
    assert len(queue) == 101


# --- metrics ------------------------------------------------------------------------------


def sample(metric: str, name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"name": name, **labels})


def test_workqueue_metrics_follow_a_known_sequence(
    queues: list[WorkQueue[Any]], clock: FakeClock
) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    queue: RateLimitingQueue[str] = RateLimitingQueue(
        name=name,
        rate_limiter=ItemExponentialFailureRateLimiter(base=1.0, max_delay=60.0),
        clock=clock,
        metrics=PROMETHEUS_METRICS,
    )
    queues.append(queue)

    queue.add("ns/a")
    queue.add("ns/b")
    queue.add("ns/a")  # deduplicated: not an add
    assert sample("workqueue_adds_total", name) == 2
    assert sample("workqueue_depth", name) == 2

    clock.step(1.0)
    assert take(queue) == "ns/a"  # waited 1 s
    assert sample("workqueue_depth", name) == 1
    clock.step(2.0)
    assert take(queue) == "ns/b"  # waited 3 s
    assert sample("workqueue_depth", name) == 0
    assert sample("workqueue_queue_duration_seconds_count", name) == 2
    assert sample("workqueue_queue_duration_seconds_sum", name) == 4.0
    assert sample("workqueue_queue_duration_seconds_bucket", name, le="1.0") == 1
    assert sample("workqueue_queue_duration_seconds_bucket", name, le="10.0") == 2
    assert sample("workqueue_queue_duration_seconds_bucket", name, le="1e-08") == 0

    clock.step(1.0)  # ns/a in flight 3 s, ns/b 1 s
    assert sample("workqueue_unfinished_work_seconds", name) == 4.0
    assert sample("workqueue_longest_running_processor_seconds", name) == 3.0

    queue.done("ns/a")
    assert sample("workqueue_work_duration_seconds_count", name) == 1
    assert sample("workqueue_work_duration_seconds_sum", name) == 3.0
    assert sample("workqueue_unfinished_work_seconds", name) == 1.0
    assert sample("workqueue_longest_running_processor_seconds", name) == 1.0

    queue.add_rate_limited("ns/b")  # in flight: parked for 1 s, counted as a retry
    queue.add_after("ns/c", 0)  # a retry too, even with no delay
    assert sample("workqueue_retries_total", name) == 2
    assert sample("workqueue_adds_total", name) == 3
    queue.done("ns/b")
    assert sample("workqueue_unfinished_work_seconds", name) == 0.0
    assert sample("workqueue_longest_running_processor_seconds", name) == 0.0
    assert sample("workqueue_work_duration_seconds_count", name) == 2

    clock.step(1.0)
    assert clock.wait_for_waiters(1)
    assert sample("workqueue_adds_total", name) == 4
    assert sample("workqueue_depth", name) == 2


def test_unnamed_and_noop_queues_export_nothing(queues: list[WorkQueue[Any]]) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    silent: WorkQueue[str] = WorkQueue(name=name, metrics=NOOP_METRICS)
    unnamed: WorkQueue[str] = WorkQueue(metrics=PROMETHEUS_METRICS)
    queues.extend([silent, unnamed])
    silent.add("ns/a")
    unnamed.add("ns/a")
    assert sample("workqueue_adds_total", name) is None
    assert sample("workqueue_adds_total", "") is None


def test_many_queues_with_metrics_never_re_register() -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        queue: WorkQueue[str] = WorkQueue(name=name)
        queue.add("ns/a")
        queue.shut_down()
    assert sample("workqueue_adds_total", name) == 3
