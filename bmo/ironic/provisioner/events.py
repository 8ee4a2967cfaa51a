"""BMC event subscriptions through the Redfish driver's vendor passthru.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``AddBMCEventSubscriptionForNode``
and ``RemoveBMCEventSubscriptionForNode`` (gophercloud ``nodes.CreateSubscription`` /
``DeleteSubscription``). The headers usually carry credentials: they go into the request
body only, which is never logged, and no message built here quotes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bmo.ironic.provisioner.core import ProvisionerCore, log
from bmo.provisioner.errors import ProvisionerError

__all__ = ["EventSubscriptionVerbs"]


class EventSubscriptionVerbs(ProvisionerCore):
    """``add_bmc_event_subscription`` and ``remove_bmc_event_subscription``."""

    def add_bmc_event_subscription(
        self, destination: str, context: str, http_headers: Sequence[Mapping[str, str]]
    ) -> str:
        body: dict[str, Any] = {"Destination": destination, "Protocol": "Redfish"}
        # gophercloud's CreateSubscriptionOpts: Context and HttpHeaders are omitempty.
        if context:
            body["Context"] = context
        if http_headers:
            body["HttpHeaders"] = [dict(header) for header in http_headers]
        with self._translate("failed to create subscription"):
            node = self._get_node()
            answer = self._client.vendor_passthru(node.uuid, "create_subscription", "POST", body)
        subscription_id = answer.get("Id") if isinstance(answer, dict) else None
        if not isinstance(subscription_id, str) or not subscription_id:
            raise ProvisionerError(
                "failed to create subscription: ironic's answer carries no subscription Id"
            )
        log.info("node %s: BMC event subscription %s created", node.uuid, subscription_id)
        return subscription_id

    def remove_bmc_event_subscription(self, subscription_id: str) -> None:
        with self._translate("failed to remove subscription"):
            node = self._get_node()
            self._client.vendor_passthru(
                node.uuid, "delete_subscription", "DELETE", {"id": subscription_id}
            )
        log.info("node %s: BMC event subscription %s deleted", node.uuid, subscription_id)
