"""Why is this BareMetalHost where it is? The pure core of ``bmo explain``.

"Why is my host stuck inspecting / deleting / registering?" is the question users ask most.
The answer is spread over the host's status, its annotations and finalizers, the Ironic
node's own state and ``last_error``, the host's Events and the operator's requeue rules
(reference §2, §3, §9.3). This module puts those together: :func:`explain` turns what the
command read (the host object, an :class:`IronicLookup`, the Events, the time) into an
:class:`Explanation`, and :func:`render_text` / :func:`to_json` show it.

Nothing here does I/O, so every situation is a table row in the tests; the command module
(:mod:`bmo.commands.explain`) does the reading. It imports only the API types and the
reconciler's timing constants, so the estimates cannot drift from what bmo really does.

Never shown: Secret contents, BMC passwords, Ironic ``driver_info``. Free text from
elsewhere (Ironic's ``last_error``, Event messages, the BMC address) has URL user-info
masked before it is stored.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bmo.api.annotations import parse_detached_annotation
from bmo.api.codec import format_time, parse_time
from bmo.api.constants import (
    BMH_FINALIZER,
    DETACHED_ANNOTATION,
    HARDWARE_DETAILS_ANNOTATION,
    HOST_CLAIM_FINALIZER,
    INSPECT_ANNOTATION,
    PAUSED_ANNOTATION,
    REBOOT_ANNOTATION,
    REBOOT_ANNOTATION_PREFIX,
    STATUS_ANNOTATION,
    DetachedDeleteAction,
    ErrorType,
    OperationalStatus,
    ProvisioningState,
)
from bmo.api.errors import DecodeError
from bmo.api.host import BareMetalHost
from bmo.hoststate.actions import (
    DETACHED_POLL_DELAY,
    HOST_ERROR_RETRY_DELAY,
    STEADY_STATE_POWER_DELAY,
    UNMANAGED_RETRY_DELAY,
)
from bmo.hoststate.backoff import calculate_backoff

__all__ = [
    "MAX_EVENTS",
    "AnnotationNote",
    "EventSummary",
    "ExplainError",
    "Explanation",
    "FinalizerNote",
    "HostDecodeError",
    "IronicLookup",
    "LookupStatus",
    "NextRetry",
    "NodeFacts",
    "RetryKind",
    "SecretPresence",
    "explain",
    "node_lookup_keys",
    "render_text",
    "scrub",
    "summarize_event",
    "to_json",
]

MAX_EVENTS: Final = 10
"""Events shown: enough for the last few backoff cycles without scrolling a screen away."""

DELETE_GIVE_UP_ERRORS: Final = 3
"""Deletion skips deprovisioning / power-off once errorCount exceeds this (reference §9.3)."""

PROVISIONER_POLL: Final = 10.0
"""The Ironic provisioner's "long" requeue while an operation runs (reference §4.16)."""

_IN_PROGRESS_STATES: Final = frozenset(
    {
        ProvisioningState.REGISTERING,
        ProvisioningState.INSPECTING,
        ProvisioningState.MATCH_PROFILE,
        ProvisioningState.PREPARING,
        ProvisioningState.PROVISIONING,
        ProvisioningState.DEPROVISIONING,
        ProvisioningState.POWERING_OFF_BEFORE_DELETE,
        ProvisioningState.DELETING,
    }
)
_STEADY_STATES: Final = frozenset(
    {
        ProvisioningState.AVAILABLE,
        ProvisioningState.READY,
        ProvisioningState.PROVISIONED,
        ProvisioningState.EXTERNALLY_PROVISIONED,
    }
)
_DETACH_WITHOUT_FORCE_STATES: Final = _STEADY_STATES
_UNREGISTERED_STATES: Final = frozenset({ProvisioningState.NONE, ProvisioningState.UNMANAGED})

_NO_REQUEUE_REGISTRATION_PREFIXES: Final = (
    "No BMC CredentialsName defined",
    "Empty BMC address",
    "failed to parse BMC address information",
    "Unknown BMC type",
    "BMC type '",
    "Validation error with BMC credentials",
)
"""Registration errors bmo does not retry on a timer: only editing the host or its Secret
can fix them (``CredentialsInvalid`` in :mod:`bmo.controllers.baremetalhost.secrets`)."""

