"""A host's data kept outside its status: the HardwareData object and two annotations.

* ``HardwareData`` (same name as the host) holds the inspected hardware so it survives a
  move of the host between clusters; its finalizer is dropped when the host is deleted.
* ``baremetalhost.metal3.io/status`` carries a whole status across such a move: it is
  restored only into a host whose status was never saved (``lastUpdated`` unset), then
  removed.
* ``inspect.metal3.io/hardwaredetails`` supplies ``status.hardware`` for hosts that are not
  inspected; it is always removed once read.

The decisions here are pure (:func:`restored_status`, :func:`hardware_details_change`); the
reconciler performs the writes, in the order of upstream ``baremetalhost_controller.go``
``reconcileHostData`` then ``updateHardwareDetails``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes import client as k8s

from bmo.api.constants import (
    API_GROUP,
    API_VERSION,
    BMH_KIND,
    GROUP_VERSION,
    HARDWARE_DATA_FINALIZER,
    HARDWARE_DATA_KIND,
    HARDWARE_DATA_PLURAL,
    HARDWARE_DETAILS_ANNOTATION,
    STATUS_ANNOTATION,
)
from bmo.api.errors import APIError
from bmo.api.golang.json import GoJSONError, go_json_decode
from bmo.api.hardware import HardwareDetails
from bmo.api.host import BareMetalHost, BareMetalHostStatus
from bmo.runtime.cache import thaw
from bmo.runtime.controller import ReconcileError
from bmo.runtime.errors import AlreadyExists, Conflict, NotFound, kube_errors
from bmo.runtime.jsonapi import JsonApi, custom_object_path

__all__ = [
    "HardwareDataClient",
    "HardwareDataObject",
    "HardwareDetailsChange",
    "InvalidHardwareDetails",
    "hardware_details_change",
    "restored_status",
]


class InvalidHardwareDetails(ValueError):
    """The hardwaredetails annotation is not a HardwareDetails document (unknown fields
    included); the webhook refuses such values, so only a fixed annotation helps."""


@dataclass(frozen=True)
class HardwareDataObject:
    """The HardwareData as read: its hardware, its finalizers and the raw object."""

    hardware: HardwareDetails | None
    finalizers: tuple[str, ...]
    raw: dict[str, Any]


class HardwareDataStore(Protocol):
    """A read-only cache of HardwareData objects by ``namespace/name`` (an informer)."""

    def get(self, key: str) -> Mapping[str, Any] | None: ...


class HardwareDataClient:
    """Reads and writes ``hardwaredata.metal3.io`` objects; API failures raise
    :class:`~bmo.runtime.errors.KubeError`.

    Reads come from ``store`` (an informer cache) when one is given, as the Go operator's
    cached client does: every pass reads the host's HardwareData, and a direct GET for each
    (most of them 404s) was the largest share of bmo's API requests at scale. Without a
    store each read is a GET.
    """

    def __init__(self, api_client: k8s.ApiClient, store: HardwareDataStore | None = None) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._store = store

    def get(self, namespace: str, name: str) -> HardwareDataObject | None:
        if self._store is not None:
            cached = self._store.get(f"{namespace}/{name}")
            return None if cached is None else _decode(thaw(cached))
        return self._get_live(namespace, name)

    def _get_live(self, namespace: str, name: str) -> HardwareDataObject | None:
        try:
            with kube_errors():
                raw: dict[str, Any] = self._api.get_namespaced_custom_object(  # type: ignore[assignment]
                    API_GROUP, API_VERSION, namespace, HARDWARE_DATA_PLURAL, name
                )
        except NotFound:
            return None
        return _decode(raw)

    def remove_finalizer(self, hardware_data: HardwareDataObject) -> None:
        body = json.loads(json.dumps(hardware_data.raw))
        meta = body["metadata"]
        meta["finalizers"] = [f for f in hardware_data.finalizers if f != HARDWARE_DATA_FINALIZER]
        self._replace(meta["namespace"], meta["name"], body)

    def replace(self, host: BareMetalHost, hardware: HardwareDetails) -> None:
        """Make the host's HardwareData hold ``hardware`` (create it, or update its spec)."""
        current = self.get(host.namespace, host.name)
        if current is None:
            body = {
                "apiVersion": GROUP_VERSION,
                "kind": HARDWARE_DATA_KIND,
                "metadata": {
                    "name": host.name,
                    "namespace": host.namespace,
                    "finalizers": [HARDWARE_DATA_FINALIZER],
                    "ownerReferences": [
                        {
                            "apiVersion": GROUP_VERSION,
                            "kind": BMH_KIND,
                            "name": host.name,
                            "uid": host.metadata.uid,
                        }
                    ],
                },
                "spec": {"hardware": hardware.to_dict()},
            }
            try:
                with kube_errors():
                    # ``create_namespaced_custom_object``'s request, thin (``bmo.runtime.jsonapi``).
                    JsonApi(self._api.api_client).post(
                        custom_object_path(
                            API_GROUP, API_VERSION, host.namespace, HARDWARE_DATA_PLURAL
                        ),
                        body,
                    )
                return
            except (AlreadyExists, Conflict):
                pass
            # The cache had not seen an object that exists: update the live one.
            current = self._get_live(host.namespace, host.name)
            if current is None:
                raise HardwareDataConflict(host.namespace, host.name)
        if current.hardware == hardware:
            return
        body = json.loads(json.dumps(current.raw))
        body["spec"] = {**(body.get("spec") or {}), "hardware": hardware.to_dict()}
        self._replace(host.namespace, host.name, body)

    def _replace(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        with kube_errors():
            self._api.replace_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, HARDWARE_DATA_PLURAL, name, body
            )


