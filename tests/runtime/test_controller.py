"""The reconcile contract: what each outcome does to the queue, workers, metrics, context."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest
import structlog
from kubernetes.client import ApiException

from bmo.runtime.clock import FakeClock
from bmo.runtime.controller import Controller, Result, TerminalError
from bmo.runtime.errors import NotFound
from bmo.runtime.queue import RateLimitingQueue
from bmo.runtime.queue_metrics import NoopMetricsProvider
from bmo.runtime.ratelimit import ItemExponentialFailureRateLimiter
from bmo.runtime.registry import REGISTRY

Outcome = Callable[[str, str], Result]


class ScriptedReconciler:
    """Returns (or raises) whatever the test scripted; records calls and log context."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, str]] = []
        self.contexts: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def reconcile(self, namespace: str, name: str) -> Result:
        with self._lock:
            self.calls.append((namespace, name))
            self.contexts.append(dict(structlog.contextvars.get_contextvars()))
        return self.outcome(namespace, name)


def make(
    outcome: Outcome, workers: int = 1
) -> tuple[Controller, RateLimitingQueue[str], FakeClock]:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(
        name=f"test-{uuid.uuid4().hex[:6]}",
        rate_limiter=ItemExponentialFailureRateLimiter(base=1.0, max_delay=60.0),
        clock=clock,
        metrics=NoopMetricsProvider(),
    )
    controller = Controller(
        f"ctl-{uuid.uuid4().hex[:8]}", ScriptedReconciler(outcome), queue, workers
    )
    return controller, queue, clock


def process_one(controller: Controller, queue: RateLimitingQueue[str], key: str) -> str:
    queue.add(key)
    got, shutdown = queue.get(timeout=5)
    assert got == key and not shutdown
    try:
        return controller.process(got)
    finally:
        queue.done(got)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def raise_(exc: BaseException) -> Outcome:
    def outcome(_ns: str, _name: str) -> Result:
        raise exc

    return outcome


def test_success_forgets_and_counts() -> None:
    controller, queue, _ = make(lambda ns, n: Result())
    queue.rate_limiter.when("ns/a")  # an earlier failure
    assert process_one(controller, queue, "ns/a") == "success"
    assert queue.num_requeues("ns/a") == 0
    assert len(queue) == 0 and queue.waiting() == 0
    labels = {"controller": controller.name}
    assert sample("controller_runtime_reconcile_total", result="success", **labels) == 1
    assert sample("controller_runtime_reconcile_time_seconds_count", **labels) == 1


def test_exception_requeues_with_backoff_and_counts_error() -> None:
    controller, queue, clock = make(raise_(RuntimeError("ironic down")))
    assert process_one(controller, queue, "ns/a") == "error"
    assert queue.num_requeues("ns/a") == 1
    assert len(queue) == 0 and queue.waiting() == 1  # parked for the backoff delay (1 s)
    clock.step(0.5)
    assert len(queue) == 0
    clock.step(0.5)
    deadline = time.monotonic() + 5
    while len(queue) == 0 and time.monotonic() < deadline:
        clock.step(0)  # the delay thread picks the key up once woken
    assert len(queue) == 1
    labels = {"controller": controller.name}
    assert sample("controller_runtime_reconcile_errors_total", **labels) == 1
    assert sample("controller_runtime_reconcile_total", result="error", **labels) == 1
    queue.shut_down()


def test_terminal_error_is_not_retried() -> None:
    controller, queue, _ = make(raise_(TerminalError("unsupported BMC driver")))
    queue.rate_limiter.when("ns/a")
    assert process_one(controller, queue, "ns/a") == "error"
    assert queue.num_requeues("ns/a") == 0
    assert len(queue) == 0 and queue.waiting() == 0
    labels = {"controller": controller.name}
    assert sample("controller_runtime_terminal_reconcile_errors_total", **labels) == 1


@pytest.mark.parametrize(
    "exc", [NotFound("gone"), ApiException(status=404, reason="Not Found")], ids=["own", "api"]
)
def test_not_found_ends_without_requeue(exc: Exception) -> None:
    controller, queue, _ = make(raise_(exc))
    queue.rate_limiter.when("ns/a")
    assert process_one(controller, queue, "ns/a") == "success"
    assert queue.num_requeues("ns/a") == 0
    assert len(queue) == 0 and queue.waiting() == 0


def test_other_api_errors_are_retried() -> None:
    controller, queue, _ = make(raise_(ApiException(status=500, reason="boom")))
    assert process_one(controller, queue, "ns/a") == "error"
    assert queue.waiting() == 1
    queue.shut_down()


def test_requeue_after_forgets_and_adds_after_the_delay() -> None:
    controller, queue, clock = make(lambda ns, n: Result(requeue=True, requeue_after=30.0))
    queue.rate_limiter.when("ns/a")
    queue.rate_limiter.when("ns/a")
    assert process_one(controller, queue, "ns/a") == "requeue_after"
    assert queue.num_requeues("ns/a") == 0  # forgotten: backoff starts over
    assert queue.waiting() == 1 and len(queue) == 0
    clock.step(29.0)
    assert len(queue) == 0
    clock.step(1.0)
    deadline = time.monotonic() + 5
    while len(queue) == 0 and time.monotonic() < deadline:
        clock.step(0)
    assert len(queue) == 1
    queue.shut_down()


def test_requeue_true_uses_the_rate_limiter() -> None:
    controller, queue, _ = make(lambda ns, n: Result(requeue=True))
    assert process_one(controller, queue, "ns/a") == "requeue"
    assert queue.num_requeues("ns/a") == 1
    assert queue.waiting() == 1
    queue.shut_down()


def test_workers_bind_host_and_reconcile_id_and_run_concurrently() -> None:
    barrier = threading.Barrier(2, timeout=10)

    def outcome(ns: str, name: str) -> Result:
        barrier.wait()  # both workers must be inside reconcile at once
        return Result()

    controller, queue, _ = make(outcome, workers=2)
    reconciler = controller.reconciler
    assert isinstance(reconciler, ScriptedReconciler)
    controller.start()
    try:
        queue.add("ns/a")
        queue.add("ns/b")
        deadline = time.monotonic() + 10
        while len(reconciler.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        assert controller.stop(timeout=10)
    assert sorted(reconciler.calls) == [("ns", "a"), ("ns", "b")]
    hosts = sorted(str(c["host"]) for c in reconciler.contexts)
    assert hosts == ["ns/a", "ns/b"]
    ids = {c["reconcile_id"] for c in reconciler.contexts}
    assert len(ids) == 2
    assert structlog.contextvars.get_contextvars().get("host") is None
    assert not controller.running()


def test_stop_finishes_in_flight_reconcile() -> None:
    entered, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def outcome(ns: str, name: str) -> Result:
        entered.set()
        release.wait(10)
        finished.append(name)
        return Result()

    controller, queue, _ = make(outcome)
    controller.start()
    queue.add("ns/slow")
    assert entered.wait(10)
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(controller.stop(timeout=10)))
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive(), "stop() must wait for the in-flight reconcile"
    queue.add("ns/late")  # ignored: no new work after stop
    release.set()
    stopper.join(10)
    assert result == [True]
    assert finished == ["slow"]


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        Controller("x", ScriptedReconciler(lambda ns, n: Result()), RateLimitingQueue(), 0)