_SECRET_MISSING_MARKER: Final = "BMC CredentialsName secret doesn't exist"
_RETRY_LIMIT_MARKER: Final = "retry limit ("

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@")
_MAX_TEXT: Final = 2000


class ExplainError(Exception):
    """Base of the errors :mod:`bmo.explain` raises."""


class HostDecodeError(ExplainError):
    """The object read from the API does not decode as a BareMetalHost; names the field."""


def scrub(text: str | None) -> str:
    """Free text safe to print: URL user-info masked (``https://***@host``), length capped."""
    if not text:
        return ""
    cleaned = _USERINFO.sub(r"\g<scheme>***@", text)
    if len(cleaned) > _MAX_TEXT:
        cleaned = cleaned[: _MAX_TEXT - 3] + "..."
    return cleaned


# --- inputs ---------------------------------------------------------------------------------


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


# --- the explanation --------------------------------------------------------------------------


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


# --- formatting helpers -----------------------------------------------------------------------


def _duration(seconds: float) -> str:
    """Rounded, human: ``45s``, ``3m``, ``2h 5m``, ``3d 4h``."""
    total = max(0, round(seconds))
    if total < 90:
        return f"{total}s"
    minutes = round(total / 60)
    if minutes < 90:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}"


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    delta = (now - value).total_seconds()
    if delta < 0:
        return f"{format_time(value)} (in {_duration(-delta)})"
    return f"{format_time(value)} ({_duration(delta)} ago)"


def backoff_window(error_count: int) -> tuple[float, float]:
    """``(shortest, longest)`` seconds ``calculate_backoff`` can return for this count."""
    return calculate_backoff(error_count, lambda: 1.0), calculate_backoff(error_count, lambda: 0.0)


