"""The host state machine: one pure pass over a BareMetalHost (reference §2).

``reconcile_host(host, ctx)`` runs the Go operator's ``ReconcileState`` - delayed-host
check, deletion entry, detach handling, registration on every reconcile, then the handler
for the host's provisioning state from :data:`HANDLERS` - and the deferred state-change
bookkeeping (capacity check, operation history, boot mode). It talks only to the
provisioner in ``ctx`` and returns a :class:`~bmo.hoststate.actions.HostOutcome`; loading
the host, Secrets, HardwareData, finalizers, saving and publishing are the reconciler's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from bmo.api.constants import (
    BMH_FINALIZER,
    INSPECT_ANNOTATION,
    INSPECT_ANNOTATION_DISABLED,
    ErrorType,
    InspectionMode,
    OperationalStatus,
    ProvisioningState,
    RebootMode,
)
from bmo.api.host import BareMetalHost, CredentialsStatus, Image
from bmo.api.meta import SecretReference
from bmo.api.profiles import HardwareProfileError, choose_profile_name, get_profile
from bmo.hoststate.actions import (
    PREPROV_IMAGE_RETRY_DELAY,
    SUBRESOURCE_NOT_READY_DELAY,
    UNMANAGED_RETRY_DELAY,
    ActionKind,
    ActionResult,
    HostOutcome,
    Metrics,
)
from bmo.hoststate.backoff import calculate_backoff
from bmo.hoststate.detach import check_detached_host, delay_delete_for_detached
from bmo.hoststate.power import clear_reboot_annotation, manage_host_power, reboot_requested
from bmo.hoststate.provisioning import (
    cleared_provisioning_settings,
    desired_provisioning_settings,
    desired_root_device_hints,
)
from bmo.hoststate.run import (
    FirmwareState,
    HostContext,
    HostRun,
    SecretVersion,
    StateMachineSettings,
)
from bmo.provisioner import (
    AdoptData,
    InspectData,
    ManagementAccessData,
    NeedsPreprovisioningImage,
    PrepareData,
    ProvisionData,
    ProvisionerBusy,
    ProvisionerError,
    ProvisionerNotReady,
)

__all__ = [
    "DELETE_RETRY_LIMIT",
    "HANDLERS",
    "FirmwareState",
    "HostContext",
    "SecretVersion",
    "StateMachineSettings",
    "needs_finalizer",
    "reconcile_host",
]

S = ProvisioningState

#: Deletion gives up deprovisioning / powering off after more failures than this.
DELETE_RETRY_LIMIT: Final = 3

#: States whose entry (and every pass in them) needs a free provisioner slot.
_CAPACITY_STATES: Final = frozenset({S.INSPECTING, S.PROVISIONING, S.DEPROVISIONING})

#: States entering which records the boot mode the host will use.
_BOOT_MODE_STATES: Final = frozenset({S.REGISTERING, S.INSPECTING, S.PROVISIONING})


def needs_finalizer(host: BareMetalHost) -> bool:
    """Whether the reconciler must add the host finalizer before running the machine."""
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


# --- the pipeline ----------------------------------------------------------------------------


def _reconcile_state(run: HostRun) -> ActionResult:
    delayed = _check_delayed_host(run)
    if delayed is not None:
        return delayed
    if _check_initiate_delete(run):
        return ActionResult.complete()
    detached = check_detached_host(run)
    if detached is not None:
        return detached
    registered = _ensure_registered(run)
    if registered is not None:
        run.count(Metrics.REGISTRATION_REQUIRED)
        return registered
    handler = HANDLERS.get(run.initial_state)
    if handler is None:
        return ActionResult.fail_transient(f'no handler found for state "{run.initial_state}"')
    return handler(run)


def _ensure_capacity(run: HostRun, state: str) -> ActionResult | None:
    try:
        available = run.prov.has_capacity()
    except ProvisionerError as exc:
        return run.transient("failed to determine current provisioner capacity", exc)
    return None if available else run.record_delayed(state)


def _check_delayed_host(run: HostRun) -> ActionResult | None:
    state = run.host.status.provisioning.state
    if run.host.status.operational_status == OperationalStatus.DELAYED:
        result = _ensure_capacity(run, state)
        if result is not None:
            return result
        run.clear_error()
        return ActionResult.update()
    if state in _CAPACITY_STATES:
        return _ensure_capacity(run, state)
    return None


def _check_initiate_delete(run: HostRun) -> bool:
    """Pick the state deletion starts from (reference §2.4); True ends the pass."""
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


def _update_host_state_from(run: HostRun) -> ActionResult | None:
    """Deferred bookkeeping of a state change; may turn it into "delayed" instead."""
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


def _with_dirty(result: ActionResult, changed: bool) -> ActionResult:
    """Make sure a status change made along the way gets saved."""
    if changed and result.kind == ActionKind.CONTINUE:
        return ActionResult.update(result.delay)
    return result


def _progress(run: HostRun, requeue_after: float) -> ActionResult:
    """The provisioner is still working: clear a stale error, come back later."""
    if run.clear_error():
        return ActionResult.update(requeue_after)
    return ActionResult.cont(requeue_after)


# --- registration ----------------------------------------------------------------------------


def _matches(recorded: CredentialsStatus, secret: SecretVersion) -> bool:
    return recorded.matches(secret.name, secret.namespace, secret.resource_version)


def _credentials_status(secret: SecretVersion) -> CredentialsStatus:
    return CredentialsStatus(
        credentials=SecretReference(name=secret.name, namespace=secret.namespace),
        credentials_version=secret.resource_version,
    )


def _current_image(host: BareMetalHost) -> Image | None:
    """The image provisioned, or being provisioned (Go ``getCurrentImage``)."""
    if host.status.provisioning.image.url:
        return host.status.provisioning.image
    if host.status.provisioning.state in (S.PROVISIONING, S.EXTERNALLY_PROVISIONED):
        image = host.spec.image
        if image is not None and image.url:
            return image
    return None


def _has_custom_deploy(host: BareMetalHost) -> bool:
    deployed = host.status.provisioning.custom_deploy
    if deployed is not None and deployed.method:
        return True
    if host.status.provisioning.state in (S.PROVISIONING, S.EXTERNALLY_PROVISIONED):
        wanted = host.spec.custom_deploy
        return wanted is not None and bool(wanted.method)
    return False


def _ensure_registered(run: HostRun) -> ActionResult | None:
    if not run.ctx.have_credentials:
        # Deleting without credentials: registering again could only fail.
        return None
    if run.next_state in (S.NONE, S.UNMANAGED, S.MATCH_PROFILE, S.DELETING):
        return None
    secret = run.ctx.credentials_secret
    new_credentials = secret is not None and not _matches(run.host.status.good_credentials, secret)
    if run.has_error(ErrorType.REGISTRATION) or new_credentials:
        run.record_state_begin(S.REGISTERING)
    result = _register_host(run)
    complete = result is not None and result.kind == ActionKind.COMPLETE
    if (
        (result is None or complete)
        and run.next_state != S.REGISTERING
        and run.record_state_end(S.REGISTERING)
    ):
        result = ActionResult.update()
    if complete:
        result = ActionResult.update()
    return result


def _register_host(run: HostRun) -> ActionResult | None:
    """Make sure the provisioner knows the host; ``None`` means "registered, carry on"."""
    ctx = run.ctx
    host = run.host
    dirty = False
    secret = ctx.credentials_secret
    credentials_changed = secret is not None and not _matches(host.status.tried_credentials, secret)
    if secret is not None and credentials_changed:
        run.set_status(tried_credentials=_credentials_status(secret))
        run.count(Metrics.CREDENTIALS_UPDATED)
        dirty = True

    data = ManagementAccessData(
        boot_mode=host.status.provisioning.boot_mode,
        automated_cleaning_mode=host.spec.automated_cleaning_mode,
        inspection_mode=(
            InspectionMode.DISABLED if host.inspection_disabled() else host.spec.inspection_mode
        ),
        state=host.status.provisioning.state,
        operational_status=host.status.operational_status,
        current_image=_current_image(host),
        has_custom_deploy=_has_custom_deploy(host),
        disable_power_off=host.spec.disable_power_off,
        cpu_architecture=run.architecture(),
        preprovisioning_image=ctx.preprovisioning_image,
        preprovisioning_network_data=ctx.preprovisioning_network_data,
        hardware_data=ctx.hardware_data,
    )
    try:
        result, provisioner_id = run.prov.register(
            data, credentials_changed, run.has_error(ErrorType.REGISTRATION)
        )
    except NeedsPreprovisioningImage:
        if ctx.preprovisioning_image is None:
            return ActionResult.cont(PREPROV_IMAGE_RETRY_DELAY)
        return run.record_failure(
            ErrorType.REGISTRATION, "Preprovisioning Image is not acceptable to provisioner"
        )
    except (ProvisionerNotReady, ProvisionerBusy) as exc:
        return run.transient("failed to validate BMC access", exc)
    except ProvisionerError as exc:
        run.count(Metrics.NO_MANAGEMENT_ACCESS)
        return run.transient("failed to validate BMC access", exc)

    if result.error_message:
        return run.record_failure(ErrorType.REGISTRATION, result.error_message)

    if provisioner_id and provisioner_id != run.host.status.provisioning.id:
        run.set_provisioning(id=provisioner_id)
        if run.host.status.provisioning.state == S.PREPARING:
            run.set_status(provisioning=cleared_provisioning_settings(run.host.status.provisioning))
        dirty = True

    if result.dirty:
        dirty = run.clear_error() or dirty
        return (
            ActionResult.update(result.requeue_after)
            if dirty
            else ActionResult.cont(result.requeue_after)
        )

    try:
        if _match_profile(run):
            return ActionResult.update()
    except HardwareProfileError as exc:
        return run.record_failure(ErrorType.REGISTRATION, str(exc))

    registered_new_credentials = secret is not None and not _matches(
        run.host.status.good_credentials, secret
    )
    if secret is not None and registered_new_credentials:
        run.set_status(good_credentials=_credentials_status(secret))
        run.publish("BMCAccessValidated", "Verified access to BMC")
        dirty = True
    if run.has_error(ErrorType.REGISTRATION) or registered_new_credentials:
        dirty = run.clear_error() or dirty
    return ActionResult.complete() if dirty else None


def _match_profile(run: HostRun) -> bool:
    """Record the hardware profile (once) and the root device hints it implies."""
    host = run.host
    name = choose_profile_name(
        host.status.hardware_profile, host.spec.hardware_profile, host.spec.bmc.address
    )
    get_profile(name)
    dirty = False
    if host.status.hardware_profile != name:
        run.set_status(hardware_profile=name)
        run.publish("ProfileSet", f"Hardware profile set: {name}")
        dirty = True
    hints = desired_root_device_hints(run.host)
    if run.host.status.provisioning.root_device_hints != hints:
        run.set_provisioning(root_device_hints=hints)
        dirty = True
    return dirty


# --- state handlers --------------------------------------------------------------------------


def _handle_none(run: HostRun) -> ActionResult:
    if run.host.has_bmc_details():
        run.next_state = S.REGISTERING
    else:
        run.publish("Discovered", "Discovered host with no BMC details")
        run.set_operational_status(OperationalStatus.DISCOVERED)
        run.next_state = S.UNMANAGED
        run.count(Metrics.UNMANAGED)
    return ActionResult.complete()


def _handle_unmanaged(run: HostRun) -> ActionResult:
    if run.host.has_bmc_details():
        run.next_state = S.REGISTERING
        return ActionResult.complete()
    return ActionResult.cont(UNMANAGED_RETRY_DELAY)


def _handle_registering(run: HostRun) -> ActionResult:
    # Reaching a handler at all means registration with the current credentials worked.
    if run.host.spec.externally_provisioned:
        run.next_state = S.EXTERNALLY_PROVISIONED
    elif run.host.inspection_disabled():
        run.next_state = S.PREPARING
    else:
        run.next_state = S.INSPECTING
    run.reset_error_count()
    return ActionResult.complete()


def _inspection_refresh_requested(host: BareMetalHost) -> bool:
    value = host.annotations.get(INSPECT_ANNOTATION)
    return value is not None and value != INSPECT_ANNOTATION_DISABLED


def _action_inspecting(run: HostRun) -> ActionResult:
    host = run.host
    if host.inspection_disabled():
        run.publish("InspectionSkipped", "disabled by user")
        return ActionResult.complete()
    refresh = _inspection_refresh_requested(host)
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
        return _progress(run, result.requeue_after)
    run.clear_error()
    run.set_status(hardware=details)
    if not run.deleting:
        run.hardware_data = details
    return ActionResult.complete()


def _handle_inspecting(run: HostRun) -> ActionResult:
    result = _action_inspecting(run)
    if result.kind == ActionKind.COMPLETE:
        run.next_state = S.PREPARING
        run.reset_error_count()
    return result


def _handle_match_profile(run: HostRun) -> ActionResult:
    run.next_state = S.PREPARING
    run.reset_error_count()
    return ActionResult.complete()


def _action_preparing(run: HostRun) -> ActionResult:
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


def _handle_preparing(run: HostRun) -> ActionResult:
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
            return _with_dirty(result, changed)
        return run.record_failure(ErrorType.PROVISIONING, message)
    run.clear_error()
    return ActionResult.complete()


def _handle_available(run: HostRun) -> ActionResult:
    host = run.host
    if host.spec.externally_provisioned:
        run.next_state = S.EXTERNALLY_PROVISIONED
        run.set_status(provisioning=cleared_provisioning_settings(host.status.provisioning))
        return ActionResult.complete()
    if _inspection_refresh_requested(host):
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
    result = _with_dirty(_action_manage_available(run), changed)
    if result.kind == ActionKind.COMPLETE:
        run.next_state = S.PROVISIONING
    return result


def _action_provisioning(run: HostRun) -> ActionResult:
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
        return _with_dirty(ActionResult.cont(), changed)
    if result.dirty:
        return _with_dirty(_progress(run, result.requeue_after), changed)
    if host.spec.image is not None and provisioning.image != host.spec.image:
        run.set_provisioning(image=host.spec.image)
    if host.spec.custom_deploy is not None and provisioning.custom_deploy != (
        host.spec.custom_deploy
    ):
        run.set_provisioning(custom_deploy=host.spec.custom_deploy)
    return ActionResult.complete()


def _handle_provisioning(run: HostRun) -> ActionResult:
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
        return _progress(run, result.requeue_after)
    return manage_host_power(run)


def _handle_provisioned(run: HostRun) -> ActionResult:
    if run.host.provisioning_cancelled():
        run.next_state = S.DEPROVISIONING
        return ActionResult.complete()
    return _action_manage_steady_state(run)


def _handle_externally_provisioned(run: HostRun) -> ActionResult:
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
            return _progress(run, adopted.requeue_after)
    try:
        result = run.prov.deprovision(
            run.has_error(ErrorType.PROVISIONING), host.spec.automated_cleaning_mode
        )
    except ProvisionerError as exc:
        return run.transient("failed to deprovision", exc)
    if result.error_message:
        return run.record_failure(ErrorType.PROVISIONING, result.error_message)
    if result.dirty:
        return _progress(run, result.requeue_after)
    if clear_reboot_annotation(run):
        return ActionResult.cont()
    cleared = dataclasses.replace(run.host.status.provisioning, image=Image(), custom_deploy=None)
    run.set_status(provisioning=cleared_provisioning_settings(cleared))
    return ActionResult.complete()


def _handle_deprovisioning(run: HostRun) -> ActionResult:
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


def _action_power_off_before_deleting(run: HostRun) -> ActionResult:
    if run.host.spec.disable_power_off:
        return ActionResult.complete()
    try:
        result = run.prov.power_off(RebootMode.HARD, run.has_error(ErrorType.POWER_MANAGEMENT))
    except ProvisionerError as exc:
        return run.transient("failed to power off before deleting node", exc)
    if result.error_message:
        return run.record_failure(ErrorType.POWER_MANAGEMENT, result.error_message)
    if result.dirty:
        return _progress(run, result.requeue_after)
    return ActionResult.complete()


def _handle_powering_off_before_delete(run: HostRun) -> ActionResult:
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


def _handle_deleting(run: HostRun) -> ActionResult:
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


Handler = Callable[[HostRun], ActionResult]

#: Provisioning state -> handler. ``ready`` is the deprecated spelling of ``available``.
HANDLERS: Final[Mapping[str, Handler]] = MappingProxyType(
    {
        S.NONE: _handle_none,
        S.UNMANAGED: _handle_unmanaged,
        S.REGISTERING: _handle_registering,
        S.INSPECTING: _handle_inspecting,
        S.EXTERNALLY_PROVISIONED: _handle_externally_provisioned,
        S.MATCH_PROFILE: _handle_match_profile,
        S.PREPARING: _handle_preparing,
        S.AVAILABLE: _handle_available,
        S.READY: _handle_available,
        S.PROVISIONING: _handle_provisioning,
        S.PROVISIONED: _handle_provisioned,
        S.DEPROVISIONING: _handle_deprovisioning,
        S.POWERING_OFF_BEFORE_DELETE: _handle_powering_off_before_delete,
        S.DELETING: _handle_deleting,
    }
)
