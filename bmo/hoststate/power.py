"""Power management and reboot annotations, controller side: upstream
``baremetalhost_controller.go`` ``manageHostPower``, ``hasRebootAnnotation``,
``getRebootAnnotationArguments`` and ``clearRebootAnnotations``.

The desired power state is ``spec.online``, except that a counted reboot annotation holds
the host off: the base ``reboot.metal3.io`` is one-shot (removed once the host is off, so it
powers back on), suffixed ``reboot.metal3.io/<key>`` ones keep it off until their owners
remove them. Any annotation asking for ``hard`` wins; a soft power-off that failed is
retried hard. In ``available`` only annotations with ``"force": true`` count. Servicing
(:mod:`bmo.hoststate.servicing`) runs here, before a provisioned host is powered back on.
"""

from __future__ import annotations

from collections.abc import Mapping

from bmo.api.annotations import (
    InvalidAnnotationError,
    RebootAnnotationArguments,
    parse_reboot_annotation,
)
from bmo.api.constants import (
    REBOOT_ANNOTATION,
    REBOOT_ANNOTATION_PREFIX,
    ErrorType,
    OperationalStatus,
    ProvisioningState,
    RebootMode,
)
from bmo.hoststate.actions import ActionResult, Metrics
from bmo.hoststate.dataimage import DATA_IMAGE_WAIT
from bmo.hoststate.run import HostRun
from bmo.hoststate.servicing import service_if_needed, servicing_allowed
from bmo.provisioner import ProvisionerError, ProvisionResult

__all__ = [
    "CLARIFY_SOFT_POWEROFF_FAILURE",
    "clear_reboot_annotation",
    "is_reboot_annotation",
    "manage_host_power",
    "reboot_requested",
]

CLARIFY_SOFT_POWEROFF_FAILURE = (
    "Continuing with hard poweroff after soft poweroff fails. More details: "
)


def is_reboot_annotation(key: str) -> bool:
    return key == REBOOT_ANNOTATION or key.startswith(REBOOT_ANNOTATION_PREFIX)


def _reboot_arguments(run: HostRun, value: str) -> RebootAnnotationArguments:
    try:
        return parse_reboot_annotation(value)
    except InvalidAnnotationError:
        run.publish(
            "InvalidAnnotationValue",
            f"could not parse reboot annotation ({value}) - invalid json, assuming soft-reboot",
        )
        return RebootAnnotationArguments(mode=RebootMode.SOFT)


def reboot_requested(run: HostRun, expect_force: bool) -> tuple[bool, str]:
    """``(a reboot annotation counts, mode)``; with ``expect_force`` only forced ones count."""
    annotations: Mapping[str, str] = run.host.annotations
    requested = False
    mode = RebootMode.SOFT
    for key in sorted(annotations):
        if not is_reboot_annotation(key):
            continue
        arguments = _reboot_arguments(run, annotations[key])
        if expect_force and not arguments.force:
            continue
        requested = True
        if arguments.mode == RebootMode.HARD:
            mode = RebootMode.HARD
    return requested, mode


def clear_reboot_annotation(run: HostRun) -> bool:
    """Remove the one-shot base annotation (suffixed ones belong to their owners)."""
    return run.remove_annotation(REBOOT_ANNOTATION)


def manage_host_power(run: HostRun) -> ActionResult:
    """Make the machine's power match the wish; used in available and provisioned states."""
    host = run.host
    try:
        hardware = run.prov.update_hardware_state()
    except ProvisionerError as exc:
        return run.transient("failed to update the host power status", exc)

    if hardware.powered_on is not None and hardware.powered_on != host.status.powered_on:
        run.set_status(powered_on=hardware.powered_on)
        if host.status.operational_status == OperationalStatus.ERROR and run.has_error(
            ErrorType.POWER_MANAGEMENT
        ):
            run.clear_error()
        return ActionResult.update()

    desired = host.spec.online
    state = host.status.provisioning.state
    provisioned = state in (ProvisioningState.PROVISIONED, ProvisioningState.EXTERNALLY_PROVISIONED)

    # A pending DataImage attach/eject goes first (upstream handleDataImageActions).
    if provisioned and desired and not host.status.powered_on and run.ctx.data_image_pending:
        return ActionResult.cont(DATA_IMAGE_WAIT)

    # The one-shot reboot has happened once the host is off: drop it so the host comes back.
    if not host.status.powered_on and clear_reboot_annotation(run):
        return ActionResult.cont()

    # A provisioned host about to come back on gets its pending firmware changes first.
    if servicing_allowed(run):
        serviced = service_if_needed(run)
        if serviced is not None:
            return serviced

    reboot, mode = reboot_requested(run, expect_force=not provisioned)
    if reboot:
        desired = False

    if host.status.powered_on == desired:
        return ActionResult.cont(run.ctx.settings.power_poll_delay)

    force = run.has_error(ErrorType.POWER_MANAGEMENT)
    try:
        result: ProvisionResult
        if desired:
            result = run.prov.power_on(force)
        else:
            if host.status.error_count > 0:
                mode = RebootMode.HARD
            result = run.prov.power_off(mode, force)
    except ProvisionerError as exc:
        return run.transient("failed to change power state", exc)

    # With power-off disabled the provisioner rebooted instead: the one-shot reboot is done.
    if host.spec.disable_power_off and clear_reboot_annotation(run):
        return ActionResult.cont()

    if result.error_message:
        message = result.error_message
        if not desired and mode == RebootMode.SOFT and not force:
            message = CLARIFY_SOFT_POWEROFF_FAILURE + message
        return run.record_failure(ErrorType.POWER_MANAGEMENT, message)

    if result.dirty:
        run.count(Metrics.POWER_CHANGE, {**run.host_labels(), "on_off": "on" if desired else "off"})
        if run.clear_error():
            return ActionResult.update(result.requeue_after)
        return ActionResult.cont(result.requeue_after)

    # Nothing left for the provisioner to do: the machine is as wanted.
    run.set_status(powered_on=host.spec.online, error_count=0)
    return ActionResult.update(run.ctx.settings.power_poll_delay)
