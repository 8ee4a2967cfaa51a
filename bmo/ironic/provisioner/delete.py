"""Deleting and detaching: remove the host's node from Ironic.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``Delete`` and ``Detach``. Ironic only
deletes an active or failed node in maintenance, so one pass sets maintenance and the next
deletes; ``force`` (detach) aborts a wait state instead of waiting it out.
"""

from __future__ import annotations

from bmo.ironic.errors import Conflict, NodeLocked
from bmo.ironic.microversion import ABORT_DEPLOY_VERSION
from bmo.ironic.provisioner.core import (
    DELETE_MAINTENANCE_REASON,
    LONG_DELAY,
    SHORT_DELAY,
    ProvisionerCore,
    log,
)
from bmo.ironic.states import State, Target
from bmo.ironic.updates import NodeUpdateBuilder
from bmo.provisioner.types import ProvisionResult

__all__ = ["DeleteVerbs"]


class DeleteVerbs(ProvisionerCore):
    """``delete`` and ``detach``."""

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
            target = Target.ABORT if self._supports(ABORT_DEPLOY_VERSION) else Target.DELETED
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
            return self._retry_locked()
        log.info("node %s (%s) deleted", node.uuid, self.node_name)
        self._node = None
        return self._wait(0)
