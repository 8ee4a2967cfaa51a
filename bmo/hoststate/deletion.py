"""Deletion: where it starts from, powering off before it, and removing the node.

Mirrors upstream ``host_state_machine.go`` (``checkInitiateDelete``,
``handlePoweringOffBeforeDelete``, ``handleDeleting``) and ``baremetalhost_controller.go``
(``actionPowerOffBeforeDeleting``, ``actionDeleting``). A host being deleted from
``provisioned`` goes through ``deprovisioning`` first (:mod:`bmo.hoststate.provisioning`).
"""

from __future__ import annotations

import dataclasses
from typing import Final

from bmo.api.constants import (
    BMH_FINALIZER,
    ErrorType,
    OperationalStatus,
    ProvisioningState,
    RebootMode,
)
from bmo.hoststate.actions import ActionKind, ActionResult, Metrics
from bmo.hoststate.detach import delay_delete_for_detached
from bmo.hoststate.run import HostRun
from bmo.provisioner import ProvisionerError

__all__ = [
    "DELETE_RETRY_LIMIT",
    "check_initiate_delete",
    "handle_deleting",
    "handle_powering_off_before_delete",
]

S = ProvisioningState

#: Deletion gives up deprovisioning / powering off after more failures than this (upstream
#: ``host_state_machine.go retryCount``).
DELETE_RETRY_LIMIT: Final = 3


def check_initiate_delete(run: HostRun) -> bool:
    """Upstream ``host_state_machine.go checkInitiateDelete``: pick the state deletion
    starts from; ``True`` ends the pass there."""
    if not run.deleting:
        return False
    host = run.host
    state = run.next_state
    if state != S.DELETING and host.status.operational_status == OperationalStatus.DETACHED:
        if delay_delete_for_detached(host):
            run.count(Metrics.DELETE_DELAYED_FOR_DETACHED)
            return False
        run.next_state = S.DELETING
        return True
    if state in (S.REGISTERING, S.UNMANAGED, S.NONE):
        run.next_state = S.DELETING
    elif state in (S.PROVISIONING, S.PROVISIONED):
        run.next_state = S.DEPROVISIONING
    elif state in (S.DEPROVISIONING, S.POWERING_OFF_BEFORE_DELETE):
        if run.has_error(ErrorType.REGISTRATION) and host.status.error_count > DELETE_RETRY_LIMIT:
            run.next_state = S.DELETING
            return True
        return False
    elif state == S.DELETING:
        return False
    else:
        run.next_state = S.POWERING_OFF_BEFORE_DELETE
    return True


def _action_power_off_before_deleting(run: HostRun) -> ActionResult:
    """Upstream ``actionPowerOffBeforeDeleting`` (skipped with ``disablePowerOff``)."""
    if run.host.spec.disable_power_off:
        return ActionResult.complete()
    try:
        result = run.prov.power_off(RebootMode.HARD, run.has_error(ErrorType.POWER_MANAGEMENT))
    except ProvisionerError as exc:
        return run.transient("failed to power off before deleting node", exc)
    if result.error_message:
        return run.record_failure(ErrorType.POWER_MANAGEMENT, result.error_message)
    if result.dirty:
        return run.progress(result.requeue_after)
    return ActionResult.complete()


def handle_powering_off_before_delete(run: HostRun) -> ActionResult:
    """Upstream ``handlePoweringOffBeforeDelete``: on to deleting once off, or once powering
    off has failed too often or cannot work (no node, no credentials)."""
    result = _action_power_off_before_deleting(run)
    if result.kind == ActionKind.COMPLETE:
        run.next_state = S.DELETING
        run.set_status(error_count=0, powered_on=False)
    elif (
        result.kind == ActionKind.FAILED and run.host.status.error_count > DELETE_RETRY_LIMIT
    ) or (result.needs_registration and not run.ctx.have_credentials):
        run.next_state = S.DELETING
        return ActionResult.complete()
    return result


def handle_deleting(run: HostRun) -> ActionResult:
    """Upstream ``handleDeleting``/``actionDeleting``: remove the node, then let the
    reconciler release the Secrets and drop the finalizer."""
    host = run.host
    if BMH_FINALIZER not in host.metadata.finalizers:
        return ActionResult.delete_complete()
    try:
        result = run.prov.delete()
    except ProvisionerError as exc:
        return run.transient("failed to delete", exc)
    if result.error_message:
        return ActionResult.fail_transient(f"failed to delete: {result.error_message}")
    if result.dirty:
        return ActionResult.cont(result.requeue_after)
    run.release_secrets = True
    run.remove_finalizer = True
    finalizers = tuple(f for f in host.metadata.finalizers if f != BMH_FINALIZER)
    run.host = dataclasses.replace(
        host, metadata=dataclasses.replace(host.metadata, finalizers=finalizers)
    )
    return ActionResult.delete_complete()
