"""Short retries *inside one Ironic call* (tenacity), for failures that clear in seconds.

Ironic answers 409 NodeLocked while a conductor holds a node, 503 when it has no free worker
or too many concurrent cleans/deploys, and its cheroot server drops a connection now and then
under load. Retrying those a few times within ~5 s hides the noise without blocking a worker:
anything longer-lived (inspection failed, provisioning failed, Ironic down) goes back to the
work queue as a requeue, which is not this module's business.

openstacksdk's own status-code and connect retries are switched off (see ``client``), so this
is the only retry layer and its budget is what you read here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from bmo.ironic.errors import (
    Conflict,
    IronicError,
    IronicTimeout,
    IronicUnavailable,
    NodeLocked,
    translate_errors,
)

__all__ = ["RetryPolicy", "call_with_retries", "is_retryable"]

T = TypeVar("T")

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt cap and backoff; ``sleep`` is injectable so tests do not wait."""

    attempts: int = 4
    initial_wait: float = 0.25
    max_wait: float = 2.0
    max_total: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)


def is_retryable(exc: BaseException) -> bool:
    """NodeLocked, 502/503/504 and connection failures; never timeouts or other 4xx.

    A timed-out request already used the whole client timeout (30 s by default); retrying it
    here would hold the worker far beyond the retry budget, so it goes back to the queue.
    """
    if isinstance(exc, NodeLocked):
        return True
    if isinstance(exc, IronicTimeout):
        return False
    if isinstance(exc, IronicUnavailable):
        return exc.status_code is None or exc.status_code in _RETRYABLE_STATUS
    return False


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.info(
        "retrying ironic call in %.2fs (attempt %d): %s",
        wait,
        state.attempt_number,
        exc,
    )


def call_with_retries(
    operation: str,
    fn: Callable[[], T],
    *,
    policy: RetryPolicy | None = None,
    recover_conflict: Callable[[], T | None] | None = None,
) -> T:
    """Run ``fn`` with SDK exceptions mapped to :mod:`bmo.ironic.errors`, retrying briefly.

    ``recover_conflict`` is for creations: when a POST was retried (the first attempt may
    have reached Ironic before the connection dropped) and now answers 409 "already exists",
    it looks the object up and that becomes the result. If it finds nothing, the Conflict
    stands. A 409 on the *first* attempt is always a real conflict.
    """
    policy = policy or RetryPolicy()
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts)
        | tenacity.stop_after_delay(policy.max_total),
        wait=tenacity.wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
        + tenacity.wait_random(0, policy.initial_wait),
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
        sleep=policy.sleep,
        before_sleep=_log_retry,
    )
    for attempt in retrying:
        with attempt:
            try:
                with translate_errors(operation):
                    return fn()
            except Conflict:
                if recover_conflict is None or attempt.retry_state.attempt_number == 1:
                    raise
                with translate_errors(operation):
                    recovered = recover_conflict()
                if recovered is None:
                    raise
                log.info("%s: 409 on a retried request, object exists; treating as done", operation)
                return recovered
    raise IronicError(f"{operation}: retry loop ended without a result")  # pragma: no cover
