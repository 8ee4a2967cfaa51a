"""Time as an injected dependency, so every timing behaviour can be tested without sleeping.

Anything that waits (the delaying queue, informer resync, leader election) takes a `Clock`
instead of calling `time` directly. Production passes `RealClock()`; tests pass a `FakeClock`
and move time forward with `step()` / `set()`, which wakes every thread parked in
`Clock.wait` or `Clock.sleep` so it can re-check its deadline (client-go's
`k8s.io/utils/clock/testing.FakeClock`).

The waiting primitive is a `threading.Condition` the caller already uses for its own state,
so a waiter wakes for either reason - its own state changed (`notify`) or time moved - and
re-checks both. A stoppable periodic loop looks like::

    with cond:
        while not stopped:
            clock.wait(cond, period)   # returns early on cond.notify() or FakeClock.step()
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "RealClock"]


@runtime_checkable
class Clock(Protocol):
    """A monotonic time source that can also park a thread until a time passes."""

    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    def wait(self, cond: threading.Condition, timeout: float | None) -> bool:
        """Like `cond.wait(timeout)` with `timeout` measured on this clock.

        The caller holds `cond`. Returns False when the timeout elapsed, True when woken
        earlier; wake-ups may be spurious, so callers re-check their condition in a loop.
        """
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread until `seconds` have passed on this clock."""
        ...


class RealClock:
    """The process's monotonic clock: immune to wall-clock jumps (NTP, manual changes)."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, cond: threading.Condition, timeout: float | None) -> bool:
        return cond.wait(timeout)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "RealClock()"


class FakeClock:
    """A clock that only moves when a test says so.

    Waiters are parked on their own condition with no real timeout; `step`/`set` notifies
    every registered condition, and each waiter compares the new time with its deadline.
    `wait_for_waiters` tells a test that background threads have seen the current time and
    parked again, which turns "sleep a bit and hope" into a deterministic sequence.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._generation = 0  # bumped by every step/set
        self._lock = threading.Lock()
        self._parked_changed = threading.Condition(self._lock)
        # One entry per parked thread: the condition to notify and the generation it saw.
        self._parked: dict[int, tuple[threading.Condition, int]] = {}
        self._next_ticket = 0
        self._sleep_cond = threading.Condition()

    def now(self) -> float:
        with self._lock:
            return self._now

    def step(self, seconds: float) -> None:
        """Move time forward by `seconds` (must not be negative) and wake every waiter."""
        if seconds < 0:
            raise ValueError(f"FakeClock.step: seconds must be >= 0, got {seconds}")
        with self._lock:
            self._now += seconds
            self._generation += 1
        self._wake_all()

    def set(self, now: float) -> None:
        """Jump to `now` (backwards is allowed, as in client-go) and wake every waiter."""
        with self._lock:
            self._now = float(now)
            self._generation += 1
        self._wake_all()

    def wait(self, cond: threading.Condition, timeout: float | None) -> bool:
        with self._lock:
            deadline = None if timeout is None else self._now + timeout
            if deadline is not None and self._now >= deadline:
                return False
            ticket = self._next_ticket
            self._next_ticket += 1
            self._parked[ticket] = (cond, self._generation)
            self._parked_changed.notify_all()
        try:
            # The caller holds `cond`, and `_wake_all` must take `cond` to notify it, so a
            # step between our registration and this wait cannot be lost.
            cond.wait()
        finally:
            with self._lock:
                del self._parked[ticket]
                expired = deadline is not None and self._now >= deadline
        return not expired

    def sleep(self, seconds: float) -> None:
        with self._sleep_cond:
            deadline = self.now() + seconds
            while self.now() < deadline:
                self.wait(self._sleep_cond, deadline - self.now())

    def waiters(self) -> int:
        """How many threads are parked in `wait`/`sleep` right now."""
        with self._lock:
            return len(self._parked)

    def wait_for_waiters(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until `count` threads have parked since the last `step`/`set`.

        Such a thread has seen the current time and done whatever it does before parking
        (the delaying queue: moved every ready key into the queue). `timeout` is real
        seconds; returns False if it ran out.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._current_parked() < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._parked_changed.wait(remaining)
            return True

    def _current_parked(self) -> int:
        return sum(1 for _, gen in self._parked.values() if gen == self._generation)

    def _wake_all(self) -> None:
        # Never hold our own lock while taking a waiter's: waiters call now() under theirs.
        with self._lock:
            conds = {id(cond): cond for cond, _ in self._parked.values()}
        for cond in conds.values():
            with cond:
                cond.notify_all()

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now()!r})"
