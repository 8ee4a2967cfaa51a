"""Inspection: the ``inspecting`` state and the ``inspect.metal3.io`` annotation.

Upstream splits it as everywhere: ``host_state_machine.go handleInspecting`` moves the host
on, ``baremetalhost_controller.go actionInspecting`` drives the provisioner. The inspected
hardware goes into ``status.hardware`` and, unless the host is being deleted, into the
HardwareData object the reconciler writes.
"""

from __future__ import annotations

from bmo.api.constants import (
    INSPECT_ANNOTATION,
    INSPECT_ANNOTATION_DISABLED,
    ErrorType,
    ProvisioningState,
)
from bmo.api.host import BareMetalHost
from bmo.hoststate.actions import ActionKind, ActionResult
from bmo.hoststate.power import clear_reboot_annotation, reboot_requested
from bmo.hoststate.run import HostRun
from bmo.provisioner import InspectData, ProvisionerError

__all__ = ["handle_inspecting", "inspection_refresh_requested"]

S = ProvisioningState


def inspection_refresh_requested(host: BareMetalHost) -> bool:
    """Upstream ``inspectionRefreshRequested``: ``inspect.metal3.io`` asks for a new
    inspection (any value but ``disabled``)."""
    value = host.annotations.get(INSPECT_ANNOTATION)
    return value is not None and value != INSPECT_ANNOTATION_DISABLED


def _action_inspecting(run: HostRun) -> ActionResult:
    """Upstream ``baremetalhost_controller.go actionInspecting``: start or poll the
    inspection, honour the inspect and forced reboot annotations, store what was found."""
    host = run.host
    if host.inspection_disabled():
        run.publish("InspectionSkipped", "disabled by user")
        return ActionResult.complete()
    refresh = inspection_refresh_requested(host)
    force_reboot, _ = reboot_requested(run, expect_force=True)
    data = InspectData(
        boot_mode=host.status.provisioning.boot_mode,
        cpu_architecture=run.architecture(),
        inspection_mode=host.spec.inspection_mode,
    )
    try:
        result, started, details = run.prov.inspect_hardware(
            data, run.has_error(ErrorType.INSPECTION), refresh, force_reboot
        )
    except ProvisionerError as exc:
        return run.transient("hardware inspection failed", exc)
    if result.error_message:
        return run.record_failure(ErrorType.INSPECTION, result.error_message)
    if started:
        # Inspection (re)started: the request annotations have been honoured.
        removed = run.remove_annotation(INSPECT_ANNOTATION) if refresh else False
        removed = clear_reboot_annotation(run) or removed
        if removed:
            return ActionResult.cont()
    if result.dirty or details is None:
        return run.progress(result.requeue_after)
    run.clear_error()
    run.set_status(hardware=details)
    if not run.deleting:
        run.hardware_data = details
    return ActionResult.complete()


def handle_inspecting(run: HostRun) -> ActionResult:
    """Upstream ``handleInspecting``: once inspected, prepare the host."""
    result = _action_inspecting(run)
    if result.kind == ActionKind.COMPLETE:
        run.next_state = S.PREPARING
        run.reset_error_count()
    return result
