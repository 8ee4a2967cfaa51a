"""Preparing: manual cleaning that applies RAID, BIOS settings and firmware updates.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``Prepare``, ``startManualCleaning`` and
``buildManualCleaningSteps``; the steps themselves are built in :mod:`bmo.ironic.cleaning`
(upstream ``raid.go`` and ``bios.go``).
"""

from __future__ import annotations

from typing import Any

from bmo.api.bmc import AccessDetails, BMCError
from bmo.ironic.cleaning import (
    CleaningError,
    manual_clean_steps,
    raid_interface_for,
    target_raid_config,
)
from bmo.ironic.provisioner.core import LONG_DELAY, ProvisionerCore, log
from bmo.ironic.states import State, Target
from bmo.ironic.updates import NodeUpdateBuilder
from bmo.ironic.views import NodeView
from bmo.provisioner.errors import ProvisionerError
from bmo.provisioner.types import PrepareData, ProvisionResult

__all__ = ["PrepareVerbs"]


class PrepareVerbs(ProvisionerCore):
    """``prepare``: start manual cleaning when the host is unprepared, then wait for it."""

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
        return self._requested(), True