def _window_retry(
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
        return NextRetry(kind, f"within {_duration(high)} of the next pass ({why})")
    earliest = last_updated + timedelta(seconds=low)
    latest = last_updated + timedelta(seconds=high)
    if now < earliest:
        middle = ((earliest - now) + (latest - now)).total_seconds() / 2
        summary = f"in about {_duration(middle)} ({why})"
    elif now <= latest:
        summary = f"any moment now, by {format_time(latest)} ({why})"
    else:
        summary = (
            f"overdue since {format_time(latest)} ({why}); bmo may not be running, or the retry "
            "is in progress without a status change"
        )
    return NextRetry(kind, summary, earliest, latest)


def _backoff_retry(host: BareMetalHost, now: datetime, action: str) -> NextRetry:
    count = host.status.error_count
    low, high = backoff_window(count)
    why = f"error {count}, backoff {_minutes(low)}-{_minutes(high)} min"
    retry = _window_retry(host.status.last_updated, now, low, high, kind=RetryKind.BACKOFF, why=why)
    return NextRetry(retry.kind, f"{action} {retry.summary}", retry.earliest, retry.latest)


def _poll(delay: float, what: str) -> NextRetry:
    return NextRetry(RetryKind.POLL, f"every {_duration(delay)} ({what})")


_NOW = NextRetry(RetryKind.NOW, "at once: the change that calls for it already queued a pass")
_ON_EVENT = NextRetry(
    RetryKind.ON_EVENT, "on the next event (a change to the host or its credentials Secret)"
)


# --- annotations, finalizers, conditions ------------------------------------------------------


def _annotation_notes(annotations: Mapping[str, str]) -> tuple[AnnotationNote, ...]:
    notes: list[AnnotationNote] = []
    for key in sorted(annotations):
        value = annotations[key]
        meaning: str | None = None
        shown = value
        if key == PAUSED_ANNOTATION:
            owner = {
                "metal3.io/capm3": " (set by Cluster API Provider Metal3)",
                "metal3.io/hostclaim": " (set by a HostClaim)",
            }.get(value, "")
            meaning = f"paused: bmo does not reconcile this host{owner}"
        elif key == DETACHED_ANNOTATION:
            args = parse_detached_annotation(value)
            action = args.delete_action or DetachedDeleteAction.DELETE
            meaning = f"detached: no Ironic node; on delete: {action}" + (
                ", force" if args.force else ""
            )
        elif key == REBOOT_ANNOTATION or key.startswith(REBOOT_ANNOTATION_PREFIX):
            meaning = "reboot requested: host kept powered off until the annotation is removed"
        elif key == INSPECT_ANNOTATION:
            meaning = "inspection disabled" if value == "disabled" else "re-inspection requested"
        elif key == STATUS_ANNOTATION:
            shown = "<status JSON>"
            meaning = "status to restore (used once, when the status is empty)"
        elif key == HARDWARE_DETAILS_ANNOTATION:
            shown = "<hardware JSON>"
            meaning = "hardware details to use instead of inspection"
        if meaning is not None:
            notes.append(AnnotationNote(key, scrub(shown), meaning))
    return tuple(notes)


_FINALIZER_MEANINGS: Final = {
    BMH_FINALIZER: "bmo's: removed once the Ironic node is deleted (state deleting)",
    HOST_CLAIM_FINALIZER: "a HostClaim's: removed by the HostClaim controller",
}


def _finalizer_notes(finalizers: Iterable[str]) -> tuple[FinalizerNote, ...]:
    return tuple(
        FinalizerNote(
            name, _FINALIZER_MEANINGS.get(name, "another controller's: bmo does not remove it")
        )
        for name in finalizers
    )


# --- the diagnosis ----------------------------------------------------------------------------


@dataclass
class _Findings:
    diagnosis: str = ""
    retry: NextRetry = _ON_EVENT
    notes: list[str] = field(default_factory=list)


def _node(lookup: IronicLookup) -> NodeFacts | None:
    return lookup.node if lookup.status is LookupStatus.FOUND else None


def _ironic_says(node: NodeFacts | None) -> str:
    if node is not None and node.last_error:
        return f"Ironic reports: {scrub(node.last_error)}"
    return ""


def _error_text(host: BareMetalHost, node: NodeFacts | None) -> str:
    said = _ironic_says(node)
    if said:
        return said
    kind = host.status.error_type or "error"
    message = scrub(host.status.error_message) or "(no message)"
    return f"{kind[:1].upper()}{kind[1:]}: {message}"


def _is_detached(host: BareMetalHost) -> bool:
    return (
        host.status.operational_status == OperationalStatus.DETACHED
        or DETACHED_ANNOTATION in host.annotations
    )


def _secret_missing(host: BareMetalHost, presence: SecretPresence) -> bool:
    if host.status.provisioning.state in _UNREGISTERED_STATES:
        return False
    if not host.spec.bmc.credentials_name:
        return False
    if presence is SecretPresence.MISSING:
        return True
    return presence is SecretPresence.UNKNOWN and _SECRET_MISSING_MARKER in (
        host.status.error_message
    )


def _diagnose_deletion(host: BareMetalHost, node: NodeFacts | None, now: datetime) -> _Findings:
    found = _Findings()
    state = host.status.provisioning.state
    finalizers = host.metadata.finalizers
    if BMH_FINALIZER not in finalizers:
        others = ", ".join(finalizers) or "none"
        found.diagnosis = (
            f"Deletion is waiting for other controllers' finalizers: {others} (bmo is done)"
        )
        found.retry = NextRetry(RetryKind.NEVER, "nothing: bmo's finalizer is already removed")
        return found
    errored = bool(host.status.error_type)
    if _is_detached(host) and state != ProvisioningState.DELETING:
        value = host.annotations.get(DETACHED_ANNOTATION)
        delay = value is None or (
            parse_detached_annotation(value).delete_action == DetachedDeleteAction.DELAY
        )
        if delay:
            found.diagnosis = (
                'Deletion is delayed: the host is detached with deleteAction "delay" (or the '
                'annotation was removed); set deleteAction to "delete" to delete without '
                "deprovisioning"
            )
            found.retry = _poll(DETACHED_POLL_DELAY, "detached hosts are re-checked")
        else:
            found.diagnosis = (
                "Deletion skips deprovisioning and power-off (detached): the next pass goes "
                "straight to deleting"
            )
            found.retry = _NOW
        return found
    if state in (
        ProvisioningState.PROVISIONING,
        ProvisioningState.PROVISIONED,
        ProvisioningState.DEPROVISIONING,
    ):
        found.diagnosis = "Deletion is waiting for deprovisioning"
    elif state == ProvisioningState.POWERING_OFF_BEFORE_DELETE:
        found.diagnosis = "Deletion is waiting for the host to power off"
    elif state == ProvisioningState.DELETING:
        found.diagnosis = "Deletion is waiting for the Ironic node to be removed"
    elif state in (*_UNREGISTERED_STATES, ProvisioningState.REGISTERING):
        found.diagnosis = "Deletion is starting: the host goes straight to deleting"
    else:
        found.diagnosis = (
            f"Deletion is starting: from {state!r} the host is powered off, not deprovisioned"
        )
    starting = state not in (
        ProvisioningState.DEPROVISIONING,
        ProvisioningState.POWERING_OFF_BEFORE_DELETE,
        ProvisioningState.DELETING,
    )
    if errored and not starting:
        found.diagnosis += f"; last attempt failed: {_error_text(host, node)}"
        if host.status.error_count > DELETE_GIVE_UP_ERRORS and state in (
            ProvisioningState.DEPROVISIONING,
            ProvisioningState.POWERING_OFF_BEFORE_DELETE,
        ):
            found.notes.append(
                f"errorCount {host.status.error_count} > {DELETE_GIVE_UP_ERRORS}: bmo gives up "
                "this step and moves on to deleting on the next pass"
            )
        found.retry = _backoff_retry(host, now, "bmo retries")
    elif starting:
        found.retry = _NOW
    else:
        found.retry = _poll(PROVISIONER_POLL, "bmo polls Ironic while the operation runs")
    return found


def _diagnose_error(host: BareMetalHost, node: NodeFacts | None, now: datetime) -> _Findings:
    found = _Findings()
    message = host.status.error_message
    error_type = host.status.error_type
    if error_type == ErrorType.REGISTRATION and message.startswith(
        _NO_REQUEUE_REGISTRATION_PREFIXES
    ):
        found.diagnosis = (
            f"Registration error: {scrub(message)}; fix spec.bmc or the credentials Secret"
        )
        found.retry = _ON_EVENT
        return found
    if _RETRY_LIMIT_MARKER in message:
        found.diagnosis = f"Provisioning gave up: {scrub(message)}"
        found.retry = NextRetry(
            RetryKind.NEVER,
            "not until spec.image changes or status.provisioningFailCount is reset",
        )
        return found
    found.retry = _backoff_retry(host, now, "bmo retries with restart")
    found.diagnosis = f"{_error_text(host, node)}; {found.retry.summary}"
    if node is not None and node.last_error and message:
        found.notes.append(f"bmo recorded ({error_type}): {scrub(message)}")
    return found


def _diagnose_detached(host: BareMetalHost) -> _Findings:
    found = _Findings()
    state = host.status.provisioning.state
    if host.status.operational_status == OperationalStatus.DETACHED:
        found.diagnosis = (
            "Detached: bmo removed the Ironic node and leaves the machine alone; remove the "
            "detached annotation to re-attach (re-register and adopt)"
        )
        found.retry = _poll(DETACHED_POLL_DELAY, "detached hosts are re-checked")
        return found
    force = parse_detached_annotation(host.annotations.get(DETACHED_ANNOTATION, "")).force
    if state in _DETACH_WITHOUT_FORCE_STATES or force:
        found.diagnosis = "Detaching: bmo is removing the Ironic node without deprovisioning"
        found.retry = _poll(PROVISIONER_POLL, "bmo polls Ironic while the operation runs")
    else:
        found.diagnosis = (
            f"Detach requested but waiting: state {state!r} is not provisioned, externally "
            'provisioned, available or ready; add "force": true to the annotation to detach now'
        )
        found.retry = _poll(PROVISIONER_POLL, "the current operation continues")
    return found


def _diagnose_progress(host: BareMetalHost, node: NodeFacts | None) -> _Findings:
    found = _Findings()
    state = host.status.provisioning.state
    where = ""
    if node is not None and node.provision_state:
        target = f" → {node.target_provision_state}" if node.target_provision_state else ""
        where = f"; the Ironic node is {node.provision_state}{target}"
    found.diagnosis = f"In progress: {state}{where}"
    found.retry = _poll(PROVISIONER_POLL, "bmo polls Ironic while the operation runs")
    return found


def _diagnose_steady(host: BareMetalHost) -> _Findings:
    found = _Findings()
    state = host.status.provisioning.state
    found.retry = _poll(STEADY_STATE_POWER_DELAY, "steady-state power check")
    if state in (ProvisioningState.AVAILABLE, ProvisioningState.READY):
        if host.needs_provisioning():
            found.diagnosis = "Available, provisioning requested: it starts on the next pass"
            found.retry = _NOW
        else:
            found.diagnosis = (
                "Available: registered and ready; set spec.image and spec.online to provision"
            )
    elif state == ProvisioningState.PROVISIONED and host.provisioning_cancelled():
        found.diagnosis = (
            "Provisioned, but spec.image no longer matches: deprovisioning starts on the next pass"
        )
        found.retry = _NOW
    else:
        found.diagnosis = f"Steady: {state}; nothing is pending"
    return found


def _diagnose(
    host: BareMetalHost,
    lookup: IronicLookup,
    presence: SecretPresence,
    now: datetime,
) -> _Findings:
    """The first matching situation, in the order the reconcile pipeline meets them."""
    node = _node(lookup)
    status = host.status
    state = status.provisioning.state
    if PAUSED_ANNOTATION in host.annotations:
        found = _Findings(
            diagnosis=(
                "Paused: bmo does not touch this host; remove the annotation "
                f"{PAUSED_ANNOTATION} to resume"
            ),
            retry=NextRetry(RetryKind.NEVER, "not while paused"),
        )
        if host.metadata.deletion_timestamp is not None:
            found.notes.append("Deletion was requested: it waits until the host is unpaused")
        return found
    if host.metadata.deletion_timestamp is not None:
        return _diagnose_deletion(host, node, now)
    if status.is_empty() and state == ProvisioningState.NONE:
        return _Findings(
            diagnosis=(
                f"Not reconciled yet: bmo has written no status; is bmo running and watching "
                f"namespace {host.namespace}?"
            ),
            retry=_ON_EVENT,
        )
    if _secret_missing(host, presence):
        return _Findings(
            diagnosis=(
                f"Credentials Secret {host.namespace}/{host.spec.bmc.credentials_name} does not "
                "exist: create it with keys username and password"
            ),
            retry=_poll(HOST_ERROR_RETRY_DELAY, "bmo polls for the missing credentials Secret"),
        )
    if status.operational_status == OperationalStatus.DELAYED:
        low, high = backoff_window(1)
        return _Findings(
            diagnosis=(
                "Waiting for a provisioning slot: PROVISIONING_LIMIT reached (Ironic is busy "
                f"inspecting, cleaning or deploying other hosts) before {state or 'starting'}"
            ),
            retry=_window_retry(
                status.last_updated,
                now,
                low,
                high,
                kind=RetryKind.FIXED,
                why=f"capacity re-checked after {_minutes(low)}-{_minutes(high)} min",
            ),
        )
    if (
        presence is SecretPresence.PRESENT
        and status.error_type == ErrorType.REGISTRATION
        and _SECRET_MISSING_MARKER in status.error_message
    ):
        return _Findings(
            diagnosis=(
                f"Credentials Secret {host.namespace}/{host.spec.bmc.credentials_name} exists "
                "now; bmo picks it up on its next poll"
            ),
            retry=_poll(HOST_ERROR_RETRY_DELAY, "bmo polls for the missing credentials Secret"),
        )
    if status.error_type or status.operational_status == OperationalStatus.ERROR:
        return _diagnose_error(host, node, now)
    if _is_detached(host):
        return _diagnose_detached(host)
    if state in _UNREGISTERED_STATES:
        if host.has_bmc_details():
            return _Findings(
                diagnosis="Registration is about to start: spec.bmc is set",
                retry=_NOW,
            )
        return _Findings(
            diagnosis=(
                "Unmanaged: spec.bmc has no address or credentialsName; add them and bmo "
                "registers the host"
            ),
            retry=_poll(UNMANAGED_RETRY_DELAY, "unmanaged hosts are re-checked"),
        )
    if state in _IN_PROGRESS_STATES:
        return _diagnose_progress(host, node)
    if state in _STEADY_STATES:
        return _diagnose_steady(host)
    return _Findings(diagnosis=f"Unknown state {state!r}: bmo reports no handler for it")


def _side_notes(host: BareMetalHost, lookup: IronicLookup, diagnosis: str) -> list[str]:
    """Facts worth a line whatever the diagnosis: Ironic's own flags, power mismatch."""
    notes: list[str] = []
    node = _node(lookup)
    state = host.status.provisioning.state
    if node is not None:
        if node.maintenance:
            reason = scrub(node.maintenance_reason) or "no reason given"
            notes.append(f"Ironic has the node in maintenance: {reason}")
        if node.fault:
            notes.append(f"Ironic reports fault {node.fault!r}")
        if node.last_error and "Ironic reports:" not in diagnosis:
            notes.append(f"Ironic last_error: {scrub(node.last_error)}")
        if node.reservation:
            notes.append(f"Ironic conductor {node.reservation} holds the node's lock")
    elif (
        lookup.status is LookupStatus.NOT_FOUND
        and state not in _UNREGISTERED_STATES
        and host.status.operational_status != OperationalStatus.DETACHED
    ):
        notes.append(
            "Ironic has no node for this host: bmo re-creates it on the next pass (was "
            "Ironic's database reset?)"
        )
    if (
        state in _STEADY_STATES
        and host.spec.online != host.status.powered_on
        and not host.spec.disable_power_off
    ):
        want = "on" if host.spec.online else "off"
        notes.append(f"Power change pending: spec.online asks for {want}")
    return notes


def _scrubbed(lookup: IronicLookup) -> IronicLookup:
    """The lookup with its free text masked, so the JSON output is as safe as the text."""
    node = lookup.node
    if node is not None:
        node = replace(
            node,
            last_error=scrub(node.last_error) or None,
            maintenance_reason=scrub(node.maintenance_reason) or None,
        )
    return replace(lookup, node=node, detail=scrub(lookup.detail))


def explain(
    host: Mapping[str, Any],
    ironic: IronicLookup,
    events: Iterable[Mapping[str, Any]],
    now: datetime,
    *,
    credentials: SecretPresence = SecretPresence.UNKNOWN,
    max_events: int = MAX_EVENTS,
) -> Explanation:
    """Why ``host`` (a BareMetalHost as read from the API) is where it is, at ``now``.

    Raises :class:`HostDecodeError` if the object does not decode as a BareMetalHost.
    """
    try:
        bmh = BareMetalHost.from_dict(host)
    except DecodeError as exc:
        raise HostDecodeError(f"the object does not decode as a BareMetalHost: {exc}") from None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    ironic = _scrubbed(ironic)
    found = _diagnose(bmh, ironic, credentials, now)
    notes = [*found.notes, *_side_notes(bmh, ironic, found.diagnosis)]
    summaries = sorted(
        (summarize_event(event) for event in events),
        key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC),
    )
    status = bmh.status
    return Explanation(
        namespace=bmh.namespace,
        name=bmh.name,
        state=status.provisioning.state,
        operational_status=status.operational_status,
        error_type=status.error_type,
        error_message=scrub(status.error_message),
        error_count=status.error_count,
        provisioning_fail_count=status.provisioning_fail_count,
        last_updated=status.last_updated,
        online=bmh.spec.online,
        powered_on=status.powered_on,
        bmc_address=scrub(bmh.spec.bmc.address),
        credentials_secret=bmh.spec.bmc.credentials_name,
        credentials_presence=credentials,
        deletion_requested=bmh.metadata.deletion_timestamp,
        finalizers=_finalizer_notes(bmh.metadata.finalizers),
        annotations=_annotation_notes(bmh.annotations),
        conditions=tuple(ConditionNote(c.type, c.status, c.reason) for c in status.conditions),
        ironic=ironic,
        next_retry=found.retry,
        events=tuple(summaries[-max_events:]) if max_events > 0 else (),
        diagnosis=found.diagnosis,
        notes=tuple(notes),
        now=now,
    )


