"""Provisioning and deprovisioning: the states from ``preparing`` to ``deprovisioning``.

The state handlers mirror upstream ``host_state_machine.go`` (``handlePreparing``,
``handleAvailable``, ``handleProvisioning``, ``handleProvisioned``,
``handleExternallyProvisioned``, ``handleDeprovisioning``); the actions they run mirror
``baremetalhost_controller.go`` (``actionPreparing``, ``actionManageAvailable``,
``actionProvisioning``, ``actionManageSteadyState``, ``actionDeprovisioning``). What the
host is prepared with comes from :mod:`bmo.hoststate.provisioning_settings`.
"""

from __future__ import annotations

import dataclasses

from bmo.api.constants import ErrorType, OperationalStatus, ProvisioningState
from bmo.api.host import Image
from bmo.api.profiles import HardwareProfileError, get_profile
from bmo.hoststate.actions import (
    SUBRESOURCE_NOT_READY_DELAY,
    ActionKind,
    ActionResult,
    Metrics,
    with_dirty,
)
from bmo.hoststate.deletion import DELETE_RETRY_LIMIT
from bmo.hoststate.inspection import inspection_refresh_requested
from bmo.hoststate.power import clear_reboot_annotation, manage_host_power, reboot_requested
from bmo.hoststate.provisioning_settings import (
    cleared_provisioning_settings,
    desired_provisioning_settings,
)
from bmo.hoststate.run import HostRun
from bmo.provisioner import AdoptData, PrepareData, ProvisionData, ProvisionerError

__all__ = [
    "handle_available",
    "handle_deprovisioning",
    "handle_externally_provisioned",
    "handle_preparing",
    "handle_provisioned",
    "handle_provisioning",
]

S = ProvisioningState


def _action_preparing(run: HostRun) -> ActionResult:
    """Upstream ``actionPreparing``: manual cleaning to apply RAID, firmware settings and
    components; the settings are recorded in status only once cleaning started."""
    host = run.host
    try:
        settings_dirty, wanted = desired_provisioning_settings(host)
    except HardwareProfileError as exc:
        return ActionResult.fail_transient(
            f"could not determine the host provisioning settings: {exc}", exc
        )
    firmware = run.ctx.firmware
    if not firmware.ready:
        return ActionResult.cont(SUBRESOURCE_NOT_READY_DELAY)
    data = PrepareData(
        target_raid_config=wanted.raid,
        actual_raid_config=host.status.provisioning.raid,
        root_device_hints=wanted.root_device_hints,
        firmware_config=wanted.firmware,
    )
    if run.has_error(ErrorType.PREPARATION):
        # The last manual cleaning failed: whatever RAID exists is suspect, redo it.
        data = dataclasses.replace(data, actual_raid_config=None)
        settings_dirty = True
    if firmware.settings_changed:
        data = dataclasses.replace(
            data,
            target_firmware_settings=firmware.target_settings,
            actual_firmware_settings=firmware.actual_settings,
        )
    if firmware.components_changed:
        data = dataclasses.replace(data, target_firmware_components=firmware.target_components)
    unprepared = settings_dirty or firmware.settings_changed or firmware.components_changed
    try:
        result, started = run.prov.prepare(data, unprepared, run.has_error(ErrorType.PREPARATION))
    except ProvisionerError as exc:
        return run.transient("error preparing host", exc)
    if result.error_message:
        if settings_dirty:
            run.set_status(provisioning=cleared_provisioning_settings(run.host.status.provisioning))
        return run.record_failure(ErrorType.PREPARATION, result.error_message)
    if settings_dirty and started:
        run.set_provisioning(
            root_device_hints=wanted.root_device_hints, raid=wanted.raid, firmware=wanted.firmware
        )
    if started and run.clear_error():
        settings_dirty = True
    if result.dirty:
        if settings_dirty:
            return ActionResult.update(result.requeue_after)
        return ActionResult.cont(result.requeue_after)
    return ActionResult.complete()


def handle_preparing(run: HostRun) -> ActionResult:
    """Upstream ``handlePreparing``: once prepared, the host is available."""
    result = _action_preparing(run)
    if result.kind == ActionKind.COMPLETE:
        run.reset_error_count()
        run.next_state = S.AVAILABLE
    return result


def _retry_limit_message(count: int, limit: int) -> str:
    return (
        f"provisioning failed {count} times, retry limit ({limit}) reached; "
        "change image or reset provisioningFailCount to retry"
    )


