"""``calculate_backoff``: 2^min(n, 9) minutes minus up to half, from an injected source."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bmo.hoststate.backoff import MAX_BACKOFF_EXPONENT, calculate_backoff


def test_known_values() -> None:
    assert calculate_backoff(1, lambda: 0.0) == 120.0
    assert calculate_backoff(1, lambda: 0.5) == 90.0
    assert calculate_backoff(2, lambda: 0.0) == 240.0
    assert calculate_backoff(9, lambda: 0.0) == 60.0 * 512
    assert calculate_backoff(0, lambda: 0.0) == 60.0


def test_cap_at_nine() -> None:
    assert calculate_backoff(10, lambda: 0.0) == calculate_backoff(9, lambda: 0.0)
    assert calculate_backoff(1000, lambda: 0.25) == calculate_backoff(9, lambda: 0.25)
    assert MAX_BACKOFF_EXPONENT == 9


@given(
    n=st.integers(min_value=0, max_value=100),
    r=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_bounds(n: int, r: float) -> None:
    base = 60.0 * 2 ** min(n, 9)
    delay = calculate_backoff(n, lambda: r)
    assert base / 2 <= delay <= base


@given(
    n=st.integers(min_value=0, max_value=20),
    r=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_growth_is_monotonic_at_fixed_jitter(n: int, r: float) -> None:
    assert calculate_backoff(n + 1, lambda: r) >= calculate_backoff(n, lambda: r)


def test_default_random_source_stays_in_range() -> None:
    for _ in range(200):
        assert 60.0 < calculate_backoff(1) <= 120.0