# --- rendering --------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json(explanation: Explanation) -> str:
    """The explanation as a JSON document (stable keys: the dataclass field names)."""
    return json.dumps(_jsonable(asdict(explanation)), indent=2, sort_keys=False)


def _row(label: str, value: str) -> str:
    return f"  {label + ':':<20}{value}"


def _node_lines(lookup: IronicLookup) -> list[str]:
    node = lookup.node
    if lookup.status is not LookupStatus.FOUND or node is None:
        tried = f" (looked up {', '.join(lookup.keys)})" if lookup.keys else ""
        detail = f": {lookup.detail}" if lookup.detail else ""
        return [f"Ironic node: {lookup.status.value}{tried}{detail}"]
    lines = [f"Ironic node {node.uuid}" + (f" ({node.name})" if node.name else "") + ":"]
    target = node.target_provision_state or "none"
    lines.append(_row("Provision state", f"{node.provision_state or '?'} (target: {target})"))
    lines.append(_row("Last error", scrub(node.last_error) or "none"))
    power = node.power_state or "unknown"
    if node.target_power_state:
        power += f" (target: {node.target_power_state})"
    lines.append(_row("Power", power))
    maintenance = "no"
    if node.maintenance:
        maintenance = "yes: " + (scrub(node.maintenance_reason) or "no reason given")
    lines.append(_row("Maintenance", maintenance))
    lines.append(_row("Fault", node.fault or "none"))
    if node.health:
        lines.append(_row("Health", node.health))
    if node.driver:
        lines.append(_row("Driver", node.driver))
    return lines


