"""Rate limiters for the work queue: how long a key waits before its next attempt.

A limiter is a value you compose (client-go `default_rate_limiters.go`): per-key
exponential backoff stops one broken host from hot-looping, and a global token bucket stops
a thousand hosts failing at once from stampeding the Kubernetes API and Ironic. The queue
asks `when(key)` on every rate-limited add; the controller calls `forget(key)` once a key
reconciles cleanly so its next failure starts again from the base delay.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable
from typing import Protocol, runtime_checkable

from bmo.runtime.clock import Clock, RealClock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]


@runtime_checkable
class RateLimiter(Protocol):
    """client-go's `RateLimiter`: delays in seconds, per-key failure memory."""

    def when(self, key: Hashable) -> float:
        """Record one more attempt for `key` and return how long it must wait (seconds)."""
        ...

    def forget(self, key: Hashable) -> None:
        """Stop tracking `key`: it succeeded, or it is gone for good."""
        ...

    def num_requeues(self, key: Hashable) -> int:
        """How many times `key` has been rate-limited since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """`base * 2**failures`, capped at `max_delay`, tracked per key.

    The exponent keeps growing while the key keeps failing, so the arithmetic must not
    overflow however long a host stays broken.
    """

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        if base < 0 or max_delay < 0:
            raise ValueError(
                f"exponential rate limiter: base ({base}) and max_delay ({max_delay}) must be >= 0"
            )
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def when(self, key: Hashable) -> float:
        with self._lock:
            exp = self._failures.get(key, 0)
            self._failures[key] = exp + 1
        # 2.0**1023 is the largest finite power of two; the product may still reach inf,
        # which min() turns back into max_delay.
        backoff = self.base * 2.0 ** min(exp, 1023)
        return min(backoff, self.max_delay)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        with self._lock:
            return self._failures.get(key, 0)


class ItemFastSlowRateLimiter:
    """`fast_delay` for the first `max_fast_attempts` tries of a key, `slow_delay` after.

    For things worth retrying quickly a few times (a conflict on update) but not forever.
    """

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        if fast_delay < 0 or slow_delay < 0 or max_fast_attempts < 0:
            raise ValueError(
                "fast/slow rate limiter: fast_delay, slow_delay and max_fast_attempts must be >= 0"
            )
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def when(self, key: Hashable) -> float:
        with self._lock:
            attempts = self._failures.get(key, 0) + 1
            self._failures[key] = attempts
        return self.fast_delay if attempts <= self.max_fast_attempts else self.slow_delay

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        with self._lock:
            return self._failures.get(key, 0)


class BucketRateLimiter:
    """A token bucket shared by all keys (golang.org/x/time/rate `Reserve().Delay()`).

    The bucket holds up to `burst` tokens and refills at `qps` per second. Every `when()`
    takes a token, going into debt when empty; the debt divided by `qps` is the delay, so
    a burst of failures is spread out at `qps` instead of being refused. Keys are not
    tracked: `forget` does nothing and `num_requeues` is always 0.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        if not qps > 0:
            raise ValueError(f"bucket rate limiter: qps must be > 0 (or math.inf), got {qps}")
        if burst < 1:
            raise ValueError(f"bucket rate limiter: burst must be >= 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._clock: Clock = clock if clock is not None else RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()
        self._lock = threading.Lock()

    def when(self, key: Hashable) -> float:
        if math.isinf(self.qps):
            return 0.0
        with self._lock:
            now = self._clock.now()
            elapsed = max(0.0, now - self._last)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            self._last = max(now, self._last)
            self._tokens -= 1.0
            return -self._tokens / self.qps if self._tokens < 0 else 0.0

    def forget(self, key: Hashable) -> None:
        """Nothing to forget: the bucket is shared by every key."""

    def num_requeues(self, key: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay any member asks for; every member records every attempt."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters: tuple[RateLimiter, ...] = limiters

    def when(self, key: Hashable) -> float:
        return max([limiter.when(key) for limiter in self.limiters])

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter:
    """client-go's `DefaultControllerRateLimiter`: 5 ms doubling to 1000 s, 10 qps / 100 burst."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base=0.005, max_delay=1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
