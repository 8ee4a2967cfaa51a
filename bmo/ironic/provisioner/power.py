"""Power: turn the machine on or off (soft first when asked), out of Ironic's way.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``PowerOn``, ``PowerOff`` and
``changePower``: soft power off falls back to hard when the driver rejects it (HTTP 400), and
a node with ``disable_power_off`` is rebooted instead of switched off.
"""

from __future__ import annotations

from typing import Final

from bmo.api.constants import RebootMode
from bmo.ironic.errors import Conflict, InvalidRequest, NodeLocked
from bmo.ironic.provisioner.core import LONG_DELAY, SHORT_DELAY, ProvisionerCore, log
from bmo.ironic.states import Power, State, Target
from bmo.ironic.views import NodeView
from bmo.provisioner.types import ProvisionResult

__all__ = ["SOFT_POWER_OFF_TIMEOUT", "PowerVerbs"]

#: Ironic's server-side limit for a soft power off before it reports failure.
SOFT_POWER_OFF_TIMEOUT: Final = 180


class PowerVerbs(ProvisionerCore):
    """``power_on`` and ``power_off``."""

    def _change_power(
        self, node: NodeView, target: str, timeout: int | None = None
    ) -> ProvisionResult | None:
        """``None`` when Ironic accepted the change; 400 propagates (soft-off fallback)."""
        if node.target_provision_state:
            return self._wait(SHORT_DELAY)
        try:
            self._client.set_power_state(node.uuid, target, timeout=timeout)
        except (NodeLocked, Conflict):
            return self._retry_locked()
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
