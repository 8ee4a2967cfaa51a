"""Inspection: have Ironic boot the ramdisk, then read back what it found.

Mirrors upstream ``pkg/provisioner/ironic/inspecthardware.go`` (``InspectHardware``,
``startInspection``, ``abortInspection``) and ``pkg/provisioner/ironic/ironic.go``
``UpdateHardwareState``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bmo.api.bmc import BMCError
from bmo.api.constants import BootMode, InspectionMode
from bmo.api.hardware import HardwareDetails
from bmo.ironic.capabilities import build_capabilities
from bmo.ironic.inventory import hardware_details
from bmo.ironic.provisioner.core import (
    DEFAULT_INSPECT_INTERFACE,
    LONG_DELAY,
    SHORT_DELAY,
    ProvisionerCore,
)
from bmo.ironic.states import Power, State, Target
from bmo.ironic.updates import NodeUpdateBuilder
from bmo.ironic.views import NodeView
from bmo.provisioner.errors import NeedsRegistration, ProvisionerError
from bmo.provisioner.types import HardwareState, InspectData, ProvisionResult

__all__ = ["InspectionVerbs"]


class InspectionVerbs(ProvisionerCore):
    """``inspect_hardware`` and ``update_hardware_state``."""

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
            if refresh or node.inspection_finished_at is None:
                # Upstream asks for the inventory and starts inspecting on its 404
                # (``inspecthardware.go InspectHardware``); a node no inspection has finished
                # on has none, so bmo skips that request (a delayed host made it each pass).
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
        return self._requested(), True, None

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
