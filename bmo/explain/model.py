"""The facts ``bmo explain`` gathers and the explanation it builds from them, as data.

Inputs: the credentials Secret's existence (:class:`SecretPresence`, never its contents), the
Ironic node (:class:`NodeFacts`, never ``driver_info``) and the Events (:class:`EventSummary`).
Output: an :class:`Explanation`, which ``-o json`` serialises as is. Free text from elsewhere
(Ironic's ``last_error``, Event messages, the BMC address) goes through :func:`scrub` before it
is stored here, so nothing downstream can show a credential.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from bmo.api.codec import parse_time
from bmo.api.errors import DecodeError
from bmo.redaction import scrub_userinfo

MAX_EVENTS: Final = 10
"""Events shown: enough for the last few backoff cycles without scrolling a screen away."""

_MAX_TEXT: Final = 2000


class ExplainError(Exception):
    """Base of the errors :mod:`bmo.explain` raises."""


class HostDecodeError(ExplainError):
    """The object read from the API does not decode as a BareMetalHost; names the field."""


def scrub(text: str | None) -> str:
    """Free text safe to print: URL user-info masked (``https://***@host``), length capped."""
    if not text:
        return ""
    cleaned = scrub_userinfo(text)
    if len(cleaned) > _MAX_TEXT:
        cleaned = cleaned[: _MAX_TEXT - 3] + "..."
    return cleaned


class SecretPresence(enum.StrEnum):
    """Whether the credentials Secret exists; only existence is ever looked at."""

    PRESENT = "present"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class NodeFacts:
    """The Ironic node fields worth showing a person; ``driver_info`` deliberately absent."""

    uuid: str
    name: str | None = None
    provision_state: str | None = None
    target_provision_state: str | None = None
    last_error: str | None = None
    power_state: str | None = None
    target_power_state: str | None = None
    maintenance: bool = False
    maintenance_reason: str | None = None
    fault: str | None = None
    health: str | None = None
    reservation: str | None = None
    driver: str | None = None


class LookupStatus(enum.StrEnum):
    FOUND = "found"
    NOT_FOUND = "not found"
    UNAVAILABLE = "unavailable"
    NOT_CONFIGURED = "not configured"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class IronicLookup:
    """What asking Ironic about the host's node gave; ``detail`` says why when not found."""

    status: LookupStatus
    node: NodeFacts | None = None
    keys: tuple[str, ...] = ()
    detail: str = ""

    @classmethod
    def skipped(cls) -> IronicLookup:
        return cls(LookupStatus.SKIPPED, detail="not asked (--no-ironic)")


def node_lookup_keys(host: Mapping[str, Any]) -> tuple[str, ...]:
    """Identifiers to try, in order: ``status.provisioning.ID``, then the node name bmo gives
    every host (``<namespace>~<name>``), which finds the node after an Ironic DB wipe too."""
    metadata = host.get("metadata") or {}
    status = host.get("status") or {}
    provisioning = (status.get("provisioning") or {}) if isinstance(status, Mapping) else {}
    keys: list[str] = []
    node_id = provisioning.get("ID") if isinstance(provisioning, Mapping) else None
    if isinstance(node_id, str) and node_id:
        keys.append(node_id)
    keys.append(f"{metadata.get('namespace', '')}~{metadata.get('name', '')}")
    return tuple(keys)


@dataclass(frozen=True)
class EventSummary:
    type: str
    reason: str
    message: str
    count: int
    last_seen: datetime | None


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    metadata = event.get("metadata") or {}
    for value in (
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        metadata.get("creationTimestamp") if isinstance(metadata, Mapping) else None,
    ):
        if isinstance(value, str) and value:
            try:
                return parse_time(value)
            except DecodeError:
                continue
    return None


def summarize_event(event: Mapping[str, Any]) -> EventSummary:
    """A ``core/v1`` Event as read from the API (JSON field names)."""
    count = event.get("count")
    series = event.get("series") or {}
    if not isinstance(count, int) and isinstance(series, Mapping):
        count = series.get("count")
    return EventSummary(
        type=str(event.get("type") or ""),
        reason=str(event.get("reason") or ""),
        message=scrub(str(event.get("message") or "")),
        count=count if isinstance(count, int) and count > 0 else 1,
        last_seen=_event_time(event),
    )


class RetryKind(enum.StrEnum):
    BACKOFF = "backoff"
    """A failure was recorded: exponential backoff from ``status.lastUpdated``."""
    FIXED = "fixed"
    """A fixed delay from the last status save (waiting for a provisioning slot)."""
    POLL = "poll"
    """A periodic re-check that saves nothing (power, detached, unmanaged, operation running,
    credentials Secret missing), so there is no timestamp to count from."""
    NOW = "now"
    """A change that triggers a pass (spec, annotation, deletion) already queued one."""
    ON_EVENT = "on event"
    """Nothing scheduled: the next change to the host (or its Secret) triggers a pass."""
    NEVER = "never"
    """bmo will not act (paused, retry limit reached, its finalizer already gone)."""


@dataclass(frozen=True)
class NextRetry:
    kind: RetryKind
    summary: str
    earliest: datetime | None = None
    latest: datetime | None = None


@dataclass(frozen=True)
class AnnotationNote:
    key: str
    value: str
    meaning: str


@dataclass(frozen=True)
class FinalizerNote:
    name: str
    meaning: str


@dataclass(frozen=True)
class ConditionNote:
    type: str
    status: str
    reason: str


@dataclass(frozen=True)
class Explanation:
    """Everything ``bmo explain`` prints, as data (``-o json`` is this, serialised)."""

    namespace: str
    name: str
    state: str
    operational_status: str
    error_type: str
    error_message: str
    error_count: int
    provisioning_fail_count: int
    last_updated: datetime | None
    online: bool
    powered_on: bool
    bmc_address: str
    credentials_secret: str
    credentials_presence: SecretPresence
    deletion_requested: datetime | None
    finalizers: tuple[FinalizerNote, ...]
    annotations: tuple[AnnotationNote, ...]
    conditions: tuple[ConditionNote, ...]
    ironic: IronicLookup
    next_retry: NextRetry
    events: tuple[EventSummary, ...]
    diagnosis: str
    notes: tuple[str, ...] = field(default=())
    now: datetime | None = None
