"""The detached annotation: take a host out of the provisioner untouched.

Mirrors upstream ``host_state_machine.go`` (``checkDetachedHost``, ``hasDetachedAnnotation``,
``delayDeleteForDetachedHost``) and ``baremetalhost_controller.go detachHost``.

A detached host keeps its provisioning state; only ``operationalStatus`` says
``detached``. Detaching is allowed from the stable states, or from any state when the
annotation says ``"force": true``. Removing the annotation re-attaches: the status goes back
to ``OK`` and the next registration re-creates the node (and adoption brings it back).
"""

from __future__ import annotations

from bmo.api.annotations import DetachedAnnotationArguments, parse_detached_annotation
from bmo.api.constants import (
    DETACHED_ANNOTATION,
    DetachedDeleteAction,
    ErrorType,
    OperationalStatus,
    ProvisioningState,
)
from bmo.api.host import BareMetalHost
from bmo.hoststate.actions import DETACHED_POLL_DELAY, ActionResult
from bmo.hoststate.run import HostRun
from bmo.provisioner import ProvisionerError

__all__ = [
    "DETACHABLE_STATES",
    "check_detached_host",
    "delay_delete_for_detached",
    "detached_arguments",
    "has_detached_annotation",
]

#: States a host may be detached from without ``force``.
DETACHABLE_STATES = frozenset(
    {
        ProvisioningState.PROVISIONED,
        ProvisioningState.EXTERNALLY_PROVISIONED,
        ProvisioningState.READY,
        ProvisioningState.AVAILABLE,
    }
)


def has_detached_annotation(host: BareMetalHost) -> bool:
    return DETACHED_ANNOTATION in host.annotations


def detached_arguments(host: BareMetalHost) -> DetachedAnnotationArguments | None:
    """The annotation's arguments (defaults for an unparsable value), ``None`` if absent."""
    value = host.annotations.get(DETACHED_ANNOTATION)
    if value is None:
        return None
    return parse_detached_annotation(value)


def delay_delete_for_detached(host: BareMetalHost) -> bool:
    """Whether deleting a detached host must wait (``deleteAction: delay``, or the
    annotation is already gone and the host is about to be re-attached)."""
    arguments = detached_arguments(host)
    return arguments is None or arguments.delete_action == DetachedDeleteAction.DELAY


def _detach(run: HostRun, force: bool) -> ActionResult:
    try:
        result = run.prov.detach(force)
    except ProvisionerError as exc:
        return run.transient("failed to detach", exc)
    if result.error_message:
        return run.record_failure(ErrorType.DETACH, result.error_message)
    if result.dirty:
        if run.has_error(ErrorType.DETACH) and run.clear_error():
            return ActionResult.update(result.requeue_after)
        return ActionResult.cont(result.requeue_after)
    if run.has_error(ErrorType.DETACH):
        run.clear_error()
        run.reset_error_count()
    if run.set_operational_status(OperationalStatus.DETACHED):
        return ActionResult.update(DETACHED_POLL_DELAY)
    return ActionResult.cont(DETACHED_POLL_DELAY)


def check_detached_host(run: HostRun) -> ActionResult | None:
    """Detach when asked (and allowed), or undo a detach whose annotation is gone.

    ``None`` means the pass carries on as for an attached host.
    """
    host = run.host
    state = host.status.provisioning.state
    if has_detached_annotation(host):
        if state in DETACHABLE_STATES:
            return _detach(run, force=False)
        if state != ProvisioningState.DELETING:
            arguments = detached_arguments(host)
            if arguments is not None and arguments.force:
                return _detach(run, force=True)
            # Otherwise wait for the current operation to finish before detaching.
    if run.has_error(ErrorType.DETACH):
        run.clear_error()
        run.reset_error_count()
        return ActionResult.update()
    if host.status.operational_status == OperationalStatus.DETACHED:
        run.set_operational_status(
            OperationalStatus.ERROR if host.status.error_type else OperationalStatus.OK
        )
        return ActionResult.update()
    return None