class HardwareDataConflict(ReconcileError):
    """HardwareData was both present (create said 409) and absent (GET said 404)."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(f"HardwareData {namespace}/{name} changed while being written; retrying")


def _decode(raw: dict[str, Any]) -> HardwareDataObject:
    spec = raw.get("spec") or {}
    try:
        hardware = (
            HardwareDetails.from_dict(spec["hardware"], "spec.hardware")
            if spec.get("hardware")
            else None
        )
    except APIError:
        hardware = None
    meta = raw.get("metadata") or {}
    return HardwareDataObject(hardware, tuple(meta.get("finalizers") or ()), raw)


def restored_status(
    host: BareMetalHost, hardware_data: HardwareDataObject | None
) -> BareMetalHostStatus | None:
    """The status to restore from the status annotation, or ``None`` (not applicable, or
    the annotation does not parse: it is then just removed once a status exists)."""
    if not host.status.is_empty():
        return None
    value = host.annotations.get(STATUS_ANNOTATION, "")
    if not value:
        return None
    try:
        data = go_json_decode(value, BareMetalHostStatus, strict=True, stream=True)
        status = BareMetalHostStatus.from_dict(data)
    except (GoJSONError, APIError, ValueError):
        return None
    if hardware_data is not None and hardware_data.hardware is not None:
        status = dataclasses.replace(status, hardware=hardware_data.hardware)
    return status


@dataclass(frozen=True)
class HardwareDetailsChange:
    """What ``updateHardwareDetails`` does this pass."""

    hardware: HardwareDetails | None = None  # new status.hardware (None: unchanged)
    source: str = ""  # "annotation" or "HardwareData"
    remove_annotation: bool = False
    #: The annotation was not used because the host has inspected hardware already.
    ignored: bool = False

    @property
    def event(self) -> tuple[str, str] | None:
        if self.hardware is not None:
            return "UpdateHardwareDetails", f"Set HardwareDetails from {self.source}"
        if self.remove_annotation and self.ignored:
            return (
                "RemoveAnnotation",
                "HardwareDetails annotation ignored, status already set and inspection is "
                "not disabled",
            )
        return None


def hardware_details_change(
    host: BareMetalHost, hardware_data: HardwareDataObject | None
) -> HardwareDetailsChange:
    """Raises :class:`InvalidHardwareDetails` for an annotation that does not parse."""
    present = HARDWARE_DETAILS_ANNOTATION in host.annotations
    if host.status.hardware is not None and not host.inspection_disabled():
        return HardwareDetailsChange(remove_annotation=present, ignored=present)
    wanted: HardwareDetails | None = None
    source = ""
    if hardware_data is not None and hardware_data.hardware is not None:
        wanted, source = hardware_data.hardware, "HardwareData"
    else:
        value = host.annotations.get(HARDWARE_DETAILS_ANNOTATION, "")
        if value:
            try:
                data = go_json_decode(value, HardwareDetails, strict=True, stream=True)
                wanted = HardwareDetails.from_dict(data)
            except (GoJSONError, APIError, ValueError) as exc:
                raise InvalidHardwareDetails(
                    f"the {HARDWARE_DETAILS_ANNOTATION} annotation is not valid "
                    f"HardwareDetails: {exc}"
                ) from None
            source = "annotation"
    if wanted is None or wanted == host.status.hardware:
        # Nothing new: an annotation present has done its job (or had none to do).
        return HardwareDetailsChange(remove_annotation=present)
    return HardwareDetailsChange(hardware=wanted, source=source, remove_annotation=present)
