"""Why the host is where it is: the pure reasoning of ``bmo explain``.

:func:`explain` turns what the command read (the host object, an
:class:`~bmo.explain.model.IronicLookup`, the Events, the time) into an
:class:`~bmo.explain.model.Explanation`. The situations are checked in the order the Go
operator's reconcile meets them (``baremetalhost_controller.go`` ``Reconcile``: paused, then
deletion via ``host_state_machine.go`` ``checkInitiateDelete``, credentials, detach via
``checkDetachedHost``, then the per-state handlers), and the retry estimates use bmo's own
timing constants and backoff (``action_result.go`` ``calculateBackoff``), so they cannot drift
from what bmo really does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from bmo.api.annotations import parse_detached_annotation
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
from bmo.explain.firmware import firmware_notes
from bmo.explain.model import (
    MAX_EVENTS,
    AnnotationNote,
    ConditionNote,
    Explanation,
    FinalizerNote,
    HostDecodeError,
    IronicLookup,
    LookupStatus,
    NextRetry,
    NodeFacts,
    RetryKind,
    SecretPresence,
    scrub,
    summarize_event,
)
from bmo.explain.rendering import minutes
from bmo.explain.retry import (
    NOW,
    ON_EVENT,
    backoff_retry,
    backoff_window,
    poll,
    window_retry,
)
from bmo.hoststate.actions import (
    DETACHED_POLL_DELAY,
    HOST_ERROR_RETRY_DELAY,
    UNMANAGED_RETRY_DELAY,
    WATCHED_POWER_POLL_DELAY,
)
from bmo.hoststate.deletion import DELETE_RETRY_LIMIT

PROVISIONER_POLL: Final = 60.0
"""The Ironic provisioner's requeue while an operation runs under ``bmo run``
(``bmo/ironic/provisioner/core.py`` ``WATCHED_WAIT_DELAY``): its node cache wakes the host as
soon as the node changes, so this is only the safety net. Upstream polls every 10 s
(``pkg/provisioner/ironic/ironic.go`` ``provisionRequeueDelay``)."""
_OPERATION_POLL: Final = "while the operation runs; at once when the Ironic node changes"

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
    retry: NextRetry = ON_EVENT
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
            found.retry = poll(DETACHED_POLL_DELAY, "detached hosts are re-checked")
        else:
            found.diagnosis = (
                "Deletion skips deprovisioning and power-off (detached): the next pass goes "
                "straight to deleting"
            )
            found.retry = NOW
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
        # host_state_machine.go handleDeprovisioning / handlePoweringOffBeforeDelete: while
        # deleting, a step that failed more than DELETE_RETRY_LIMIT times is skipped.
        if host.status.error_count > DELETE_RETRY_LIMIT and state in (
            ProvisioningState.DEPROVISIONING,
            ProvisioningState.POWERING_OFF_BEFORE_DELETE,
        ):
            found.notes.append(
                f"errorCount {host.status.error_count} > {DELETE_RETRY_LIMIT}: bmo gives up "
                "this step and moves on to deleting on the next pass"
            )
        found.retry = backoff_retry(host, now, "bmo retries")
    elif starting:
        found.retry = NOW
    else:
        found.retry = poll(PROVISIONER_POLL, _OPERATION_POLL)
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
        found.retry = ON_EVENT
        return found
    if _RETRY_LIMIT_MARKER in message:
        found.diagnosis = f"Provisioning gave up: {scrub(message)}"
        found.retry = NextRetry(
            RetryKind.NEVER,
            "not until spec.image changes or status.provisioningFailCount is reset",
        )
        return found
    found.retry = backoff_retry(host, now, "bmo retries with restart")
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
        found.retry = poll(DETACHED_POLL_DELAY, "detached hosts are re-checked")
        return found
    force = parse_detached_annotation(host.annotations.get(DETACHED_ANNOTATION, "")).force
    if state in _DETACH_WITHOUT_FORCE_STATES or force:
        found.diagnosis = "Detaching: bmo is removing the Ironic node without deprovisioning"
        found.retry = poll(PROVISIONER_POLL, _OPERATION_POLL)
    else:
        found.diagnosis = (
            f"Detach requested but waiting: state {state!r} is not provisioned, externally "
            'provisioned, available or ready; add "force": true to the annotation to detach now'
        )
        found.retry = poll(PROVISIONER_POLL, "the current operation continues")
    return found


def _diagnose_progress(host: BareMetalHost, node: NodeFacts | None) -> _Findings:
    found = _Findings()
    state = host.status.provisioning.state
    where = ""
    if node is not None and node.provision_state:
        target = f" → {node.target_provision_state}" if node.target_provision_state else ""
        where = f"; the Ironic node is {node.provision_state}{target}"
    found.diagnosis = f"In progress: {state}{where}"
    found.retry = poll(PROVISIONER_POLL, _OPERATION_POLL)
    return found


def _diagnose_steady(host: BareMetalHost) -> _Findings:
    found = _Findings()
    state = host.status.provisioning.state
    # ``bmo run`` with Ironic always keeps the node cache, which wakes a host whenever its
    # node changes; the steady-state check is then the slow safety net.
    found.retry = poll(
        WATCHED_POWER_POLL_DELAY, "steady-state power check; at once when the Ironic node changes"
    )
    if state in (ProvisioningState.AVAILABLE, ProvisioningState.READY):
        if host.needs_provisioning():
            found.diagnosis = "Available, provisioning requested: it starts on the next pass"
            found.retry = NOW
        else:
            found.diagnosis = (
                "Available: registered and ready; set spec.image and spec.online to provision"
            )
    elif state == ProvisioningState.PROVISIONED and host.provisioning_cancelled():
        found.diagnosis = (
            "Provisioned, but spec.image no longer matches: deprovisioning starts on the next pass"
        )
        found.retry = NOW
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
            retry=ON_EVENT,
        )
    if _secret_missing(host, presence):
        return _Findings(
            diagnosis=(
                f"Credentials Secret {host.namespace}/{host.spec.bmc.credentials_name} does not "
                "exist: create it with keys username and password"
            ),
            retry=poll(HOST_ERROR_RETRY_DELAY, "bmo polls for the missing credentials Secret"),
        )
    if status.operational_status == OperationalStatus.DELAYED:
        low, high = backoff_window(1)
        return _Findings(
            diagnosis=(
                "Waiting for a provisioning slot: PROVISIONING_LIMIT reached (Ironic is busy "
                f"inspecting, cleaning or deploying other hosts) before {state or 'starting'}"
            ),
            retry=window_retry(
                status.last_updated,
                now,
                low,
                high,
                kind=RetryKind.FIXED,
                why=f"capacity re-checked after {minutes(low)}-{minutes(high)} min",
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
            retry=poll(HOST_ERROR_RETRY_DELAY, "bmo polls for the missing credentials Secret"),
        )
    if status.error_type or status.operational_status == OperationalStatus.ERROR:
        return _diagnose_error(host, node, now)
    if _is_detached(host):
        return _diagnose_detached(host)
    if state in _UNREGISTERED_STATES:
        if host.has_bmc_details():
            return _Findings(
                diagnosis="Registration is about to start: spec.bmc is set",
                retry=NOW,
            )
        return _Findings(
            diagnosis=(
                "Unmanaged: spec.bmc has no address or credentialsName; add them and bmo "
                "registers the host"
            ),
            retry=poll(UNMANAGED_RETRY_DELAY, "unmanaged hosts are re-checked"),
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
    firmware_settings: Mapping[str, Any] | None = None,
    firmware_components: Mapping[str, Any] | None = None,
    update_policy: Mapping[str, Any] | None = None,
) -> Explanation:
    """Why ``host`` (a BareMetalHost as read from the API) is where it is, at ``now``.

    ``firmware_settings``/``firmware_components``/``update_policy`` are the host's
    same-named firmware objects, when it has them: pending changes become notes.
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
    notes = [
        *found.notes,
        *_side_notes(bmh, ironic, found.diagnosis),
        *firmware_notes(bmh, firmware_settings, firmware_components, update_policy),
    ]
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
