"""Provisioning, adoption and deprovisioning: putting an image on the disk and taking it off.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``Provision``, ``setUpForProvisioning``,
``validateNode``, ``getConfigDrive``, ``Adopt`` and ``Deprovision``, and
``pkg/provisioner/ironic/provision.go`` ``validateProvisionData``. A host whose node was
re-created after an Ironic database wipe is *adopted* (Ironic is told what is already on the
disk), never provisioned again.
"""

from __future__ import annotations

from bmo.api.constants import AutomatedCleaningMode, BootMode, ProvisioningState
from bmo.api.host import ChecksumError, Image
from bmo.ironic.configdrive import ConfigDrive, ConfigDriveError, build_config_drive
from bmo.ironic.hints import root_device_for
from bmo.ironic.instance_info import build_provision_update, deploy_steps, has_same_image
from bmo.ironic.provisioner.core import (
    DELETE_MAINTENANCE_REASON,
    LONG_DELAY,
    SHORT_DELAY,
    ProvisionerCore,
    log,
)
from bmo.ironic.states import State, Target
from bmo.ironic.updates import NodeUpdateBuilder
from bmo.ironic.views import NodeView
from bmo.provisioner.errors import ProvisionerError
from bmo.provisioner.types import AdoptData, ProvisionData, ProvisionResult

__all__ = ["ProvisionVerbs"]


