"""Registration: the host becomes known to the provisioner, and the states before inspection.

:func:`ensure_registered` runs on every pass before the state handler, as upstream's
``host_state_machine.go ensureRegistered`` does, so a re-created Ironic node or changed
credentials are noticed in any state; the registration itself (credentials bookkeeping, the
provisioner's ``register``, the hardware profile) is ``baremetalhost_controller.go
registerHost`` and ``matchProfile``. The state handlers here are upstream's ``handleNone``,
``handleUnmanaged``, ``handleRegistering`` and ``handleMatchProfile``.
"""

from __future__ import annotations

from bmo.api.constants import ErrorType, InspectionMode, OperationalStatus, ProvisioningState
from bmo.api.host import BareMetalHost, CredentialsStatus, Image
from bmo.api.meta import SecretReference
from bmo.api.profiles import HardwareProfileError, choose_profile_name, get_profile
from bmo.hoststate.actions import (
    PREPROV_IMAGE_RETRY_DELAY,
    UNMANAGED_RETRY_DELAY,
    ActionKind,
    ActionResult,
    Metrics,
)
from bmo.hoststate.provisioning_settings import (
    cleared_provisioning_settings,
    desired_root_device_hints,
)
from bmo.hoststate.run import HostRun, SecretVersion
from bmo.provisioner import (
    ManagementAccessData,
    NeedsPreprovisioningImage,
    ProvisionerBusy,
    ProvisionerError,
    ProvisionerNotReady,
)

__all__ = [
    "ensure_registered",
    "handle_match_profile",
    "handle_none",
    "handle_registering",
    "handle_unmanaged",
]

S = ProvisioningState


def _matches(recorded: CredentialsStatus, secret: SecretVersion) -> bool:
    return recorded.matches(secret.name, secret.namespace, secret.resource_version)


def _credentials_status(secret: SecretVersion) -> CredentialsStatus:
    return CredentialsStatus(
        credentials=SecretReference(name=secret.name, namespace=secret.namespace),
        credentials_version=secret.resource_version,
    )


def _current_image(host: BareMetalHost) -> Image | None:
    """The image provisioned, or being provisioned (upstream ``getCurrentImage``)."""
    if host.status.provisioning.image.url:
        return host.status.provisioning.image
    if host.status.provisioning.state in (S.PROVISIONING, S.EXTERNALLY_PROVISIONED):
        image = host.spec.image
        if image is not None and image.url:
            return image
    return None


def _has_custom_deploy(host: BareMetalHost) -> bool:
    """Upstream ``hasCustomDeploy``: a custom deploy ran, or is running."""
    deployed = host.status.provisioning.custom_deploy
    if deployed is not None and deployed.method:
        return True
    if host.status.provisioning.state in (S.PROVISIONING, S.EXTERNALLY_PROVISIONED):
        wanted = host.spec.custom_deploy
        return wanted is not None and bool(wanted.method)
    return False


def ensure_registered(run: HostRun) -> ActionResult | None:
    """Upstream ``host_state_machine.go ensureRegistered``: register on every pass (with
    fresh credentials, or after a registration error, timing it as a registration);
    ``None`` means "registered, carry on to the state handler"."""
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
    """Upstream ``baremetalhost_controller.go registerHost``: make sure the provisioner knows
    the host with the current credentials; ``None`` means "registered, carry on"."""
    ctx = run.ctx
    host = run.host
    dirty = False
    secret = ctx.credentials_secret
    credentials_changed = secret is not None and not _matches(host.status.tried_credentials, secret)
    if secret is not None and credentials_changed:
        run.set_status(tried_credentials=_credentials_status(secret))
        run.count(Metrics.CREDENTIALS_UPDATED)
        dirty = True

    if ctx.preprovisioning_image_error:
        # ``baremetalhost_controller.go registerHost``: an image that failed to build (or
        # no acceptable format) stops registration before the provisioner is asked.
        return run.record_failure(ErrorType.REGISTRATION, ctx.preprovisioning_image_error)

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
            # Upstream counts waitingForPreprovImage here but never registers that metric,
            # so nothing is exposed for it.
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
    """Upstream ``baremetalhost_controller.go matchProfile``: record the hardware profile
    (once) and the root device hints it implies."""
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


def handle_none(run: HostRun) -> ActionResult:
    """Upstream ``handleNone``: a new host registers, or waits unmanaged without a BMC."""
    if run.host.has_bmc_details():
        run.next_state = S.REGISTERING
    else:
        run.publish("Discovered", "Discovered host with no BMC details")
        run.set_operational_status(OperationalStatus.DISCOVERED)
        run.next_state = S.UNMANAGED
        run.count(Metrics.UNMANAGED)
    return ActionResult.complete()


def handle_unmanaged(run: HostRun) -> ActionResult:
    """Upstream ``handleUnmanaged``/``actionUnmanaged``: register once BMC details appear."""
    if run.host.has_bmc_details():
        run.next_state = S.REGISTERING
        return ActionResult.complete()
    return ActionResult.cont(UNMANAGED_RETRY_DELAY)


def handle_registering(run: HostRun) -> ActionResult:
    """Upstream ``handleRegistering``: pick the first state after a registration."""
    # Reaching a state handler at all means registration with the current credentials worked.
    if run.host.spec.externally_provisioned:
        run.next_state = S.EXTERNALLY_PROVISIONED
    elif run.host.inspection_disabled():
        run.next_state = S.PREPARING
    else:
        run.next_state = S.INSPECTING
    run.reset_error_count()
    return ActionResult.complete()


def handle_match_profile(run: HostRun) -> ActionResult:
    """Upstream ``handleMatchProfile``: a state older hosts may still be in; move on."""
    run.next_state = S.PREPARING
    run.reset_error_count()
    return ActionResult.complete()
