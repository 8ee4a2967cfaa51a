"""When bmo acts next: the retry estimates ``bmo explain`` reports.

A failure is retried after ``calculateBackoff(errorCount)`` counted from the status save that
recorded it (``action_result.go`` ``actionFailed``), a wait for a provisioning slot after the
same window for count 1 (``actionDelayed``), and polls (power, detached, unmanaged, a running
operation) at fixed delays that save nothing, so they have no timestamp to count from.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from bmo.api.codec import format_time
from bmo.api.host import BareMetalHost
from bmo.explain.model import NextRetry, RetryKind
from bmo.explain.rendering import duration, minutes
from bmo.hoststate.backoff import calculate_backoff


def backoff_window(error_count: int) -> tuple[float, float]:
    """``(shortest, longest)`` seconds ``calculate_backoff`` can return for this count."""
    return calculate_backoff(error_count, lambda: 1.0), calculate_backoff(error_count, lambda: 0.0)


def window_retry(
    last_updated: datetime | None,
    now: datetime,
    low: float,
    high: float,
    *,
    kind: RetryKind,
    why: str,
) -> NextRetry:
    """When a requeue scheduled at the last status save with a delay in ``[low, high]`` is due.

    The save that recorded the failure also set ``lastUpdated``, so that is the clock start.
    """
    if last_updated is None:
        return NextRetry(kind, f"within {duration(high)} of the next pass ({why})")
    earliest = last_updated + timedelta(seconds=low)
    latest = last_updated + timedelta(seconds=high)
    if now < earliest:
        middle = ((earliest - now) + (latest - now)).total_seconds() / 2
        summary = f"in about {duration(middle)} ({why})"
    elif now <= latest:
        summary = f"any moment now, by {format_time(latest)} ({why})"
    else:
        summary = (
            f"overdue since {format_time(latest)} ({why}); bmo may not be running, or the retry "
            "is in progress without a status change"
        )
    return NextRetry(kind, summary, earliest, latest)


def backoff_retry(host: BareMetalHost, now: datetime, action: str) -> NextRetry:
    count = host.status.error_count
    low, high = backoff_window(count)
    why = f"error {count}, backoff {minutes(low)}-{minutes(high)} min"
    retry = window_retry(host.status.last_updated, now, low, high, kind=RetryKind.BACKOFF, why=why)
    return NextRetry(retry.kind, f"{action} {retry.summary}", retry.earliest, retry.latest)


def poll(delay: float, what: str) -> NextRetry:
    return NextRetry(RetryKind.POLL, f"every {duration(delay)} ({what})")


NOW: Final = NextRetry(RetryKind.NOW, "at once: the change that calls for it already queued a pass")
ON_EVENT: Final = NextRetry(
    RetryKind.ON_EVENT, "on the next event (a change to the host or its credentials Secret)"
)