class ProvisionVerbs(ProvisionerCore):
    """``provision``, ``adopt`` and ``deprovision``."""

    def provision(self, data: ProvisionData, force_reboot: bool) -> ProvisionResult:
        with self._translate("failed to provision host"):
            return self._provision(data, force_reboot)

    def _provision(self, data: ProvisionData, force_reboot: bool) -> ProvisionResult:
        problem = _validate_image(data)
        if problem:
            return self._failed(f"Validation failed: {problem}")
        node = self._get_node()
        state = node.provision_state
        image = data.image
        if state == State.DEPLOY_FAIL:
            if has_same_image(node, image):
                if not node.last_error:
                    # Ironic records the error just after the state: look again soon.
                    return self._wait(0)
                return self._failed(
                    f"Image provisioning failed{_describe(image)}: {node.last_error}"
                )
            log.info("node %s: retrying a failed deploy with a new image", node.uuid)
            return self._start_deploy(node, data)
        if state == State.MANAGEABLE:
            return self._change_state(node, Target.PROVIDE)
        if state == State.CLEAN_FAIL:
            if node.maintenance:
                return self._unset_maintenance(node)
            return self._change_state(node, Target.MANAGE)
        if state == State.AVAILABLE:
            return self._start_deploy(node, data)
        if state == State.ACTIVE:
            self._publish_event(
                "ProvisioningComplete", f"Image provisioning completed for {image.url}"
            )
            return ProvisionResult()
        if state == State.DEPLOY_WAIT and force_reboot:
            return self._change_state(node, Target.DELETED)
        return self._wait(LONG_DELAY)

    def _start_deploy(self, node: NodeView, data: ProvisionData) -> ProvisionResult:
        """Instance info, validation, then ``active`` with the config drive and deploy steps
        (``ironic.go setUpForProvisioning``, ``getConfigDrive``, ``getCustomDeploySteps``)."""
        drive: ConfigDrive | None = None
        if not data.image.is_live_iso():
            try:
                drive = build_config_drive(
                    data.host_config, self._host.namespace, self._host.name, self._host.uid
                )
            except ProvisionerError:
                raise
            except ConfigDriveError as exc:
                return self._failed(f"could not build the config drive: {exc}")
            except (LookupError, ValueError, OSError) as exc:
                # The reconciler's accessors raise for a missing Secret or key.
                return self._failed(f"could not read the config drive data: {exc}")
        builder = build_provision_update(
            node,
            image=data.image,
            custom_deploy=data.custom_deploy,
            boot_mode=data.boot_mode or BootMode.DEFAULT,
            root_device=root_device_for(data.root_device_hints, data.hardware_profile),
            instance_uuid=self._host.uid,
            config=self._config,
            pull_secret=data.image_pull_secret,
        )
        node = self._update(node, builder)
        validation = self._client.validate(node.uuid)
        problems = [
            result.reason or f"{name} validation failed"
            for name in ("boot", "deploy")
            if (result := validation.get(name)) is not None and result.result is False
        ]
        if problems:
            return self._failed("host validation error: " + "; ".join(problems))
        self._publish_event(
            "ProvisioningStarted", f"Image provisioning started for {data.image.url}"
        )
        return self._change_state(
            node,
            Target.ACTIVE,
            config_drive=drive.as_json() if drive is not None else None,
            steps=deploy_steps(data.custom_deploy),
        )

    # ------------------------------------------------------------------ adopt

    def adopt(self, data: AdoptData, restart_on_failure: bool) -> ProvisionResult:
        with self._translate("failed to adopt host"):
            node = self._get_node()
            state = node.provision_state
            if state in (State.ENROLL, State.VERIFYING):
                raise ProvisionerError(f"invalid state for adopt: {state}")
            if state == State.MANAGEABLE:
                info = node.instance_info
                has_image = "image_source" in info or "boot_iso" in info
                if data.state == ProvisioningState.DEPROVISIONING and not has_image:
                    # Freshly re-registered with nothing to adopt: Deprovision handles it.
                    return ProvisionResult()
                return self._change_state(node, Target.ADOPT)
            if state == State.ADOPTING:
                return self._wait(SHORT_DELAY)
            if state == State.ADOPT_FAIL:
                if restart_on_failure:
                    return self._change_state(node, Target.ADOPT)
                return self._failed(f"Host adoption failed: {node.last_error or ''}")
            if (
                state == State.ACTIVE
                and node.maintenance
                and not node.fault
                and node.maintenance_reason != DELETE_MAINTENANCE_REASON
            ):
                # Maintenance set by hand (no fault) is not a state bmo keeps a host in.
                return self._unset_maintenance(node)
            return ProvisionResult()

    # ------------------------------------------------------------------ deprovision

    def deprovision(
        self, restart_on_failure: bool, automated_cleaning_mode: str
    ) -> ProvisionResult:
        with self._translate("failed to deprovision host"):
            return self._deprovision(restart_on_failure, automated_cleaning_mode)

    def _deprovision(self, restart: bool, cleaning_mode: str) -> ProvisionResult:
        node = self._get_node()
        state = node.provision_state
        if state == State.ERROR:
            if not restart:
                return self._failed(node.last_error or "Deprovisioning failed")
            result = self._try_change_state(node, Target.DELETED)
            if result is not None:
                return result
            self._publish_event("DeprovisioningStarted", "Image deprovisioning restarted")
            return self._requested()
        if state == State.CLEAN_FAIL:
            if not restart:
                return self._failed(f"Cleaning failed: {node.last_error or ''}")
            if node.maintenance:
                return self._unset_maintenance(node)
            return self._change_state(node, Target.MANAGE)
        if state == State.MANAGEABLE:
            return self._change_state(node, Target.PROVIDE)
        if state == State.AVAILABLE:
            self._publish_event("DeprovisioningComplete", "Image deprovisioning completed")
            return ProvisionResult()
        if state in (State.DELETING, State.CLEANING, State.CLEAN_WAIT, State.DEPLOYING):
            return self._wait(LONG_DELAY)
        if state in (State.ACTIVE, State.DEPLOY_FAIL, State.DEPLOY_WAIT):
            wanted = cleaning_mode != AutomatedCleaningMode.DISABLED
            if node.automated_clean is not wanted:
                builder = NodeUpdateBuilder(node.as_patch_base())
                builder.set_top_level("automated_clean", wanted)
                self._update(node, builder)
                return ProvisionResult(dirty=True, requeue_after=0.0)
            result = self._try_change_state(node, Target.DELETED)
            if result is not None:
                return result
            self._publish_event("DeprovisioningStarted", "Image deprovisioning started")
            return self._requested()
        raise ProvisionerError(f"unhandled ironic state {state}")


def _validate_image(data: ProvisionData) -> str:
    """``""`` when the image is acceptable, else why not (``provision.go
    validateProvisionData``; checksum rules of ``baremetalhost_types.go Image.GetChecksum``)."""
    image = data.image
    custom = data.custom_deploy is not None and bool(data.custom_deploy.method)
    if not image.url:
        return "" if custom else "image URL is required"
    if custom and not image.checksum:
        return ""
    try:
        image.checksum_info()
    except ChecksumError as exc:
        return str(exc)
    return ""


def _describe(image: Image) -> str:
    if image.checksum:
        return f" (url: {image.url}, checksum: {image.checksum})"
    return f" (url: {image.url})"
