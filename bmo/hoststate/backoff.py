"""Exponential backoff for hosts in error (the Go operator's ``calculateBackoff``).

Each consecutive failure doubles the wait, starting at one minute and capped at 2^9
minutes; up to half of it is shaved off at random so that many hosts failing together (an
Ironic outage) do not all come back at the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

__all__ = ["MAX_BACKOFF_EXPONENT", "calculate_backoff"]

MAX_BACKOFF_EXPONENT: Final = 9


def calculate_backoff(error_count: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``error_count``-th consecutive failure.

    ``2**min(n, 9)`` minutes times ``1 - U[0, 0.5)``: 1-2 min for n=1, 2-4 min for n=2, ...
    up to 256-512 min. ``rand`` returns a float in ``[0, 1)`` (injectable for tests).
    """
    exponent = min(max(error_count, 0), MAX_BACKOFF_EXPONENT)
    base = 60.0 * float(2**exponent)
    jitter: float = rand()
    return base * (1.0 - jitter / 2.0)
