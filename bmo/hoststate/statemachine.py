"""The host state machine: one pure pass over a BareMetalHost.

``reconcile_host(host, ctx)`` is upstream's ``hostStateMachine.ReconcileState``
(``internal/controller/metal3.io/host_state_machine.go``): the delayed-host check, the
deletion entry, detach handling, registration on every pass, then the state handler for the
host's provisioning state from :data:`STATE_HANDLERS` - and the deferred state-change
bookkeeping (capacity check, operation history, boot mode). It talks only to the
provisioner in ``ctx`` and returns a :class:`~bmo.hoststate.actions.HostOutcome`; loading
the host, Secrets, HardwareData, finalizers, saving and publishing are the reconciler's.

The state handlers live with the actions they run, by phase: :mod:`.registration`,
:mod:`.inspection`, :mod:`.provisioning` and :mod:`.deletion`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from bmo.api.constants import BMH_FINALIZER, OperationalStatus, ProvisioningState
from bmo.api.host import BareMetalHost
from bmo.hoststate.actions import ActionKind, ActionResult, HostOutcome, Metrics
from bmo.hoststate.backoff import calculate_backoff
from bmo.hoststate.deletion import (
    DELETE_RETRY_LIMIT,
    check_initiate_delete,
    handle_deleting,
    handle_powering_off_before_delete,
)
from bmo.hoststate.detach import check_detached_host
from bmo.hoststate.inspection import handle_inspecting
from bmo.hoststate.provisioning import (
    handle_available,
    handle_deprovisioning,
    handle_externally_provisioned,
    handle_preparing,
    handle_provisioned,
    handle_provisioning,
)
from bmo.hoststate.registration import (
    ensure_registered,
    handle_match_profile,
    handle_none,
    handle_registering,
    handle_unmanaged,
)
from bmo.hoststate.run import (
    FirmwareState,
    HostContext,
    HostRun,
    SecretVersion,
    StateMachineSettings,
)
from bmo.provisioner import ProvisionerError

__all__ = [
    "DELETE_RETRY_LIMIT",
    "STATE_HANDLERS",
    "FirmwareState",
    "HostContext",
    "SecretVersion",
    "StateHandler",
    "StateMachineSettings",
    "needs_finalizer",
    "reconcile_host",
]

S = ProvisioningState

StateHandler = Callable[[HostRun], ActionResult]
"""Upstream ``stateHandler``: runs the pass for one provisioning state and may set
``run.next_state``."""

#: Provisioning state -> state handler (upstream ``hostStateMachine.handlers``). ``ready``
#: is the deprecated spelling of ``available``.
STATE_HANDLERS: Final[Mapping[str, StateHandler]] = MappingProxyType(
    {
        S.NONE: handle_none,
        S.UNMANAGED: handle_unmanaged,
        S.REGISTERING: handle_registering,
        S.INSPECTING: handle_inspecting,
        S.EXTERNALLY_PROVISIONED: handle_externally_provisioned,
        S.MATCH_PROFILE: handle_match_profile,
        S.PREPARING: handle_preparing,
        S.AVAILABLE: handle_available,
        S.READY: handle_available,
        S.PROVISIONING: handle_provisioning,
        S.PROVISIONED: handle_provisioned,
        S.DEPROVISIONING: handle_deprovisioning,
        S.POWERING_OFF_BEFORE_DELETE: handle_powering_off_before_delete,
        S.DELETING: handle_deleting,
    }
)

#: States whose entry (and every pass in them) needs a free provisioner slot.
_CAPACITY_STATES: Final = frozenset({S.INSPECTING, S.PROVISIONING, S.DEPROVISIONING})

#: States entering which records the boot mode the host will use.
_BOOT_MODE_STATES: Final = frozenset({S.REGISTERING, S.INSPECTING, S.PROVISIONING})


def needs_finalizer(host: BareMetalHost) -> bool:
    """Whether the reconciler must add the host finalizer before running the machine
    (upstream ``Reconcile``'s ``hostHasFinalizer`` check)."""
    return host.metadata.deletion_timestamp is None and BMH_FINALIZER not in (
        host.metadata.finalizers
    )


def reconcile_host(host: BareMetalHost, ctx: HostContext) -> HostOutcome:
    """One pass of the state machine over ``host``; see ``HostOutcome`` for applying it."""
    run = HostRun(host, ctx)
    result = _reconcile_state(run)
    override = _update_host_state_from(run)
    if override is not None:
        result = override
    return _outcome(run, result)


# --- the pass --------------------------------------------------------------------------------


def _reconcile_state(run: HostRun) -> ActionResult:
    """Upstream ``ReconcileState``, without its deferred ``updateHostStateFrom``."""
    was_delayed = run.host.status.operational_status == OperationalStatus.DELAYED
    delayed = _check_delayed_host(run)
    if delayed is not None:
        return delayed
    result = _run_state(run)
    if was_delayed and result.kind == ActionKind.CONTINUE:
        # The cleared ``delayed`` must be saved even where the handler changed nothing.
        return ActionResult.update(result.delay)
    return result


def _run_state(run: HostRun) -> ActionResult:
    """The rest of ``ReconcileState``: deletion, detachment, registration, the handler."""
    if check_initiate_delete(run):
        return ActionResult.complete()
    detached = check_detached_host(run)
    if detached is not None:
        return detached
    registered = ensure_registered(run)
    if registered is not None:
        run.count(Metrics.REGISTRATION_REQUIRED)
        return registered
    state_handler = STATE_HANDLERS.get(run.initial_state)
    if state_handler is None:
        return ActionResult.fail_transient(f'no handler found for state "{run.initial_state}"')
    return state_handler(run)


def _ensure_capacity(run: HostRun, state: str) -> ActionResult | None:
    """Upstream ``ensureCapacity``: ``delayed`` when the provisioner has no free slot."""
    try:
        available = run.prov.has_capacity()
    except ProvisionerError as exc:
        return run.transient("failed to determine current provisioner capacity", exc)
    return None if available else run.record_delayed(state)


def _check_delayed_host(run: HostRun) -> ActionResult | None:
    """Upstream ``checkDelayedHost``: retry a delayed host once a slot frees, and re-check
    capacity in the states that hold one.

    Upstream saves the cleared status (``actionUpdate``) and takes the slot in the next
    pass; here the state's handler runs in the same pass and one write saves both. A pass
    waits its turn in the queue, so that spent a queue wait on every slot handed over, while
    the slot stood empty. Replaying it is harmless: a delayed host whose node already works
    holds the slot it counts itself in (``ironic.go HasCapacity``), and its handler finds
    the node busy.
    """
    state = run.host.status.provisioning.state
    if run.host.status.operational_status == OperationalStatus.DELAYED:
        result = _ensure_capacity(run, state)
        if result is not None:
            return result
        run.clear_error()
        return None
    if state in _CAPACITY_STATES:
        return _ensure_capacity(run, state)
    return None


def _update_host_state_from(run: HostRun) -> ActionResult | None:
    """Upstream ``updateHostStateFrom``: the deferred bookkeeping of a state change (which
    may turn it into "delayed" instead)."""
    previous, target = run.initial_state, run.next_state
    if target == previous:
        return None
    if target in _CAPACITY_STATES:
        delayed = _ensure_capacity(run, target)
        if delayed is not None:
            return delayed
    run.record_state_end(previous)
    run.record_state_begin(target)
    run.count(Metrics.STATE_CHANGE, {"prev_state": previous, "new_state": target})
    run.set_provisioning(state=target)
    if target in _BOOT_MODE_STATES and run.host.status.provisioning.boot_mode != (
        run.host.boot_mode()
    ):
        run.set_provisioning(boot_mode=run.host.boot_mode())
    return None


def _outcome(run: HostRun, result: ActionResult) -> HostOutcome:
    """Fold the pass into what the reconciler applies; the requeue delays are upstream
    ``action_result.go``'s ``Result`` methods (``calculateBackoff`` for failures)."""
    kind = result.kind
    requeue_after: float | None
    if kind in (ActionKind.CONTINUE, ActionKind.UPDATE):
        requeue_after = result.delay
    elif kind == ActionKind.COMPLETE:
        requeue_after = 0.0
    elif kind == ActionKind.FAILED:
        requeue_after = calculate_backoff(run.host.status.error_count, run.ctx.rand)
    elif kind == ActionKind.DELAYED:
        requeue_after = calculate_backoff(1, run.ctx.rand)
    else:
        requeue_after = None
    return HostOutcome(
        host=run.host,
        previous_state=run.initial_state,
        action=kind,
        status_dirty=result.dirty,
        object_dirty=bool(run.removed_annotations) or run.remove_finalizer,
        annotations_to_remove=frozenset(run.removed_annotations),
        events=run.recorder.events,
        metrics=tuple(run.metrics),
        requeue_after=requeue_after,
        error=result.error,
        delete_complete=kind == ActionKind.DELETE_COMPLETE,
        remove_finalizer=run.remove_finalizer,
        release_secrets=run.release_secrets,
        hardware_data=run.hardware_data,
    )
