"""Rate limiters compute client-go's delays; the token bucket runs on an injected clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bmo.runtime.clock import FakeClock
from bmo.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)


def test_exponential_backoff_doubles_from_base_to_the_cap() -> None:
    limiter = ItemExponentialFailureRateLimiter(base=0.005, max_delay=1000.0)
    delays = [limiter.when("ns/a") for _ in range(22)]
    assert delays[:5] == [0.005, 0.01, 0.02, 0.04, 0.08]
    # 0.005 * 2**17 = 655.36 s is the last uncapped step; 2**18 would be 1310.72 s.
    assert delays[17] == pytest.approx(655.36)
    assert delays[18:] == [1000.0] * 4
    assert limiter.num_requeues("ns/a") == 22


def test_exponential_backoff_is_per_key_and_forget_resets_it() -> None:
    limiter = ItemExponentialFailureRateLimiter(base=1.0, max_delay=60.0)
    assert [limiter.when("ns/a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert limiter.when("ns/b") == 1.0
    limiter.forget("ns/a")
    assert limiter.num_requeues("ns/a") == 0
    assert limiter.num_requeues("ns/b") == 1
    assert limiter.when("ns/a") == 1.0
    limiter.forget("ns/never-seen")  # harmless


@given(failures=st.integers(min_value=0, max_value=100_000))
def test_exponential_backoff_never_overflows(failures: int) -> None:
    limiter = ItemExponentialFailureRateLimiter(base=3.0, max_delay=1000.0)
    limiter._failures["ns/a"] = failures  # a host that has been failing for a very long time
    delay = limiter.when("ns/a")
    assert 0.0 <= delay <= 1000.0
    assert delay == min(1000.0, 3.0 * 2.0 ** min(failures, 1023))


def test_exponential_backoff_rejects_negative_settings() -> None:
    with pytest.raises(ValueError, match="base"):
        ItemExponentialFailureRateLimiter(base=-1.0)


def test_fast_slow_limiter_switches_after_max_fast_attempts() -> None:
    limiter = ItemFastSlowRateLimiter(fast_delay=0.1, slow_delay=30.0, max_fast_attempts=3)
    assert [limiter.when("ns/a") for _ in range(5)] == [0.1, 0.1, 0.1, 30.0, 30.0]
    assert limiter.num_requeues("ns/a") == 5
    limiter.forget("ns/a")
    assert limiter.when("ns/a") == 0.1


def test_bucket_allows_a_burst_then_spaces_at_qps() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10.0, burst=100, clock=clock)
    assert [limiter.when(f"ns/h{i}") for i in range(100)] == [0.0] * 100
    # Tokens are reserved in debt: each further call waits 0.1 s longer than the last.
    spaced = [limiter.when(f"ns/late{i}") for i in range(3)]
    assert spaced == pytest.approx([0.1, 0.2, 0.3])
    assert limiter.num_requeues("ns/late0") == 0


def test_bucket_refills_with_time_but_never_above_burst() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=2.0, burst=3, clock=clock)
    assert [limiter.when("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.when("k") == pytest.approx(0.5)  # in debt by one token
    clock.step(1.0)  # +2 tokens: back to one
    assert limiter.when("k") == 0.0
    assert limiter.when("k") == pytest.approx(0.5)
    clock.step(3600.0)  # a long quiet spell refills only up to the burst
    assert [limiter.when("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.when("k") == pytest.approx(0.5)


def test_bucket_with_infinite_qps_never_waits() -> None:
    limiter = BucketRateLimiter(qps=float("inf"), burst=1, clock=FakeClock())
    assert [limiter.when("k") for _ in range(1000)] == [0.0] * 1000


@pytest.mark.parametrize(("qps", "burst", "field"), [(0.0, 1, "qps"), (1.0, 0, "burst")])
def test_bucket_rejects_settings_that_could_never_admit_anything(
    qps: float, burst: int, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        BucketRateLimiter(qps=qps, burst=burst, clock=FakeClock())


def test_max_of_returns_the_longest_delay_and_every_member_counts() -> None:
    slow_start = ItemFastSlowRateLimiter(fast_delay=2.0, slow_delay=2.0, max_fast_attempts=1)
    exponential = ItemExponentialFailureRateLimiter(base=1.0, max_delay=100.0)
    limiter = MaxOfRateLimiter(slow_start, exponential)
    assert [limiter.when("ns/a") for _ in range(4)] == [2.0, 2.0, 4.0, 8.0]
    assert slow_start.num_requeues("ns/a") == exponential.num_requeues("ns/a") == 4
    assert limiter.num_requeues("ns/a") == 4
    limiter.forget("ns/a")
    assert slow_start.num_requeues("ns/a") == exponential.num_requeues("ns/a") == 0


def test_max_of_needs_a_member() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter()


def test_default_controller_rate_limiter_combines_backoff_and_bucket() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    assert isinstance(limiter, RateLimiter)
    # One key failing: per-key exponential backoff dominates.
    assert [limiter.when("ns/a") for _ in range(3)] == [0.005, 0.01, 0.02]
    # A stampede of first failures: the bucket (97 tokens left) takes over past the burst.
    delays = [limiter.when(f"ns/h{i}") for i in range(100)]
    assert delays[:97] == [0.005] * 97
    assert delays[97:] == pytest.approx([0.1, 0.2, 0.3])
    limiter.forget("ns/a")
    assert limiter.num_requeues("ns/a") == 0