def render_text(e: Explanation) -> str:
    """The human-readable report ``bmo explain`` prints by default."""
    now = e.now or datetime.now(UTC)
    lines = [f"BareMetalHost {e.namespace}/{e.name}"]
    lines.append(_row("State", e.state or '"" (new)'))
    lines.append(_row("Operational status", e.operational_status or "(none)"))
    if e.error_type or e.error_message:
        lines.append(_row("Error", f"{e.error_type or '(no type)'}: {e.error_message}"))
    lines.append(_row("Error count", str(e.error_count)))
    if e.provisioning_fail_count:
        lines.append(_row("Provisioning fails", str(e.provisioning_fail_count)))
    lines.append(_row("Last updated", _ago(e.last_updated, now)))
    lines.append(_row("Next retry", e.next_retry.summary))
    lines.append(
        _row("Power", f"online={str(e.online).lower()} poweredOn={str(e.powered_on).lower()}")
    )
    bmc = e.bmc_address or "(none)"
    if e.credentials_secret:
        bmc += f", credentials Secret {e.namespace}/{e.credentials_secret}"
        if e.credentials_presence is not SecretPresence.UNKNOWN:
            bmc += f" ({e.credentials_presence.value})"
    lines.append(_row("BMC", bmc))
    if e.conditions:
        text = " ".join(
            f"{c.type}={c.status}" + (f"({c.reason})" if c.reason else "") for c in e.conditions
        )
        lines.append(_row("Conditions", text))
    for annotation in e.annotations:
        lines.append(
            _row(
                "Annotation",
                f"{annotation.key}"
                + (f"={annotation.value}" if annotation.value else "")
                + f" - {annotation.meaning}",
            )
        )
    if e.deletion_requested is not None:
        lines.append(_row("Deletion requested", _ago(e.deletion_requested, now)))
        if not e.finalizers:
            lines.append(_row("Finalizer", "(none)"))
        for fin in e.finalizers:
            lines.append(_row("Finalizer", f"{fin.name} - {fin.meaning}"))
    lines.extend(_node_lines(e.ironic))
    if e.events:
        lines.append("Recent events (oldest first):")
        for event in e.events:
            when = "?" if event.last_seen is None else _duration_ago(event.last_seen, now)
            count = f" (x{event.count})" if event.count > 1 else ""
            lines.append(f"  {when:>8}  {event.type:<7}  {event.reason}: {event.message}{count}")
    else:
        lines.append("Recent events: none")
    lines.append(f"Diagnosis: {e.diagnosis}")
    for note in e.notes:
        lines.append(f"  Note: {note}")
    return "\n".join(lines) + "\n"


def _duration_ago(value: datetime, now: datetime) -> str:
    delta = (now - value).total_seconds()
    return f"{_duration(delta)} ago" if delta >= 0 else f"in {_duration(-delta)}"
