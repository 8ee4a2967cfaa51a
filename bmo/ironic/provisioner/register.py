"""Registration: find the host's node or (re-)create it, and keep it matching the host.

Mirrors upstream ``pkg/provisioner/ironic/register.go`` (``Register``, ``enrollNode``,
``ensurePort``, ``createPortsFromHardwareData``, ``bmcAddressMatches``) and the parts of
``pkg/provisioner/ironic/ironic.go`` it calls (``findExistingHost``, ``configureNode``,
``setDeployImage``, ``setExternalURL``). ``register`` runs on every reconcile: nothing is
remembered between reconciles except what Ironic stores, so this is where a node Ironic lost
is re-created (UUID, then ``namespace~name``, then the legacy name, then the boot MAC, see
:meth:`bmo.ironic.client.IronicClient.find_node`) and a provisioned host's node is given
back the image it runs, ready to be adopted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import yaml

from bmo.api.bmc import AccessDetails, BMCError
from bmo.api.constants import (
    AutomatedCleaningMode,
    BootMode,
    InspectionMode,
    OperationalStatus,
    ProvisioningState,
)
from bmo.api.host import ChecksumError
from bmo.api.preprovisioningimage import PreprovisioningImageFormat
from bmo.ironic.capabilities import build_capabilities
from bmo.ironic.configdrive import ConfigDriveError
from bmo.ironic.errors import Conflict, MACConflict
from bmo.ironic.instance_info import apply_image
from bmo.ironic.microversion import DISABLE_POWER_OFF_VERSION
from bmo.ironic.provisioner.core import (
    DEFAULT_INSPECT_INTERFACE,
    SHORT_DELAY,
    ProvisionerCore,
    log,
)
from bmo.ironic.states import State, Target
from bmo.ironic.updates import NodeUpdateBuilder, is_secret_key
from bmo.ironic.views import NodeView
from bmo.provisioner.errors import NeedsPreprovisioningImage, ProvisionerError
from bmo.provisioner.types import ManagementAccessData, ProvisionResult

__all__ = ["RegistrationVerbs"]

#: Ports are only (re)created where Ironic accepts port changes (``register.go Register``).
_PORT_STATES: Final = frozenset(
    {
        State.ENROLL,
        State.MANAGEABLE,
        State.AVAILABLE,
        State.ACTIVE,
        State.ADOPT_FAIL,
        State.INSPECT_FAIL,
        State.CLEAN_FAIL,
        State.DEPLOY_FAIL,
        State.SERVICE_FAIL,
        State.ERROR,
    }
)
#: Registration leaves nodes in these states alone: a conductor holds them.
_HANDS_OFF_STATES: Final = frozenset(
    {
        State.CLEAN_WAIT,
        State.CLEANING,
        State.DEPLOY_WAIT,
        State.DEPLOYING,
        State.INSPECTING,
        State.ADOPTING,
        State.DELETING,
        State.SERVICING,
    }
)


class RegistrationVerbs(ProvisionerCore):
    """``register``: the node exists, names this host, and has its BMC and deploy settings."""

    def register(
        self, data: ManagementAccessData, credentials_changed: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, str]:
        with self._translate("failed to register host"):
            return self._register(data, credentials_changed, restart_on_failure)

    def preprovisioning_image_formats(self) -> tuple[str, ...] | None:
        """``ironic.go PreprovisioningImageFormats``: ``None`` without an image builder;
        else ISO first where the BMC boots virtual media, then initrd."""
        if not self._preprov_image_builder:
            return None
        try:
            access = self._access()
        except BMCError as exc:
            raise ProvisionerError(str(exc)) from exc
        formats: list[str] = []
        if access.supports_iso_preprovisioning:
            formats.append(PreprovisioningImageFormat.ISO)
        formats.append(PreprovisioningImageFormat.INITRD)
        return tuple(formats)

    def _precheck(self, data: ManagementAccessData) -> tuple[AccessDetails | None, str]:
        """The checks of ``register.go Register`` before any Ironic call; ``(access, error)``."""
        try:
            access = self._access()
            self._host.bmc_credentials.validate()
        except BMCError as exc:
            return None, str(exc)
        kind = access.type
        if (data.boot_mode or BootMode.DEFAULT) == BootMode.UEFI_SECURE_BOOT and (
            not access.supports_secure_boot
        ):
            return None, f"BMC driver {kind} does not support secure boot"
        if access.requires_provisioning_network and self._config.provisioning_network_disabled:
            return None, f"BMC driver {kind} requires a provisioning network"
        if data.disable_power_off and not self._supports(DISABLE_POWER_OFF_VERSION):
            return None, (
                "current ironic version does not support DisablePowerOff, refusing to manage node"
            )
        if data.inspection_mode == InspectionMode.FAST and not access.supports_fast_inspection:
            return None, f"BMC driver {kind} does not support fast (out-of-band) inspection"
        needs_mac = access.needs_mac or data.inspection_mode == InspectionMode.DISABLED
        if needs_mac and not self._host.boot_mac_address:
            return None, f"BMC driver {kind} requires a BootMACAddress value"
        return access, ""

    def _driver_info(self, access: AccessDetails) -> dict[str, Any]:
        """BMC access details plus ``external_http_url`` (``ironic.go setExternalURL``)."""
        info = access.driver_info(self._host.bmc_credentials)
        external_v6 = self._config.external_url_v6
        if external_v6 and ":" in access.address.hostname:
            # An IPv6 BMC fetches images from Ironic's IPv6 URL (literal addresses only:
            # bmo does not resolve BMC names).
            info["external_http_url"] = external_v6
        return info

    def _register(
        self, data: ManagementAccessData, credentials_changed: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, str]:
        access, problem = self._precheck(data)
        if access is None:
            return self._failed(problem), self._node_uuid
        driver_info = self._driver_info(access)
        try:
            network_data = _parse_network_data(data.preprovisioning_network_data)
        except ConfigDriveError as exc:
            return self._failed(str(exc)), self._node_uuid
        try:
            node = self._client.find_node(
                uuid=self._node_uuid or None,
                name=self.node_name,
                legacy_name=self._host.name,
                boot_mac=self._host.boot_mac_address or None,
            )
        except MACConflict as exc:
            return self._failed(str(exc)), self._node_uuid
        if node is None:
            node = self._enroll(data, access, driver_info)
        else:
            node = self._update_identity(node, data, driver_info, credentials_changed)
        self._node_uuid = node.uuid
        self._node = node
        uuid = node.uuid

        if node.provision_state in _PORT_STATES:
            self._ensure_ports(node, data)
        if not self._preprov_image_builder:
            builder = NodeUpdateBuilder(node.as_patch_base())
            builder.set_top_level("network_data", network_data)
            node = self._update(node, builder, converges=True)

        state = node.provision_state
        if state == State.ENROLL:
            if node.last_error and not (credentials_changed or restart_on_failure):
                return self._failed(node.last_error), uuid
            if node.target_provision_state in (Target.MANAGE, State.MANAGEABLE):
                return self._wait(SHORT_DELAY), uuid
            return self._change_state(node, Target.MANAGE), uuid
        if state == State.VERIFYING:
            return self._wait(SHORT_DELAY), uuid
        if state in _HANDS_OFF_STATES:
            return ProvisionResult(), uuid
        return self._configure(node, data, access), uuid

    def _enroll(
        self, data: ManagementAccessData, access: AccessDetails, driver_info: Mapping[str, Any]
    ) -> NodeView:
        """Create the node (``register.go enrollNode``); ports follow in :meth:`_ensure_ports`."""
        interfaces: dict[str, str | None] = dict(access.node_interfaces())
        interfaces["inspect_interface"] = DEFAULT_INSPECT_INTERFACE
        if data.inspection_mode == InspectionMode.FAST and access.supports_fast_inspection:
            interfaces["inspect_interface"] = access.inspect_interface
        image = data.current_image
        if image is not None and image.is_live_iso():
            interfaces["deploy_interface"] = "ramdisk"
        elif data.has_custom_deploy:
            interfaces["deploy_interface"] = "custom-agent"
        properties: dict[str, Any] = {
            "capabilities": build_capabilities(data.boot_mode or BootMode.DEFAULT)
        }
        if data.cpu_architecture:
            properties["cpu_arch"] = data.cpu_architecture
        supports_dpo = self._supports(DISABLE_POWER_OFF_VERSION)
        # What ``ironic.go configureNode`` would PATCH once the node is manageable (its deploy
        # image and ``automated_clean``) goes in the POST already: the node ends up the same,
        # and that PATCH, a locked conductor task per host, finds nothing left to change.
        deploy_info = {k: v for k, v in self._deploy_image_info(data, access).items() if v}
        log.info("enrolling node %s (driver %s)", self.node_name, access.driver)
        node = self._client.create_node(
            name=self.node_name,
            driver=access.driver,
            driver_info={**driver_info, **deploy_info},
            properties=properties,
            interfaces=interfaces,
            disable_power_off=data.disable_power_off if supports_dpo else None,
            automated_clean=data.automated_cleaning_mode != AutomatedCleaningMode.DISABLED,
        )
        self._publish_event("Registered", "Registered new host")
        return node

    def _update_identity(
        self,
        node: NodeView,
        data: ManagementAccessData,
        driver_info: Mapping[str, Any],
        credentials_changed: bool,
    ) -> NodeView:
        """Name, BMC details and power-off policy of an existing node (the existing-node
        branch of ``register.go Register``)."""
        builder = NodeUpdateBuilder(node.as_patch_base())
        builder.set_top_level("name", self.node_name)
        if credentials_changed or _bmc_changed(node.driver_info, driver_info):
            # Passwords cannot be read back, so the whole section is replaced.
            builder.replace_section("driver_info", driver_info)
        if self._supports(DISABLE_POWER_OFF_VERSION):
            builder.set_top_level("disable_power_off", data.disable_power_off)
        if data.cpu_architecture:
            builder.set_properties({"cpu_arch": data.cpu_architecture})
        return self._update(node, builder, converges=True)

    def _ensure_ports(self, node: NodeView, data: ManagementAccessData) -> None:
        """A port for the boot MAC (PXE) and for each inspected NIC the node lacks
        (``register.go ensurePort``, ``createPortsFromHardwareData``)."""
        wanted: dict[str, bool] = {}
        if data.hardware_data is not None:
            for nic in data.hardware_data.nics:
                if nic.mac:
                    wanted.setdefault(nic.mac.lower(), nic.pxe)
        if self._host.boot_mac_address:
            wanted[self._host.boot_mac_address.lower()] = True
        if not wanted:
            return
        existing = {port.address.lower() for port in self._client.list_ports(node.uuid)}
        for mac, pxe in wanted.items():
            if mac in existing:
                continue
            try:
                self._client.create_port(node.uuid, mac, pxe_enabled=pxe, converges=True)
            except Conflict as exc:
                owners = [
                    p.node_uuid
                    for p in self._client.find_ports(address=mac)
                    if p.node_uuid != node.uuid
                ]
                owner = owners[0] if owners else "unknown"
                raise ProvisionerError(
                    f"failed to create port {mac}: port belongs to another node {owner}"
                ) from exc

    def _deploy_image_info(
        self, data: ManagementAccessData, access: AccessDetails
    ) -> dict[str, Any]:
        """``driver_info`` deploy_kernel/ramdisk/iso/kernel_append_params
        (``ironic.go setDeployImage``)."""
        info: dict[str, Any] = dict.fromkeys(
            ("deploy_kernel", "deploy_ramdisk", "deploy_iso", "kernel_append_params")
        )
        image = data.preprovisioning_image
        config = self._config
        if image is not None:
            if image.format == PreprovisioningImageFormat.ISO:
                if access.supports_iso_preprovisioning:
                    info["deploy_iso"] = image.image_url
            elif image.format == PreprovisioningImageFormat.INITRD:
                kernel = image.kernel_url or config.deploy_kernel_url
                if kernel:  # without a kernel the initrd cannot boot: no deploy image
                    info["deploy_kernel"] = kernel
                    info["deploy_ramdisk"] = image.image_url
                    if image.extra_kernel_params:
                        # %default% keeps the parameters ironic-image configures.
                        params = f"%default% {image.extra_kernel_params}"
                        info["kernel_append_params"] = params
        elif not self._preprov_image_builder:
            if config.deploy_iso_url and access.supports_iso_preprovisioning:
                info["deploy_iso"] = config.deploy_iso_url
            elif config.deploy_kernel_url and config.deploy_ramdisk_url:
                info["deploy_kernel"] = config.deploy_kernel_url
                info["deploy_ramdisk"] = config.deploy_ramdisk_url
        return info

    def _configure(
        self, node: NodeView, data: ManagementAccessData, access: AccessDetails
    ) -> ProvisionResult:
        """``ironic.go configureNode``: deploy image, cleaning, capabilities, current image."""
        deploy_info = self._deploy_image_info(data, access)
        builder = NodeUpdateBuilder(node.as_patch_base())
        builder.set_driver_info(deploy_info)
        builder.set_top_level(
            "automated_clean", data.automated_cleaning_mode != AutomatedCleaningMode.DISABLED
        )
        properties: dict[str, Any] = {
            "capabilities": build_capabilities(
                data.boot_mode or BootMode.DEFAULT, node.properties.get("capabilities")
            )
        }
        if data.cpu_architecture:
            properties["cpu_arch"] = data.cpu_architecture
        builder.set_properties(properties)
        if (data.current_image is not None or data.has_custom_deploy) and not _deploy_pending(
            data, node
        ):
            # A provisioned host's node (re-created after a wipe) must describe what is on
            # the disk before it can be adopted.
            try:
                apply_image(
                    builder,
                    node,
                    data.current_image,
                    custom_deploy=data.has_custom_deploy,
                    config=self._config,
                    pull_secret=None,
                )
            except ChecksumError as exc:
                log.info("not recording the current image on %s: %s", node.uuid, exc)
        self._update(node, builder, converges=True)
        no_deploy_image = not any(deploy_info.values())
        if self._preprov_image_builder and no_deploy_image and _needs_ppi(data):
            raise NeedsPreprovisioningImage("waiting for a preprovisioning image")
        return ProvisionResult()


def _deploy_pending(data: ManagementAccessData, node: NodeView) -> bool:
    """A host being provisioned whose node has not started deploying: the image is not on
    the disk yet, and ``Provision`` writes it with the rest of the deploy's fields (one
    PATCH right before ``active``, not one here and another there, each a locked conductor
    task). Upstream's ``getCurrentImage`` hands the spec's image to ``configureNode`` in
    ``provisioning`` too; the node Ironic deploys carries the same fields either way."""
    return data.state == ProvisioningState.PROVISIONING and node.provision_state in (
        State.MANAGEABLE,
        State.AVAILABLE,
    )


def _bmc_changed(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the BMC's readable ``driver_info`` keys differ (passwords are masked); a
    superset of ``register.go bmcAddressMatches``, which compares ``*_address`` only."""
    prefixes = tuple({key.split("_", 1)[0] + "_" for key in wanted if "_" in key})
    for key, value in wanted.items():
        if not is_secret_key(key) and current.get(key) != value:
            return True
    return any(
        key not in wanted and not is_secret_key(key)
        for key in current
        if prefixes and key.startswith(prefixes)
    )


def _parse_network_data(raw: str) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigDriveError("preprovisioning network data is not valid YAML or JSON") from None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigDriveError("preprovisioning network data must be a YAML/JSON mapping")
    return value


def _needs_ppi(data: ManagementAccessData) -> bool:
    """Whether this host's next step boots the deploy ramdisk (``ironic.go configureNode``)."""
    image = data.current_image
    if image is not None and image.is_live_iso():
        return False
    state = data.state
    if state == ProvisioningState.DEPROVISIONING:
        return data.automated_cleaning_mode != AutomatedCleaningMode.DISABLED
    if state in (ProvisioningState.INSPECTING, ProvisioningState.PREPARING):
        return True
    servicing = data.operational_status == OperationalStatus.SERVICING
    return servicing and state in (
        ProvisioningState.PROVISIONED,
        ProvisioningState.EXTERNALLY_PROVISIONED,
    )
