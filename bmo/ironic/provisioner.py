"""The Ironic provisioner: the ``Provisioner`` verbs as Ironic node operations (reference §4).

Each method reads the node once, then acts on its ``provision_state`` following the Go
operator's per-state tables, and returns at most one Ironic action per call: the state
machine calls again (after ``requeue_after``) and the next call sees where Ironic got to.
Nothing is remembered between reconciles except what Ironic stores, which is why
``register`` runs every time and re-creates a node Ironic lost.

Error mapping, the seam's contract (:mod:`bmo.provisioner.errors`):

* an Ironic *verdict* about the host (deploy failed, inspection failed, bad BMC address...)
  is a ``ProvisionResult(error_message=...)``, recorded by the state machine;
* Ironic being busy with the node (409 NodeLocked or another 409) raises
  :class:`HostLocked`/:class:`ProvisionerBusy` with a 3 s retry;
* Ironic unreachable or not ready raises :class:`ProvisionerNotReady`; other trouble
  talking to it (5xx, timeouts, rejected requests) raises :class:`ProvisionerError`;
* no node where one is needed raises :class:`NeedsRegistration`.

Messages never carry the BMC password or user data: Ironic's own texts are scrubbed of the
password before they leave this module, and request bodies are never logged.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import yaml

from bmo.api.bmc import AccessDetails, BMCError, access_details
from bmo.api.constants import (
    AutomatedCleaningMode,
    BootMode,
    InspectionMode,
    OperationalStatus,
    ProvisioningState,
    RebootMode,
)
from bmo.api.hardware import HardwareDetails
from bmo.api.host import ChecksumError, Image
from bmo.ironic.capabilities import build_capabilities
from bmo.ironic.capacity import has_capacity as capacity_available
from bmo.ironic.cleaning import (
    CleaningError,
    manual_clean_steps,
    raid_interface_for,
    target_raid_config,
)
from bmo.ironic.client import IronicClient, NodeView, parse_version
from bmo.ironic.config import IronicConfig
from bmo.ironic.configdrive import ConfigDrive, ConfigDriveError, build_config_drive
from bmo.ironic.errors import (
    Conflict,
    InvalidRequest,
    IronicError,
    IronicUnavailable,
    MACConflict,
    NodeLocked,
    NodeNotFound,
    NotReady,
    Unauthorized,
)
from bmo.ironic.hints import root_device_for
from bmo.ironic.instance_info import (
    apply_image,
    build_provision_update,
    deploy_steps,
    has_same_image,
)
from bmo.ironic.inventory import hardware_details
from bmo.ironic.states import Power, State, Target
from bmo.ironic.updates import NodeUpdateBuilder, is_secret_key
from bmo.provisioner.errors import (
    HostLocked,
    NeedsPreprovisioningImage,
    NeedsRegistration,
    ProvisionerBusy,
    ProvisionerError,
    ProvisionerNotReady,
)
from bmo.provisioner.types import (
    AdoptData,
    EventPublisher,
    HardwareState,
    Health,
    HostData,
    InspectData,
    ManagementAccessData,
    PrepareData,
    ProvisionData,
    ProvisionResult,
)

__all__ = [
    "DELETE_MAINTENANCE_REASON",
    "LONG_DELAY",
    "SHORT_DELAY",
    "IronicProvisioner",
    "IronicProvisionerFactory",
    "node_name",
]

log = logging.getLogger(__name__)

#: Requeue delays of the Go provisioner: state changes that settle fast, and slow ones.
SHORT_DELAY: Final = 3.0
LONG_DELAY: Final = 10.0
#: Ironic's server-side limit for a soft power off before it reports failure.
SOFT_POWER_OFF_TIMEOUT: Final = 180
DELETE_MAINTENANCE_REASON: Final = "forcing deletion in baremetal-operator"
POWER_FAILURE_FAULT: Final = "power failure"
DEFAULT_INSPECT_INTERFACE: Final = "agent"
_REDACTED: Final = "<redacted>"

#: Ports are only (re)created where Ironic accepts port changes (reference §4.4).
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
_HEALTH_VALUES: Final = frozenset({Health.OK, Health.WARNING, Health.CRITICAL})
_DISABLE_POWER_OFF_VERSION: Final = (1, 95)
_ABORT_DEPLOY_VERSION: Final = (1, 110)


def node_name(namespace: str, name: str) -> str:
    """The Ironic node name of a host (reference §4.2)."""
    return f"{namespace}~{name}"


class IronicProvisionerFactory:
    """Builds one :class:`IronicProvisioner` per host per reconcile over a shared client.

    ``preprov_image_builder`` says a PreprovisioningImage builder is running: registration
    then waits for a built image instead of using ``DEPLOY_*`` URLs (reference §4.4).
    """

    def __init__(
        self,
        client: IronicClient,
        config: IronicConfig,
        *,
        allow_development: bool = False,
        rng: Callable[[], float] = random.random,
        preprov_image_builder: bool = False,
    ) -> None:
        self._client = client
        self._config = config
        self._allow_development = allow_development
        self._rng = rng
        self._preprov_image_builder = preprov_image_builder

    def new(self, host_data: HostData, publish: EventPublisher) -> IronicProvisioner:
        try:
            self._client.ensure_ready()
        except NotReady as exc:
            raise ProvisionerNotReady(f"ironic is not ready: {exc}") from None
        return IronicProvisioner(
            self._client,
            self._config,
            host_data,
            publish,
            allow_development=self._allow_development,
            rng=self._rng,
            preprov_image_builder=self._preprov_image_builder,
        )


class IronicProvisioner:
    """One host's provisioner for one reconcile (see the module docstring)."""

    def __init__(
        self,
        client: IronicClient,
        config: IronicConfig,
        host_data: HostData,
        publish: EventPublisher,
        *,
        allow_development: bool = False,
        rng: Callable[[], float] = random.random,
        preprov_image_builder: bool = False,
    ) -> None:
        self._client = client
        self._config = config
        self._host = host_data
        self._publish = publish
        self._allow_development = allow_development
        self._rng = rng
        self._preprov_image_builder = preprov_image_builder
        # Learned by register() within this reconcile when the node is (re)created.
        self._node_uuid = host_data.provisioner_id
        self._node: NodeView | None = None

    def __repr__(self) -> str:
        return f"IronicProvisioner(node={self.node_name!r}, uuid={self._node_uuid!r})"

    @property
    def node_name(self) -> str:
        return node_name(self._host.namespace, self._host.name)

    # ------------------------------------------------------------------ result helpers

    def _delay(self, seconds: float) -> float:
        """Requeue delays get +0-25 % jitter so hosts started together spread out."""
        return seconds * (1.0 + 0.25 * self._rng()) if seconds > 0 else 0.0

    def _wait(self, seconds: float) -> ProvisionResult:
        return ProvisionResult(dirty=True, requeue_after=self._delay(seconds))

    def _scrub(self, text: str) -> str:
        password = self._host.bmc_credentials.password
        if password and len(password) >= 3:
            text = text.replace(password, _REDACTED)
        return text

    def _failed(self, message: str) -> ProvisionResult:
        return ProvisionResult(error_message=self._scrub(message))

    def _publish_event(self, reason: str, message: str) -> None:
        self._publish(reason, self._scrub(message))

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """Ironic client errors → the provisioner's transient signals."""
        try:
            yield
        except NodeLocked as exc:
            raise HostLocked(self._scrub(f"{what}: {exc}"), self._delay(SHORT_DELAY)) from exc
        except Conflict as exc:
            raise ProvisionerBusy(self._scrub(f"{what}: {exc}"), self._delay(SHORT_DELAY)) from exc
        except NodeNotFound as exc:
            raise NeedsRegistration(self._scrub(f"{what}: node not found ({exc})")) from exc
        except (NotReady, Unauthorized) as exc:
            raise ProvisionerNotReady(self._scrub(f"{what}: {exc}")) from exc
        except IronicUnavailable as exc:
            if exc.status_code is None:
                raise ProvisionerNotReady(self._scrub(f"{what}: {exc}")) from exc
            raise ProvisionerError(self._scrub(f"{what}: {exc}")) from exc
        except IronicError as exc:
            raise ProvisionerError(self._scrub(f"{what}: {exc}")) from exc

    # ------------------------------------------------------------------ node helpers

    def _access(self) -> AccessDetails:
        return access_details(
            self._host.bmc_address,
            self._host.disable_certificate_verification,
            allow_development=self._allow_development,
        )

    def _supports(self, version: tuple[int, int]) -> bool:
        return parse_version(self._client.microversion) >= version

    def _get_node(self) -> NodeView:
        """The host's node by UUID; :class:`NeedsRegistration` when there is none."""
        if not self._node_uuid:
            raise NeedsRegistration()
        node = self._client.get_node(self._node_uuid)
        if node is None:
            raise NeedsRegistration()
        self._node = node
        return node

    def _update(self, node: NodeView, builder: NodeUpdateBuilder) -> NodeView:
        if not builder:
            return node
        updated = self._client.update_node(node.uuid, builder.ops)
        self._node = updated
        return updated

    def _try_change_state(
        self,
        node: NodeView,
        target: str,
        *,
        config_drive: Mapping[str, Any] | None = None,
        clean_steps: list[dict[str, Any]] | None = None,
        steps: list[dict[str, Any]] | None = None,
    ) -> ProvisionResult | None:
        """Request ``target``; ``None`` when Ironic accepted it, else the result to return.

        A node in maintenance cannot change state: with a ``fault`` Ironic put it there and
        will clear it itself, so wait; without one it is cleared first (reference §4.16).
        """
        if node.maintenance:
            if node.fault:
                log.info("node %s has fault %r; waiting", node.uuid, node.fault)
                return self._wait(LONG_DELAY)
            log.info("node %s in maintenance; clearing it before %s", node.uuid, target)
            self._client.unset_maintenance(node.uuid)
            return self._wait(0)
        log.info("node %s: %s -> %s", node.uuid, node.provision_state, target)
        try:
            self._client.set_provision_state(
                node.uuid,
                target,
                config_drive=config_drive,
                clean_steps=clean_steps,
                deploy_steps=steps,
            )
        except (NodeLocked, Conflict):
            log.info("node %s busy; retrying %s later", node.uuid, target)
            return self._wait(SHORT_DELAY)
        return None

    def _change_state(self, node: NodeView, target: str, **kwargs: Any) -> ProvisionResult:
        result = self._try_change_state(node, target, **kwargs)
        return result if result is not None else self._wait(0)

    def _unset_maintenance(self, node: NodeView) -> ProvisionResult:
        self._client.unset_maintenance(node.uuid)
        return self._wait(0)

    # ------------------------------------------------------------------ register

    def register(
        self, data: ManagementAccessData, credentials_changed: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, str]:
        with self._translate("failed to register host"):
            return self._register(data, credentials_changed, restart_on_failure)

    def _precheck(self, data: ManagementAccessData) -> tuple[AccessDetails | None, str]:
        """The Go operator's checks before any Ironic call; ``(access, error message)``."""
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
        if data.disable_power_off and not self._supports(_DISABLE_POWER_OFF_VERSION):
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
            node = self._update(node, builder)

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
        supports_dpo = self._supports(_DISABLE_POWER_OFF_VERSION)
        log.info("enrolling node %s (driver %s)", self.node_name, access.driver)
        node = self._client.create_node(
            name=self.node_name,
            driver=access.driver,
            driver_info=driver_info,
            properties=properties,
            interfaces=interfaces,
            disable_power_off=data.disable_power_off if supports_dpo else None,
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
        """Name, BMC details and power-off policy of an existing node (reference §4.2)."""
        builder = NodeUpdateBuilder(node.as_patch_base())
        builder.set_top_level("name", self.node_name)
        if credentials_changed or _bmc_changed(node.driver_info, driver_info):
            # Passwords cannot be read back, so the whole section is replaced.
            builder.replace_section("driver_info", driver_info)
        if self._supports(_DISABLE_POWER_OFF_VERSION):
            builder.set_top_level("disable_power_off", data.disable_power_off)
        if data.cpu_architecture:
            builder.set_properties({"cpu_arch": data.cpu_architecture})
        return self._update(node, builder)

    def _ensure_ports(self, node: NodeView, data: ManagementAccessData) -> None:
        """A port for the boot MAC (PXE) and for each inspected NIC the node lacks."""
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
                self._client.create_port(node.uuid, mac, pxe_enabled=pxe)
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
        """``driver_info`` deploy_kernel/ramdisk/iso/kernel_append_params (reference §4.4)."""
        info: dict[str, Any] = dict.fromkeys(
            ("deploy_kernel", "deploy_ramdisk", "deploy_iso", "kernel_append_params")
        )
        image = data.preprovisioning_image
        config = self._config
        if image is not None:
            if image.format == "iso" and access.supports_iso_preprovisioning:
                info["deploy_iso"] = image.image_url
            elif image.format == "initrd":
                info["deploy_kernel"] = image.kernel_url or config.deploy_kernel_url
                info["deploy_ramdisk"] = image.image_url
                if image.extra_kernel_params:
                    info["kernel_append_params"] = f"%default% {image.extra_kernel_params}"
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
        """Go's ``configureNode``: deploy image, cleaning, capabilities, current image."""
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
        if data.current_image is not None or data.has_custom_deploy:
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
        self._update(node, builder)
        no_deploy_image = not any(deploy_info.values())
        if self._preprov_image_builder and no_deploy_image and _needs_ppi(data):
            raise NeedsPreprovisioningImage("waiting for a preprovisioning image")
        return ProvisionResult()

    # ------------------------------------------------------------------ inspection

    def inspect_hardware(
        self, data: InspectData, restart_on_failure: bool, refresh: bool, force_reboot: bool
    ) -> tuple[ProvisionResult, bool, HardwareDetails | None]:
        with self._translate("failed to inspect host"):
            return self._inspect(data, restart_on_failure, refresh, force_reboot)

    def _inspect(
        self, data: InspectData, restart: bool, refresh: bool, force_reboot: bool
    ) -> tuple[ProvisionResult, bool, HardwareDetails | None]:
        node = self._get_node()
        state = node.provision_state
        fast = data.inspection_mode == InspectionMode.FAST
        if state == State.INSPECT_FAIL and "aborted" in (node.last_error or ""):
            # We aborted it (forced reboot): start again rather than report a failure.
            refresh = restart = True
        if state == State.AVAILABLE:
            return self._change_state(node, Target.MANAGE), False, None
        if state == State.INSPECT_WAIT:
            if force_reboot:
                return self._change_state(node, Target.ABORT), False, None
            return self._wait(LONG_DELAY), False, None
        if state == State.INSPECTING:
            return self._wait(SHORT_DELAY if fast else LONG_DELAY), False, None
        if state == State.INSPECT_FAIL:
            if not restart:
                return self._failed(node.last_error or "Inspection failed"), False, None
            return self._start_inspection(node, data)
        if state == State.MANAGEABLE:
            if refresh:
                return self._start_inspection(node, data)
            stored = self._client.get_inventory(node.uuid)
            if stored is None or not isinstance(stored.get("inventory"), Mapping):
                return self._start_inspection(node, data)
            details = hardware_details(stored["inventory"], stored.get("plugin_data"))
            self._publish_event("InspectionComplete", "Hardware inspection completed")
            return ProvisionResult(), False, details
        raise ProvisionerError(f"unexpected provision state {state}")

    def _start_inspection(
        self, node: NodeView, data: InspectData
    ) -> tuple[ProvisionResult, bool, HardwareDetails | None]:
        try:
            access = self._access()
        except BMCError as exc:
            return self._failed(str(exc)), False, None
        interface = DEFAULT_INSPECT_INTERFACE
        if data.inspection_mode == InspectionMode.FAST and access.supports_fast_inspection:
            interface = access.inspect_interface
        builder = NodeUpdateBuilder(node.as_patch_base())
        properties: dict[str, Any] = {
            "capabilities": build_capabilities(
                data.boot_mode or BootMode.DEFAULT, node.properties.get("capabilities")
            )
        }
        if data.cpu_architecture:
            properties["cpu_arch"] = data.cpu_architecture
        builder.set_properties(properties)
        builder.set_top_level("inspect_interface", interface)
        node = self._update(node, builder)
        result = self._try_change_state(node, Target.INSPECT)
        if result is not None:
            return result, False, None
        self._publish_event("InspectionStarted", "Hardware inspection started")
        return self._wait(0), True, None

    def update_hardware_state(self) -> HardwareState:
        with self._translate("failed to read the power state"):
            try:
                node = self._get_node()
            except NeedsRegistration:
                return HardwareState(None)
        if node.power_state == Power.ON:
            return HardwareState(True)
        if node.power_state == Power.OFF:
            return HardwareState(False)
        return HardwareState(None)

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

    # ------------------------------------------------------------------ prepare

    def prepare(
        self, data: PrepareData, unprepared: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, bool]:
        with self._translate("failed to prepare host"):
            return self._prepare(data, unprepared, restart_on_failure)

    def _prepare(
        self, data: PrepareData, unprepared: bool, restart: bool
    ) -> tuple[ProvisionResult, bool]:
        node = self._get_node()
        state = node.provision_state
        try:
            access = self._access()
            steps = manual_clean_steps(access, data) if unprepared else []
        except (BMCError, CleaningError) as exc:
            return self._failed(str(exc)), False
        if state == State.AVAILABLE:
            if unprepared and steps:
                return self._change_state(node, Target.MANAGE), False
            return ProvisionResult(), unprepared
        if state == State.CLEAN_FAIL:
            if not restart:
                return self._failed(node.last_error or "Cleaning failed"), False
            if node.maintenance:
                return self._unset_maintenance(node), False
            return self._change_state(node, Target.MANAGE), False
        if state == State.MANAGEABLE:
            if not unprepared:
                return ProvisionResult(), False
            if not steps:
                return ProvisionResult(), True
            return self._start_manual_cleaning(node, access, data, steps)
        if state in (State.CLEANING, State.CLEAN_WAIT):
            return self._wait(LONG_DELAY), False
        raise ProvisionerError(f"have unexpected ironic node state {state}")

    def _start_manual_cleaning(
        self,
        node: NodeView,
        access: AccessDetails,
        data: PrepareData,
        steps: list[dict[str, Any]],
    ) -> tuple[ProvisionResult, bool]:
        raid_interface = raid_interface_for(access, data.target_raid_config)
        if raid_interface and node.raid_interface != raid_interface:
            builder = NodeUpdateBuilder(node.as_patch_base())
            builder.set_top_level("raid_interface", raid_interface)
            node = self._update(node, builder)
        target = target_raid_config(data)
        if target is not None:
            self._client.set_raid_config(node.uuid, target)
        log.info("node %s: manual cleaning with %d steps", node.uuid, len(steps))
        result = self._try_change_state(node, Target.CLEAN, clean_steps=steps)
        if result is not None:
            return result, False
        return self._wait(0), True

    # ------------------------------------------------------------------ provision

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
            return self._wait(0)
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
            return self._wait(0)
        raise ProvisionerError(f"unhandled ironic state {state}")

    # ------------------------------------------------------------------ delete / detach

    def delete(self) -> ProvisionResult:
        with self._translate("failed to delete host"):
            return self._remove(force=False)

    def detach(self, force: bool) -> ProvisionResult:
        with self._translate("failed to detach host"):
            return self._remove(force=force)

    def _remove(self, *, force: bool) -> ProvisionResult:
        node = self._client.find_node(uuid=self._node_uuid or None, name=self.node_name)
        if node is None:
            return ProvisionResult()
        self._node = node
        state = node.provision_state
        if state == State.VERIFYING:
            return self._wait(SHORT_DELAY)
        if state in (
            State.DEPLOYING,
            State.CLEANING,
            State.INSPECTING,
            State.SERVICING,
            State.DELETING,
        ):
            return self._wait(LONG_DELAY)
        if state == State.DEPLOY_WAIT:
            if not force:
                return self._wait(LONG_DELAY)
            target = Target.ABORT if self._supports(_ABORT_DEPLOY_VERSION) else Target.DELETED
            return self._change_state(node, target)
        if state in (State.INSPECT_WAIT, State.CLEAN_WAIT, State.SERVICE_WAIT):
            return self._change_state(node, Target.ABORT) if force else self._wait(LONG_DELAY)
        if state in (State.AVAILABLE, State.MANAGEABLE):
            if node.instance_uuid:
                builder = NodeUpdateBuilder(node.as_patch_base())
                builder.set_top_level("instance_uuid", None)
                node = self._update(node, builder)
        elif state != State.ENROLL and not node.maintenance:
            # Active, failed...: Ironic only deletes such nodes in maintenance.
            self._client.set_maintenance(node.uuid, DELETE_MAINTENANCE_REASON)
            return self._wait(0)
        try:
            self._client.delete_node(node.uuid)
        except (NodeLocked, Conflict):
            return self._wait(SHORT_DELAY)
        log.info("node %s (%s) deleted", node.uuid, self.node_name)
        self._node = None
        return self._wait(0)

    # ------------------------------------------------------------------ power

    def _change_power(
        self, node: NodeView, target: str, timeout: int | None = None
    ) -> ProvisionResult | None:
        """``None`` when Ironic accepted the change; 400 propagates (soft-off fallback)."""
        if node.target_provision_state:
            return self._wait(SHORT_DELAY)
        try:
            self._client.set_power_state(node.uuid, target, timeout=timeout)
        except (NodeLocked, Conflict):
            return self._wait(SHORT_DELAY)
        return None

    def power_on(self, force: bool) -> ProvisionResult:
        with self._translate("failed to power on host"):
            node = self._get_node()
            if node.power_state == Power.ON:
                return ProvisionResult()
            if node.target_power_state == Power.ON:
                return self._wait(SHORT_DELAY)
            if node.last_error and not force:
                return self._failed(f"PowerOn operation failed: {node.last_error}")
            result = self._change_power(node, Power.ON)
            if result is not None:
                return result
            self._publish_event("PowerOn", "Host powered on")
            return self._wait(0)

    def power_off(self, reboot_mode: str, force: bool) -> ProvisionResult:
        with self._translate("failed to power off host"):
            node = self._get_node()
            blocked = self._clear_for_power_off(node)
            if blocked is not None:
                return blocked
            if node.power_state == Power.OFF:
                return ProvisionResult()
            if node.target_power_state in (Power.OFF, Power.SOFT_OFF):
                return self._wait(SHORT_DELAY)
            error = node.last_error or ""
            if error and not node.target_power_state and not force and "aborted" not in error:
                return self._failed(error)
            if reboot_mode == RebootMode.SOFT and not force:
                target = Power.SOFT_REBOOT if node.disable_power_off else Power.SOFT_OFF
                try:
                    result = self._change_power(node, target, timeout=SOFT_POWER_OFF_TIMEOUT)
                except InvalidRequest:
                    log.info("node %s: soft power off not supported, using hard", node.uuid)
                else:
                    if result is not None:
                        return result
                    self._publish_event("PowerOff", "Host soft powered off")
                    return self._wait(0)
            target = Power.REBOOT if node.disable_power_off else Power.OFF
            result = self._change_power(node, target)
            if result is not None:
                return result
            self._publish_event("PowerOff", "Host powered off")
            return self._wait(0)

    def _clear_for_power_off(self, node: NodeView) -> ProvisionResult | None:
        """Ironic refuses power changes mid-inspection/cleaning: abort or wait first."""
        state = node.provision_state
        if state == State.INSPECT_WAIT:
            return self._change_state(node, Target.ABORT)
        if state == State.INSPECTING:
            return self._wait(SHORT_DELAY)
        if state == State.INSPECT_FAIL and node.target_provision_state:
            return self._change_state(node, Target.MANAGE)
        if state == State.CLEAN_WAIT:
            manual = node.target_provision_state == State.MANAGEABLE
            if manual or node.automated_clean is False:
                return self._change_state(node, Target.ABORT)
            return self._wait(LONG_DELAY)
        if state == State.CLEANING:
            return self._wait(LONG_DELAY)
        return None

    # ------------------------------------------------------------------ capacity, health

    def has_capacity(self) -> bool:
        with self._translate("failed to count busy hosts"):
            try:
                access = self._access()
            except BMCError as exc:
                raise ProvisionerError(str(exc)) from exc
            if access.supports_iso_preprovisioning:
                return True
            return capacity_available(self._client, self.node_name, self._config.provisioning_limit)

    def _observed_node(self) -> NodeView | None:
        if self._node is not None:
            return self._node
        with self._translate("failed to read the node"):
            try:
                return self._get_node()
            except NeedsRegistration:
                return None

    def get_health(self) -> str:
        node = self._observed_node()
        health = node.health if node is not None else None
        return health if health in _HEALTH_VALUES else Health.UNKNOWN

    def has_power_failure(self) -> bool:
        node = self._observed_node()
        return node is not None and node.fault == POWER_FAILURE_FAULT


# ---------------------------------------------------------------------------- helpers


def _bmc_changed(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the BMC's readable ``driver_info`` keys differ (passwords are masked)."""
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


def _validate_image(data: ProvisionData) -> str:
    """Checksum rules (reference §1.3); ``""`` when the image is acceptable."""
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


def _needs_ppi(data: ManagementAccessData) -> bool:
    """Whether this host's next step boots the deploy ramdisk (reference §4.4)."""
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
