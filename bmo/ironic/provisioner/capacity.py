"""Capacity, health and power failure: what the controller asks without changing the node.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``HasCapacity`` (the busy count itself
is :mod:`bmo.ironic.capacity`, upstream ``loadBusyHosts``), ``GetHealth`` and
``HasPowerFailure``. Health and power failure reuse the node this reconcile already read.
"""

from __future__ import annotations

from typing import Final

from bmo.api.bmc import BMCError
from bmo.ironic.capacity import has_capacity as capacity_available
from bmo.ironic.provisioner.core import ProvisionerCore
from bmo.ironic.views import NodeView
from bmo.provisioner.errors import NeedsRegistration, ProvisionerError
from bmo.provisioner.types import Health

__all__ = ["POWER_FAILURE_FAULT", "CapacityVerbs"]

POWER_FAILURE_FAULT: Final = "power failure"
_HEALTH_VALUES: Final = frozenset({Health.OK, Health.WARNING, Health.CRITICAL})


class CapacityVerbs(ProvisionerCore):
    """``has_capacity``, ``get_health`` and ``has_power_failure``."""

    def has_capacity(self) -> bool:
        with self._translate("failed to count busy hosts"):
            try:
                access = self._access()
            except BMCError as exc:
                raise ProvisionerError(str(exc)) from exc
            if access.supports_iso_preprovisioning:
                return True
            return capacity_available(
                self._client,
                self.node_name,
                self._config.provisioning_limit,
                self._client.attached_cache,
            )

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
