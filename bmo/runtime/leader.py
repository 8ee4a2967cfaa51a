"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's
``tools/leaderelection/leaderelection.go`` (``acquire``, ``renew``, ``tryAcquireOrRenew``,
``release``) does it.

Two replicas must never reconcile the same hosts at once (two writers to one Ironic node
is exactly the race the Go operator avoids this way). The protocol:

* Every ``retry_period`` a candidate reads the Lease. It may take it if nobody holds it, or
  if the record has not changed for ``leaseDurationSeconds`` *as observed by its own clock*
  (never by comparing ``renewTime`` with local wall time: clocks across nodes skew).
* Writes carry the read ``resourceVersion``, so of two candidates racing, one gets 409.
* The leader renews every ``retry_period``; if it cannot renew for ``renew_deadline`` it
  stops leading *before* anyone else can take the lease (``renew_deadline`` <
  ``lease_duration``), so there is never a moment with two leaders.
* A stalled API server must not stretch that: every Lease call carries a request timeout
  bounded by the time left before the renew deadline (client-go ``renew`` runs
  ``tryAcquireOrRenew`` under a context with ``RenewDeadline``), and a watchdog ends
  leadership at the deadline even if a call hangs anyway; :meth:`LeaderElector.is_leader`
  answers from the deadline itself, so it turns false the instant the deadline passes.
* On a clean shutdown it releases the lease (``holderIdentity`` cleared,
  ``leaseDurationSeconds`` 1, like ``ReleaseOnCancel``) so a successor takes over at once.