def _action_manage_available(run: HostRun) -> ActionResult:
    """Upstream ``actionManageAvailable``: keep power as wished until an image is asked
    for, then start provisioning unless the retry limit was reached."""
    host = run.host
    if not host.needs_provisioning():
        return manage_host_power(run)
    changed = False
    if host.status.last_attempted_image != host.spec.image and host.status.provisioning_fail_count:
        # A different image deserves a fresh set of attempts.
        run.set_status(provisioning_fail_count=0)
        changed = True
    limit = run.ctx.settings.max_provisioning_retries
    fail_count = run.host.status.provisioning_fail_count
    if limit > 0 and fail_count >= limit:
        message = _retry_limit_message(fail_count, limit)
        if run.has_error(ErrorType.PROVISIONING) and run.host.status.error_message == message:
            # Recorded once; power is still managed, but the error stays until the image
            # changes or the count is reset.
            result = manage_host_power(run)
            if not run.has_error(ErrorType.PROVISIONING):
                run.set_status(
                    operational_status=OperationalStatus.ERROR,
                    error_type=ErrorType.PROVISIONING,
                    error_message=message,
                )
            return with_dirty(result, changed)
        return run.record_failure(ErrorType.PROVISIONING, message)
    run.clear_error()
    return ActionResult.complete()


def handle_available(run: HostRun) -> ActionResult:
    """Upstream ``handleAvailable`` (also for the deprecated ``ready``): adopt as externally
    provisioned, re-inspect, re-prepare or provision, whichever the spec now asks for."""
    host = run.host
    if host.spec.externally_provisioned:
        run.next_state = S.EXTERNALLY_PROVISIONED
        run.set_status(provisioning=cleared_provisioning_settings(host.status.provisioning))
        return ActionResult.complete()
    if inspection_refresh_requested(host):
        run.next_state = S.INSPECTING
        return ActionResult.complete()
    try:
        settings_dirty, _ = desired_provisioning_settings(host)
    except HardwareProfileError as exc:
        return ActionResult.fail_transient(
            f"could not determine the host provisioning settings: {exc}", exc
        )
    if settings_dirty:
        run.next_state = S.PREPARING
        return ActionResult.complete()
    firmware = run.ctx.firmware
    if not firmware.ready:
        return ActionResult.fail_transient("host firmware settings/components not ready yet")
    if firmware.settings_changed or firmware.components_changed:
        run.next_state = S.PREPARING
        return ActionResult.complete()
    changed = False
    no_image = host.spec.image is None or not host.spec.image.url
    if no_image and (
        host.status.provisioning_fail_count or host.status.last_attempted_image is not None
    ):
        run.set_status(provisioning_fail_count=0, last_attempted_image=None)
        changed = True
    result = with_dirty(_action_manage_available(run), changed)
    if result.kind == ActionKind.COMPLETE:
        run.next_state = S.PROVISIONING
    return result


def _action_provisioning(run: HostRun) -> ActionResult:
    """Upstream ``actionProvisioning``: deploy the image (or custom deploy) and record it."""
    host = run.host
    try:
        profile = get_profile(host.status.hardware_profile)
    except HardwareProfileError as exc:
        return ActionResult.fail_transient(
            f"could not start provisioning with bad hardware profile "
            f"{host.status.hardware_profile}: {exc}",
            exc,
        )
    force_reboot, _ = reboot_requested(run, expect_force=True)
    if run.ctx.image_auth_error:
        return run.record_failure(ErrorType.PROVISIONING, run.ctx.image_auth_error)
    changed = False
    if host.status.last_attempted_image != host.spec.image:
        run.set_status(last_attempted_image=host.spec.image)
        changed = True
    provisioning = run.host.status.provisioning
    data = ProvisionData(
        image=host.spec.image if host.spec.image is not None else Image(),
        hardware_profile=profile,
        custom_deploy=host.spec.custom_deploy,
        boot_mode=provisioning.boot_mode,
        root_device_hints=provisioning.root_device_hints,
        raid=provisioning.raid,
        host_config=run.ctx.host_config,
        image_pull_secret=run.ctx.image_pull_secret,
    )
    try:
        result = run.prov.provision(data, force_reboot)
    except ProvisionerError as exc:
        return run.transient("failed to provision", exc)
    if result.error_message:
        return run.record_failure(ErrorType.PROVISIONING, result.error_message)
    if clear_reboot_annotation(run):
        return with_dirty(ActionResult.cont(), changed)
    if result.dirty:
        return with_dirty(run.progress(result.requeue_after), changed)
    if host.spec.image is not None and provisioning.image != host.spec.image:
        run.set_provisioning(image=host.spec.image)
    if host.spec.custom_deploy is not None and provisioning.custom_deploy != (
        host.spec.custom_deploy
    ):
        run.set_provisioning(custom_deploy=host.spec.custom_deploy)
    return ActionResult.complete()


