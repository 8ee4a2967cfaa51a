"""What the per-host firmware controllers (HostFirmwareSettings, HostFirmwareComponents)
share: when to leave a host alone, their requeue delays, the provisioner they read Ironic
through and the status write.

Upstream ``internal/controller/metal3.io/hostfirmwaresettings_controller.go`` and
``hostfirmwarecomponents_controller.go`` ``Reconcile``: both look up the same-named
BareMetalHost, skip hosts that are detached, paused or not enrolled, build a provisioner
with no BMC credentials (``BuildHostDataNoBMC``), and come back every 5 minutes (every
minute while a change is pending) to refresh what Ironic reports.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from kubernetes import client as k8s

from bmo.api.constants import (
    API_GROUP,
    API_VERSION,
    DETACHED_ANNOTATION,
    PAUSED_ANNOTATION,
    OperationalStatus,
    ProvisioningState,
)
from bmo.api.host import BareMetalHost
from bmo.runtime.cache import KubeObject, thaw
from bmo.runtime.errors import kube_errors
from bmo.runtime.jsonapi import JsonApi, custom_object_path

__all__ = [
    "PROVISIONER_RETRY_DELAY",
    "REQUEUE_DELAY",
    "REQUEUE_DELAY_CHANGE_DETECTED",
    "RESOURCE_NOT_AVAILABLE_RETRY_DELAY",
    "UNMANAGED_RETRY_DELAY",
    "ObjectStore",
    "generation_changed",
    "host_moved",
    "replace_status",
    "skip_reason",
]

# hostfirmwaresettings_controller.go: provisionerRetryDelay, resourceNotAvailableRetryDelay,
# reconcilerRequeueDelay, reconcilerRequeueDelayChangeDetected; baremetalhost_controller.go
# unmanagedRetryDelay.
PROVISIONER_RETRY_DELAY: Final = 30.0
RESOURCE_NOT_AVAILABLE_RETRY_DELAY: Final = 30.0
REQUEUE_DELAY: Final = 300.0
REQUEUE_DELAY_CHANGE_DETECTED: Final = 60.0
UNMANAGED_RETRY_DELAY: Final = 600.0

_NOT_ENROLLED: Final = frozenset({ProvisioningState.NONE, ProvisioningState.UNMANAGED})


class ObjectStore(Protocol):
    """An informer cache (``Informer`` fits)."""

    def get(self, key: str) -> KubeObject | None: ...


def skip_reason(host: BareMetalHost) -> str | None:
    """Why the firmware controllers leave ``host`` alone (``skipReconcileSubresource``):
    detached, paused, or not enrolled in Ironic yet; ``None`` to go on."""
    if DETACHED_ANNOTATION in host.annotations:
        return "the host is detached"
    if PAUSED_ANNOTATION in host.annotations:
        return "the host is paused"
    if host.status.provisioning.state in _NOT_ENROLLED or not host.status.provisioning.id:
        return "the host is not enrolled"
    return None


def replace_status(
    api: k8s.CustomObjectsApi,
    plural: str,
    raw: KubeObject,
    status: dict[str, Any],
    *,
    timeout: float = 30.0,
) -> KubeObject:
    """``Status().Update``: a PUT of the status subresource with the read resourceVersion,
    so a concurrent change is a 409 (retried from fresh state by the queue)."""
    body: dict[str, Any] = thaw(raw)
    body["status"] = status
    meta = body["metadata"]
    # ``replace_namespaced_custom_object_status``'s request, through the thin JSON path
    # (``bmo.runtime.jsonapi``: the same bytes, without pydantic validation and sanitizing).
    with kube_errors():
        result: KubeObject = JsonApi(api.api_client).put(
            custom_object_path(
                API_GROUP,
                API_VERSION,
                meta["namespace"],
                plural,
                meta["name"],
                subresource="status",
            ),
            body,
            timeout=timeout,
        )
    return result


def generation_changed(old: KubeObject, new: KubeObject) -> bool:
    """Upstream's ``updateEventHandler`` for the firmware kinds: only a spec change (a new
    ``generation``) triggers a reconcile, so the controller's own status writes do not."""
    return (old.get("metadata") or {}).get("generation") != (new.get("metadata") or {}).get(
        "generation"
    )


#: Provisioning states after which Ironic holds new firmware values: registering ends once
#: the node is managed (Ironic caches its BIOS settings then), and the others end with
#: cleaning, which applies settings and updates and caches them again. Servicing (an
#: operational status, not a state) ends the same way.
REFRESHING_STATES: Final = frozenset(
    {
        ProvisioningState.REGISTERING,
        ProvisioningState.PREPARING,
        ProvisioningState.PROVISIONING,
        ProvisioningState.DEPROVISIONING,
    }
)


def host_moved(old: KubeObject, new: KubeObject) -> bool:
    """A BareMetalHost update the firmware controllers care about: its spec changed, its
    annotations (detached, paused), or it left a state after which Ironic's values are worth
    reading again (:data:`REFRESHING_STATES`: the host got enrolled, or cleaning or
    servicing ended). Upstream's firmware controllers watch only their own kind and poll
    every few minutes; other moves (into inspecting, available, provisioned) change nothing
    they report, and reading then cost Ironic a BIOS list per host per move."""
    if generation_changed(old, new):
        return True
    if (old.get("metadata") or {}).get("annotations") != (new.get("metadata") or {}).get(
        "annotations"
    ):
        return True

    def state(obj: KubeObject) -> object:
        return ((obj.get("status") or {}).get("provisioning") or {}).get("state")

    def servicing(obj: KubeObject) -> bool:
        return (obj.get("status") or {}).get("operationalStatus") == OperationalStatus.SERVICING

    before = state(old)
    if before != state(new) and before in REFRESHING_STATES:
        return True
    return servicing(old) and not servicing(new)
