"""Leader election on a Lease in the emulator: acquire, renew, expire, release, conflicts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.runtime.clock import FakeClock
from bmo.runtime.leader import LeaderElector, LeaseConfig

LEASE = "baremetal-operator"


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


def read_lease(api_client: k8s.ApiClient, namespace: str) -> k8s.V1LeaseSpec:
    lease = k8s.CoordinationV1Api(api_client).read_namespaced_lease(LEASE, namespace)
    assert lease.spec is not None
    return lease.spec


class Timeline:
    """Who led when, as the electors' callbacks report it."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()

    def callbacks(self, who: str) -> dict[str, Callable[[], None]]:
        return {
            "on_started_leading": lambda: self._add(who, "start"),
            "on_stopped_leading": lambda: self._add(who, "stop"),
        }

    def _add(self, who: str, what: str) -> None:
        with self.lock:
            self.events.append((time.monotonic(), who, what))

    def kinds(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(who, what) for _, who, what in self.events]

    def assert_never_two_leaders(self) -> None:
        leaders: set[str] = set()
        with self.lock:
            for _, who, what in self.events:
                if what == "start":
                    leaders.add(who)
                    assert len(leaders) == 1, f"two leaders at once: {self.events}"
                else:
                    leaders.discard(who)


def elector(
    api_client: k8s.ApiClient,
    namespace: str,
    identity: str,
    clock: Any = None,
    timeline: Timeline | None = None,
    **timings: float,
) -> LeaderElector:
    config = LeaseConfig(namespace=namespace, name=LEASE, identity=identity, **timings)
    callbacks = timeline.callbacks(identity) if timeline else {}
    return LeaderElector(api_client, config, clock=clock, **callbacks)  # type: ignore[arg-type]


