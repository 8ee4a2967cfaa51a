"""Servicing: BIOS settings and firmware updates applied to a provisioned host at reboot.

Mirrors upstream ``baremetalhost_controller.go doServiceIfNeeded`` (called from
``manageHostPower``). With a HostUpdatePolicy asking for ``onReboot`` settings and/or
updates, a provisioned or externally provisioned host that is powered off but should be on
(a reboot, or a power-on) and has pending changes goes through Ironic's ``service`` verb
instead of a plain power-on — the disk is never touched, nothing is re-deployed. While that
runs ``operationalStatus`` is ``servicing``; a failure is a ``servicing error`` with the
``ServicingError`` event; when the changes are withdrawn the provisioner aborts.

Two things upstream does here stay with the Kubernetes-side controller, because this
package is pure: clearing the HostFirmwareComponents ``status.updates`` after a failure and
saving the component versions once servicing started (``saveHostFirmwareComponents``). The
deprecated ``spec.firmware`` (``fwDirty``) is not serviced: validation rejects that field.
"""

from __future__ import annotations

from bmo.api.constants import ErrorType, OperationalStatus, ProvisioningState
from bmo.hoststate.actions import SUBRESOURCE_NOT_READY_DELAY, ActionResult
from bmo.hoststate.run import HostRun
from bmo.provisioner import ProvisionerError, ServicingData

__all__ = ["service_if_needed", "servicing_allowed"]


def servicing_allowed(run: HostRun) -> bool:
    """``manageHostPower``'s gate: a provisioned host about to power on, or servicing that
    is already under way (or failed) and must be seen through."""
    host = run.host
    provisioned = host.status.provisioning.state in (
        ProvisioningState.PROVISIONED,
        ProvisioningState.EXTERNALLY_PROVISIONED,
    )
    about_to_power_on = provisioned and not host.status.powered_on and host.spec.online
    return (
        about_to_power_on
        or host.status.operational_status == OperationalStatus.SERVICING
        or run.has_error(ErrorType.SERVICING)
    )


def service_if_needed(run: HostRun) -> ActionResult | None:
    """``doServiceIfNeeded``: ``None`` hands control back to power management."""
    host = run.host
    firmware = run.ctx.firmware
    if (firmware.live_settings or firmware.live_updates) and not firmware.ready:
        return ActionResult.fail_transient("host firmware settings/components not ready yet")
    settings_dirty = firmware.live_settings and firmware.settings_changed
    components_dirty = firmware.live_updates and firmware.components_changed
    has_changes = settings_dirty or components_dirty
    in_servicing = host.status.operational_status == OperationalStatus.SERVICING
    if not has_changes and not in_servicing and not run.has_error(ErrorType.SERVICING):
        return None
    if not in_servicing:
        # Yield and save first: the status must say ``servicing`` before Ironic is asked,
        # so a power-on never races the service verb.
        run.set_operational_status(OperationalStatus.SERVICING)
        return ActionResult.update()

    data = ServicingData(
        target_firmware_settings=firmware.target_settings if settings_dirty else {},
        actual_firmware_settings=firmware.actual_settings if settings_dirty else {},
        target_firmware_components=firmware.target_components if components_dirty else (),
        has_firmware_settings_spec=firmware.has_settings_spec,
        has_firmware_components_spec=firmware.has_components_spec,
        # What may have started servicing: the kinds the policy lets run live. Nothing
        # survives between passes to say which one did, so a withdrawal aborts once every
        # live kind's object asks for nothing (``servicing.go shouldAbortServicing``).
        triggered_by_settings=firmware.live_settings,
        triggered_by_components=firmware.live_updates,
    )
    try:
        result, _started = run.prov.service(data, has_changes, run.has_error(ErrorType.SERVICING))
    except ProvisionerError as exc:
        return run.transient("error servicing host", exc)
    if result.error_message:
        if host.status.provisioning.firmware is not None:
            run.set_provisioning(firmware=None)
        return run.record_failure(ErrorType.SERVICING, result.error_message)

    if run.clear_error(OperationalStatus.SERVICING):
        return ActionResult.update(result.requeue_after)
    if result.dirty:
        return ActionResult.cont(result.requeue_after)
    # Servicing finished: back to OK, and look again in a minute (the sub-resources'
    # controllers refresh their status from Ironic meanwhile).
    if run.clear_error(OperationalStatus.OK):
        return ActionResult.update(SUBRESOURCE_NOT_READY_DELAY)
    return None