def handle_provisioning(run: HostRun) -> ActionResult:
    """Upstream ``handleProvisioning``: a failed or cancelled deploy is deprovisioned."""
    host = run.host
    if host.status.error_type or host.provisioning_cancelled():
        if host.status.error_type:
            run.set_status(provisioning_fail_count=host.status.provisioning_fail_count + 1)
        run.next_state = S.DEPROVISIONING
        return ActionResult.complete()
    result = _action_provisioning(run)
    if result.kind == ActionKind.COMPLETE:
        run.next_state = S.PROVISIONED
        run.set_status(error_count=0, provisioning_fail_count=0)
    return result


def _action_manage_steady_state(run: HostRun) -> ActionResult:
    """Upstream ``actionManageSteadyState``: adopt a re-created node, then manage power."""
    try:
        result = run.prov.adopt(
            AdoptData(state=run.host.status.provisioning.state),
            run.has_error(ErrorType.PROVISIONED_REGISTRATION),
        )
    except ProvisionerError as exc:
        return run.transient("failed to adopt host", exc)
    if result.error_message:
        return run.record_failure(ErrorType.PROVISIONED_REGISTRATION, result.error_message)
    if result.dirty:
        return run.progress(result.requeue_after)
    return manage_host_power(run)


def handle_provisioned(run: HostRun) -> ActionResult:
    """Upstream ``handleProvisioned``: steady state until the image is taken away."""
    if run.host.provisioning_cancelled():
        run.next_state = S.DEPROVISIONING
        return ActionResult.complete()
    return _action_manage_steady_state(run)


def handle_externally_provisioned(run: HostRun) -> ActionResult:
    """Upstream ``handleExternallyProvisioned``: steady state while the spec says so."""
    host = run.host
    if host.spec.externally_provisioned:
        return _action_manage_steady_state(run)
    # Leaving externally provisioned: record what runs so it is not deprovisioned for nothing.
    if host.spec.image is not None:
        run.set_provisioning(image=host.spec.image)
    if host.spec.custom_deploy is not None:
        run.set_provisioning(custom_deploy=host.spec.custom_deploy)
    run.next_state = S.PROVISIONED
    return ActionResult.complete()


def _action_deprovisioning(run: HostRun) -> ActionResult:
    """Upstream ``actionDeprovisioning``: adopt if needed, clean, forget the image."""
    host = run.host
    provisioning = host.status.provisioning
    if provisioning.image.url or provisioning.custom_deploy is not None:
        # The node may have been re-created mid-way: adopt it before cleaning it.
        try:
            adopted = run.prov.adopt(
                AdoptData(state=provisioning.state),
                run.has_error(ErrorType.PROVISIONED_REGISTRATION),
            )
        except ProvisionerError as exc:
            return run.transient("failed to adopt host", exc)
        if adopted.error_message:
            return run.record_failure(ErrorType.PROVISIONED_REGISTRATION, adopted.error_message)
        if adopted.dirty:
            return run.progress(adopted.requeue_after)
    try:
        result = run.prov.deprovision(
            run.has_error(ErrorType.PROVISIONING), host.spec.automated_cleaning_mode
        )
    except ProvisionerError as exc:
        return run.transient("failed to deprovision", exc)
    if result.error_message:
        return run.record_failure(ErrorType.PROVISIONING, result.error_message)
    if result.dirty:
        return run.progress(result.requeue_after)
    if clear_reboot_annotation(run):
        return ActionResult.cont()
    cleared = dataclasses.replace(run.host.status.provisioning, image=Image(), custom_deploy=None)
    run.set_status(provisioning=cleared_provisioning_settings(cleared))
    return ActionResult.complete()


def handle_deprovisioning(run: HostRun) -> ActionResult:
    """Upstream ``handleDeprovisioning``: back to available, or on towards deletion (giving
    up cleaning after repeated failures rather than blocking the delete)."""
    result = _action_deprovisioning(run)
    if not run.deleting:
        if result.kind == ActionKind.COMPLETE:
            run.next_state = S.AVAILABLE
            run.reset_error_count()
        return result
    if result.kind == ActionKind.COMPLETE:
        run.next_state = S.POWERING_OFF_BEFORE_DELETE
        run.reset_error_count()
    elif result.kind == ActionKind.FAILED and run.host.status.error_count > DELETE_RETRY_LIMIT:
        # Deletion was asked for: give up cleaning rather than block it forever.
        run.next_state = S.POWERING_OFF_BEFORE_DELETE
        run.count(Metrics.DELETE_WITHOUT_DEPROVISIONING)
        return ActionResult.complete()
    elif result.needs_registration and not run.ctx.have_credentials:
        # No node and no credentials to make one: nothing left to clean.
        run.next_state = S.DELETING
        return ActionResult.complete()
    return result