def test_acquire_renew_and_takeover_after_expiry_on_a_fake_clock(
    kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    clock = FakeClock()
    timeline = Timeline()
    a = elector(kube_api_client, kube_namespace, "node-a_1", clock, timeline)
    b = elector(kube_api_client, kube_namespace, "node-b_2", clock, timeline)

    assert a.try_acquire_or_renew() and a.is_leader()
    spec = read_lease(kube_api_client, kube_namespace)
    assert spec.holder_identity == "node-a_1"
    assert spec.lease_duration_seconds == 15
    assert spec.lease_transitions == 0
    acquired = spec.acquire_time

    assert not b.try_acquire_or_renew() and not b.is_leader()
    clock.step(10)
    assert a.try_acquire_or_renew()
    spec = read_lease(kube_api_client, kube_namespace)
    assert spec.acquire_time == acquired and spec.renew_time != acquired
    assert not b.try_acquire_or_renew()  # B observes the renewal at t=10

    # A stops renewing. B must wait a full lease duration from when *it* saw the last
    # change (t=10), whatever the timestamps in the Lease say.
    clock.step(14.5)
    assert not b.try_acquire_or_renew()
    clock.step(1)
    assert b.try_acquire_or_renew() and b.is_leader()
    spec = read_lease(kube_api_client, kube_namespace)
    assert spec.holder_identity == "node-b_2"
    assert spec.lease_transitions == 1

    # A comes back: it sees B's lease and stops leading.
    assert not a.try_acquire_or_renew()
    assert not a.is_leader()
    assert timeline.kinds() == [
        ("node-a_1", "start"),
        ("node-b_2", "start"),
        ("node-a_1", "stop"),
    ]


def test_release_lets_a_successor_acquire_at_once(
    kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    clock = FakeClock()
    a = elector(kube_api_client, kube_namespace, "a", clock)
    b = elector(kube_api_client, kube_namespace, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.release() and not a.is_leader()
    spec = read_lease(kube_api_client, kube_namespace)
    assert not spec.holder_identity
    assert spec.lease_duration_seconds == 1
    assert b.try_acquire_or_renew(), "no need to wait out the lease after a release"
    assert read_lease(kube_api_client, kube_namespace).lease_transitions == 1


def test_write_conflict_means_not_acquired(
    kube_api_client: k8s.ApiClient, kube_namespace: str, kube_faults: Any
) -> None:
    a = elector(kube_api_client, kube_namespace, "a", FakeClock())
    assert a.try_acquire_or_renew()
    kube_faults.conflict_next_writes(1, resource="leases")
    assert not a.try_acquire_or_renew(), "a 409 on renew is a failed round"
    assert a.try_acquire_or_renew()


@pytest.fixture
def threads() -> Iterator[Callable[[Callable[[], None]], threading.Thread]]:
    started: list[threading.Thread] = []

    def start(target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.join(timeout=15)
        assert not thread.is_alive()


def test_failover_when_the_leaders_renewals_are_blocked(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    threads: Callable[[Callable[[], None]], threading.Thread],
) -> None:
    timings = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}
    timeline = Timeline()
    a = elector(kube_api_client, kube_namespace, "a", None, timeline, **timings)
    b = elector(kube_api_client, kube_namespace, "b", None, timeline, **timings)
    stop_a, stop_b = threading.Event(), threading.Event()
    try:
        threads(lambda: a.run(stop_a))
        wait_until(a.is_leader, what="a to lead")
        threads(lambda: b.run(stop_b))
        wait_until(lambda: b.observed_holder() == "a", what="b to see a's lease")
        assert not b.is_leader()

        blocked_at = time.monotonic()
        a.try_acquire_or_renew = lambda: False  # type: ignore[method-assign]
        wait_until(b.is_leader, timeout=10, what="b to take over")
        took = time.monotonic() - blocked_at
        assert not a.is_leader()
        # b may take over only once the lease expired: at least renew_deadline... and it
        # must do so within about a lease duration plus a retry period.
        assert took < 1.0 + 0.6 + 0.5, took
        timeline.assert_never_two_leaders()
        assert timeline.kinds()[:3] == [("a", "start"), ("a", "stop"), ("b", "start")]
    finally:
        stop_a.set()
        stop_b.set()
    wait_until(lambda: not b.is_leader(), what="b to release on stop")
    assert not read_lease(kube_api_client, kube_namespace).holder_identity


def test_lease_config_is_validated() -> None:
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaseConfig("ns", LEASE, "me", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError, match="retry_period"):
        LeaseConfig("ns", LEASE, "me", renew_deadline=2, retry_period=2)


def _client(kube_server: Any, user_agent: str) -> k8s.ApiClient:
    cfg = k8s.Configuration()
    cfg.host = kube_server.url
    api = k8s.ApiClient(cfg)
    api.user_agent = user_agent
    return api


def test_a_stalled_api_server_never_yields_two_leaders(
    kube_server: Any,
    kube_faults: Any,
    kube_namespace: str,
    threads: Callable[[Callable[[], None]], threading.Thread],
) -> None:
    """client-go ``tools/leaderelection/leaderelection.go`` ``renew``: every renewal is
    bounded by ``RenewDeadline``. Here the API server accepts the leader's requests and never
    answers them (one replica cut off, the other fine): the leader must stop leading by its
    renew deadline, before the other replica can take the lease - never two leaders."""
    timings = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.2}
    api_a, api_b = _client(kube_server, "replica-a"), _client(kube_server, "replica-b")
    a_leading_when_b_started: list[bool] = []
    stopped_at: list[float] = []
    a_config = LeaseConfig(namespace=kube_namespace, name=LEASE, identity="a", **timings)
    b_config = LeaseConfig(namespace=kube_namespace, name=LEASE, identity="b", **timings)
    a = LeaderElector(
        api_a, a_config, on_stopped_leading=lambda: stopped_at.append(time.monotonic())
    )
    b = LeaderElector(
        api_b,
        b_config,
        on_started_leading=lambda: a_leading_when_b_started.append(a.is_leader()),
    )
    stop_a, stop_b = threading.Event(), threading.Event()
    try:
        threads(lambda: a.run(stop_a))
        wait_until(a.is_leader, what="a to lead")
        threads(lambda: b.run(stop_b))
        wait_until(lambda: b.observed_holder() == "a", what="b to see a's lease")
        stalled_at = time.monotonic()
        kube_faults.stall(path_contains="/leases", user_agent="replica-a", seconds=30)
        wait_until(b.is_leader, timeout=15, what="b to take over")
        assert a_leading_when_b_started == [False], "a still believed it led when b took over"
        assert not a.is_leader()
        assert stopped_at, "a never reported it stopped leading"
        # a stops within its renew deadline of the last successful renewal, not when a hung
        # call happens to return.
        assert stopped_at[0] - stalled_at < 2.0 + 0.5, stopped_at[0] - stalled_at
    finally:
        kube_faults.release_stalls()
        stop_a.set()
        stop_b.set()
    wait_until(lambda: not b.is_leader(), what="b to release on stop")
    api_a.close()  # type: ignore[no-untyped-call]
    api_b.close()  # type: ignore[no-untyped-call]