"""

from __future__ import annotations

import math
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from kubernetes import client as k8s

from bmo.runtime.clock import Clock, RealClock
from bmo.runtime.errors import is_conflict, is_not_found
from bmo.runtime.settings import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
)

log = structlog.get_logger(__name__)

JITTER_FACTOR = 1.2
MIN_CALL_TIMEOUT = 0.05
"""A Lease call never gets less than this (seconds): a zero timeout means "none" to urllib3."""


def default_identity() -> str:
    """``<hostname>_<uuid>``, as controller-runtime builds it: unique even for two replicas
    on one node (or two managers in one test process)."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = DEFAULT_LEASE_DURATION
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError("renew_deadline must be greater than 1.2 x retry_period")
        if not self.identity:
            raise ValueError("identity must not be empty")


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease spec fields leader election uses."""

    holder: str
    lease_duration_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int

    @classmethod
    def from_lease(cls, lease: k8s.V1Lease) -> LeaseRecord:
        spec = lease.spec or k8s.V1LeaseSpec()
        return cls(
            holder=spec.holder_identity or "",
            lease_duration_seconds=spec.lease_duration_seconds or 0,
            acquire_time=spec.acquire_time,
            renew_time=spec.renew_time,
            transitions=spec.lease_transitions or 0,
        )

    def to_spec(self) -> k8s.V1LeaseSpec:
        return k8s.V1LeaseSpec(
            holder_identity=self.holder or None,
            lease_duration_seconds=self.lease_duration_seconds,
            acquire_time=self.acquire_time,
            renew_time=self.renew_time,
            lease_transitions=self.transitions,
        )


class LeaderElector:
    """Acquire, hold and release one Lease.

    ``on_started_leading`` runs (on the elector thread) once the lease is ours;
    ``on_stopped_leading`` once it is not any more, for whatever reason - lost or released.
    Both must return quickly.
    """

    def __init__(
        self,
        api_client: k8s.ApiClient,
        config: LeaseConfig,
        *,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._api = k8s.CoordinationV1Api(api_client)
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self.clock: Clock = clock if clock is not None else RealClock()
        self._rng = rng or random.Random()
        self._observed: LeaseRecord | None = None
        self._observed_rv = ""
        self._observed_time = 0.0
        self._leading = False
        self._renewed_at = 0.0
        self._watchdog_armed = False
        self._state_lock = threading.RLock()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._log = log.bind(lease=f"{config.namespace}/{config.name}", identity=config.identity)

    # -- state -------------------------------------------------------------------------

    def is_leader(self) -> bool:
        """True while we hold the lease and the renew deadline has not passed: never true
        after the moment another candidate could take the lease."""
        with self._state_lock:
            if not self._leading:
                return False
            return not (self._watchdog_armed and self._deadline_passed())

    def _deadline_passed(self) -> bool:
        return self.clock.now() >= self._renewed_at + self.config.renew_deadline

    def observed_holder(self) -> str:
        return self._observed.holder if self._observed else ""

    # -- loop --------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Acquire, then renew until ``stop`` is set (then release) or renewal fails for
        ``renew_deadline`` (then stop leading, without releasing: it may not be ours)."""
        self._stop = stop
        threading.Thread(target=self._wake_on_stop, name="leader-stop", daemon=True).start()
        if not self._acquire():
            return
        with self._state_lock:
            self._watchdog_armed = True
        threading.Thread(target=self._watchdog, name="leader-watchdog", daemon=True).start()
        try:
            self._renew_loop()
        finally:
            with self._state_lock:
                self._watchdog_armed = False
            with self._cond:
                self._cond.notify_all()
        if self._stop.is_set() and self._leading and self.config.release_on_cancel:
            self.release()
        if self._leading:
            self._set_leading(False)

    def _acquire(self) -> bool:
        self._log.info("attempting to acquire leader lease")
        while not self._stop.is_set():
            if self.try_acquire_or_renew():
                self._log.info("acquired leader lease")
                return True
            delay = self.config.retry_period * (1 + self._rng.random() * (JITTER_FACTOR - 1))
            if not self._sleep(delay):
                break
        return False

    def _renew_loop(self) -> None:
        while self._sleep(self.config.retry_period):
            if self.try_acquire_or_renew():
                continue
            if not self._leading:
                self._log.error("leader lease lost: another candidate holds it")
                return
            if self._deadline_passed():
                self._expire()
                return

    def _expire(self) -> None:
        with self._state_lock:
            if not self._leading:
                return
            self._log.error(
                "leader lease lost: not renewed within the renew deadline",
                renew_deadline=self.config.renew_deadline,
            )
            self._set_leading(False)

    def _watchdog(self) -> None:
        """End leadership at the renew deadline even while a renewal hangs (a request
        timeout bounds each call, but nothing else may be trusted with split brain)."""
        with self._cond:
            while self._watchdog_armed and self._leading:
                remaining = self._renewed_at + self.config.renew_deadline - self.clock.now()
                if remaining <= 0:
                    break
                self.clock.wait(self._cond, remaining)
        if self._watchdog_armed:
            self._expire()

    def _call_timeout(self) -> float:
        """The request timeout for the next Lease call: what is left before the renew
        deadline while leading, the renew deadline itself while acquiring."""
        if self._leading:
            left = self._renewed_at + self.config.renew_deadline - self.clock.now()
            return max(MIN_CALL_TIMEOUT, min(left, self.config.renew_deadline))
        return self.config.renew_deadline

    def _sleep(self, seconds: float) -> bool:
        deadline = self.clock.now() + seconds
        with self._cond:
            while not self._stop.is_set():
                remaining = deadline - self.clock.now()
                if remaining <= 0:
                    return True
                self.clock.wait(self._cond, remaining)
        return False

    def _wake_on_stop(self) -> None:
        self._stop.wait()
        with self._cond:
            self._cond.notify_all()

    def _set_leading(self, leading: bool) -> None:
        with self._state_lock:
            if leading == self._leading:
                return
            self._leading = leading
            callback = self._on_started if leading else self._on_stopped
        if leading:
            with self._cond:
                self._cond.notify_all()  # re-arms the watchdog for the new deadline
        if callback is not None:
            try:
                callback()
            except Exception:
                self._log.exception("leader election callback failed")

    # -- one round ---------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One read-modify-write round; True when we hold the lease afterwards."""
        now_wall = _now()
        try:
            lease = self._read()
        except k8s.ApiException as exc:
            if not is_not_found(exc):
                self._log.warning("reading the leader lease failed", status=exc.status)
                return False
            lease = None
        except Exception as exc:
            self._log.warning("reading the leader lease failed", error=type(exc).__name__)
            return False

        record = LeaseRecord(
            holder=self.config.identity,
            lease_duration_seconds=max(1, math.ceil(self.config.lease_duration)),
            acquire_time=now_wall,
            renew_time=now_wall,
            transitions=0,
        )
        if lease is None:
            return self._write(None, record)

        old = LeaseRecord.from_lease(lease)
        rv = (lease.metadata.resource_version if lease.metadata else None) or ""
        if old != self._observed:
            self._observed = old
            self._observed_time = self.clock.now()
        self._observed_rv = rv

        held_by_other = bool(old.holder) and old.holder != self.config.identity
        if held_by_other and self._lease_valid(old):
            if self._leading:
                self._set_leading(False)
            return False

        if old.holder == self.config.identity:
            record = LeaseRecord(
                holder=self.config.identity,
                lease_duration_seconds=record.lease_duration_seconds,
                acquire_time=old.acquire_time or now_wall,
                renew_time=now_wall,
                transitions=old.transitions,
            )
        else:
            record = LeaseRecord(
                holder=self.config.identity,
                lease_duration_seconds=record.lease_duration_seconds,
                acquire_time=now_wall,
                renew_time=now_wall,
                transitions=old.transitions + 1,
            )
        return self._write(lease, record)

    def release(self) -> bool:
        """Give the lease up so a successor need not wait out the lease duration."""
        if not self._leading:
            return True
        try:
            lease = self._read()
        except Exception as exc:
            self._log.warning("releasing the leader lease failed", error=type(exc).__name__)
            return False
        old = LeaseRecord.from_lease(lease)
        if old.holder != self.config.identity:
            self._set_leading(False)
            return True
        now_wall = _now()
        released = LeaseRecord(
            holder="",
            lease_duration_seconds=1,
            acquire_time=now_wall,
            renew_time=now_wall,
            transitions=old.transitions,
        )
        ok = self._write(lease, released, acquiring=False)
        if ok:
            self._log.info("released leader lease")
            self._set_leading(False)
        return ok

    def _lease_valid(self, record: LeaseRecord) -> bool:
        duration = record.lease_duration_seconds or self.config.lease_duration
        return self._observed_time + duration > self.clock.now()

    def _read(self) -> k8s.V1Lease:
        return self._api.read_namespaced_lease(
            self.config.name, self.config.namespace, _request_timeout=self._call_timeout()
        )

    def _write(
        self, lease: k8s.V1Lease | None, record: LeaseRecord, *, acquiring: bool = True
    ) -> bool:
        try:
            if lease is None:
                body = k8s.V1Lease(
                    api_version="coordination.k8s.io/v1",
                    kind="Lease",
                    metadata=k8s.V1ObjectMeta(
                        name=self.config.name, namespace=self.config.namespace
                    ),
                    spec=record.to_spec(),
                )
                written = self._api.create_namespaced_lease(
                    self.config.namespace, body, _request_timeout=self._call_timeout()
                )
            else:
                body = k8s.V1Lease(
                    api_version="coordination.k8s.io/v1",
                    kind="Lease",
                    # Carries resourceVersion: a concurrent writer makes this a 409.
                    metadata=lease.metadata,
                    spec=record.to_spec(),
                )
                written = self._api.replace_namespaced_lease(
                    self.config.name,
                    self.config.namespace,
                    body,
                    _request_timeout=self._call_timeout(),
                )
        except k8s.ApiException as exc:
            level = "info" if is_conflict(exc) else "warning"
            getattr(self._log, level)("writing the leader lease failed", status=exc.status)
            return False
        except Exception as exc:
            self._log.warning("writing the leader lease failed", error=type(exc).__name__)
            return False
        self._observed = LeaseRecord.from_lease(written)
        self._observed_time = self.clock.now()
        meta = written.metadata
        self._observed_rv = (meta.resource_version if meta else None) or ""
        if acquiring:
            with self._state_lock:
                if self._leading and self._watchdog_armed and self._deadline_passed():
                    # The write landed after our deadline: another candidate may already
                    # lead; never resurrect (client-go stops at RenewDeadline).
                    return False
                self._renewed_at = self._observed_time
                self._set_leading(True)
        return True


def _now() -> datetime:
    """Wall-clock time for the Lease's informational timestamps (MicroTime precision)."""
    return datetime.now(UTC)
