"""Builders shared by the ``bmo explain`` tests: a BareMetalHost as the API returns it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bmo.api.codec import format_time
from bmo.api.constants import BMH_FINALIZER, GROUP_VERSION

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def host_dict(
    state: str = "provisioned",
    *,
    namespace: str = "metal3",
    name: str = "worker-0",
    operational_status: str = "OK",
    error_type: str = "",
    error_message: str = "",
    error_count: int = 0,
    last_updated: datetime | None = NOW,
    annotations: dict[str, str] | None = None,
    finalizers: tuple[str, ...] = (BMH_FINALIZER,),
    deletion: datetime | None = None,
    online: bool = True,
    powered_on: bool = True,
    address: str = "redfish+http://127.0.0.1:8000/redfish/v1/Systems/1",
    credentials_name: str = "worker-0-bmc",
    image_url: str | None = "http://127.0.0.1/image.qcow2",
    provisioned_image_url: str | None = None,
    node_id: str = "",
) -> dict[str, Any]:
    """A host in ``state``; ``provisioned_image_url`` defaults to ``image_url`` when the
    state is provisioned, so the steady case is not "provisioning cancelled"."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": "00000000-0000-0000-0000-000000000001",
        "finalizers": list(finalizers),
        "annotations": dict(annotations or {}),
    }
    if deletion is not None:
        metadata["deletionTimestamp"] = format_time(deletion)
    spec: dict[str, Any] = {
        "online": online,
        "bootMACAddress": "52:54:00:00:00:01",
        "bmc": {"address": address, "credentialsName": credentials_name},
    }
    if image_url:
        spec["image"] = {"url": image_url, "checksum": "abc", "checksumType": "sha256"}
    if provisioned_image_url is None and state == "provisioned":
        provisioned_image_url = image_url
    provisioning: dict[str, Any] = {"state": state, "ID": node_id}
    if provisioned_image_url:
        provisioning["image"] = {"url": provisioned_image_url}
    status: dict[str, Any] = {
        "operationalStatus": operational_status,
        "errorType": error_type,
        "errorMessage": error_message,
        "errorCount": error_count,
        "poweredOn": powered_on,
        "provisioning": provisioning,
    }
    if last_updated is not None:
        status["lastUpdated"] = format_time(last_updated)
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "BareMetalHost",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


def event_dict(
    reason: str, message: str, when: datetime, *, type_: str = "Normal", count: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{reason.lower()}-x", "namespace": "metal3"},
        "involvedObject": {"kind": "BareMetalHost", "name": "worker-0", "namespace": "metal3"},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "lastTimestamp": format_time(when),
    }
