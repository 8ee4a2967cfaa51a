"""The DataImage reconciler: upstream
``internal/controller/metal3.io/dataimage_controller.go`` ``Reconcile`` and, for the attach
itself, ``baremetalhost_controller.go manageHostPower``'s DataImage step.

One pass, as upstream: no host → drop the finalizer; paused host → nothing; owner reference
to the same-named host, then the finalizer (each its own write); detached host → drop the
finalizer on deletion, else look again in 20 s; then read the virtual CD through the
provisioner and refresh the status (``error`` on failure, cleared on success), removing the
finalizer once a deleted image is no longer attached.

Where upstream's host controller attaches or ejects the image while powering a provisioned
host on, bmo does it here under the same condition (provisioned or externally provisioned,
``spec.online``, not yet powered on) and the host's power handling waits while an image
change is pending, so the ISO is in the drive when the machine boots.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

import structlog
from kubernetes import client as k8s

from bmo.api.constants import (
    API_GROUP,
    API_VERSION,
    BMH_KIND,
    DETACHED_ANNOTATION,
    GROUP_VERSION,
    PAUSED_ANNOTATION,
    ProvisioningState,
)
from bmo.api.dataimage import DATA_IMAGE_PLURAL, DataImage, DataImageError, DataImageStatus
from bmo.api.errors import APIError
from bmo.api.host import BareMetalHost
from bmo.controllers.dataimage.actions import (
    DATA_IMAGE_UPDATE_DELAY,
    handle_data_image_actions,
    virtual_media_error,
)
from bmo.provisioner import (
    HostLocked,
    ProvisionerError,
    ProvisionerFactory,
    ProvisionerNotReady,
    build_host_data,
)
from bmo.runtime.cache import KubeObject, thaw
from bmo.runtime.controller import Result, TerminalError
from bmo.runtime.errors import kube_errors

__all__ = [
    "DATA_IMAGE_FINALIZER",
    "DATA_IMAGE_RETRY_DELAY",
    "DATA_IMAGE_UNMANAGED_RETRY_DELAY",
    "PROVISIONER_RETRY_DELAY",
    "DataImageReconciler",
    "attach_wanted",
]

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

DATA_IMAGE_FINALIZER: Final = "dataimage.metal3.io"
#: ``dataImageRetryDelay``: waiting for a deleted image to be ejected.
DATA_IMAGE_RETRY_DELAY: Final = 60.0
#: ``dataImageUnmanagedRetryDelay``: the host is detached.
DATA_IMAGE_UNMANAGED_RETRY_DELAY: Final = 20.0
#: ``provisionerRetryDelay``: Ironic not ready.
PROVISIONER_RETRY_DELAY: Final = 30.0

_PROVISIONED: Final = frozenset(
    {ProvisioningState.PROVISIONED, ProvisioningState.EXTERNALLY_PROVISIONED}
)


class ObjectStore(Protocol):
    """An informer cache (``Informer`` fits)."""

    def get(self, key: str) -> KubeObject | None: ...


def _utcnow() -> datetime:
    # metav1.Time serialises whole seconds; keep them so a status read back compares equal.
    return datetime.now(UTC).replace(microsecond=0)


def attach_wanted(host: BareMetalHost) -> bool:
    """Upstream ``manageHostPower``'s ``handleDataImage``: a provisioned host being powered
    on is when its DataImage is attached or ejected."""
    return (
        host.status.provisioning.state in _PROVISIONED
        and host.spec.online
        and not host.status.powered_on
    )


class DataImageReconciler:
    """Reconciles one DataImage per call (one worker per key)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        images: ObjectStore,
        hosts: ObjectStore,
        provisioner_factory: ProvisionerFactory,
        *,
        allow_development: bool = False,
        clock: Callable[[], datetime] = _utcnow,
        sharded: bool = False,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        #: A host missing from a sharded cache may be another shard's: leave it alone.
        self._sharded = sharded
        self._images = images
        self._hosts = hosts
        self._factory = provisioner_factory
        self._allow_development = allow_development
        self._clock = clock

    def reconcile(self, namespace: str, name: str) -> Result:
        key = f"{namespace}/{name}"
        cached = self._images.get(key)
        if cached is None:
            return Result()
        raw: dict[str, Any] = thaw(cached)
        image = _decode(DataImage.from_dict, raw, "DataImage", key)
        finalizers = list(image.metadata.finalizers)
        deleting = image.metadata.deletion_timestamp is not None

        cached_host = self._hosts.get(key)
        if cached_host is None and self._sharded:
            log.debug("host not in this shard")
            return Result()
        if cached_host is None:
            log.info("no BareMetalHost for the DataImage; removing the finalizer if present")
            self._remove_finalizer(raw, finalizers)
            return Result()
        host = _decode(BareMetalHost.from_dict, thaw(cached_host), "BareMetalHost", key)
        if PAUSED_ANNOTATION in host.annotations:
            log.info("host of the DataImage is paused, no work to do")
            return Result()

        if not any(ref.uid == host.metadata.uid for ref in image.metadata.owner_references):
            # controllerutil.SetOwnerReference: a plain owner, neither controller nor
            # blocking deletion.
            meta = raw["metadata"]
            meta["ownerReferences"] = [
                *(meta.get("ownerReferences") or []),
                {
                    "apiVersion": GROUP_VERSION,
                    "kind": BMH_KIND,
                    "name": host.name,
                    "uid": host.metadata.uid,
                },
            ]
            self._replace(raw)
            return Result(requeue=True)

        if not deleting and DATA_IMAGE_FINALIZER not in finalizers:
            log.info("adding finalizer")
            raw["metadata"]["finalizers"] = [*finalizers, DATA_IMAGE_FINALIZER]
            self._replace(raw)
            return Result(requeue=True)

        if DETACHED_ANNOTATION in host.annotations:
            if deleting:
                log.info("DataImage deleted while its host is detached; removing the finalizer")
                self._remove_finalizer(raw, finalizers)
                return Result()
            return Result(requeue_after=DATA_IMAGE_UNMANAGED_RETRY_DELAY)

        unsupported = virtual_media_error(host.spec.bmc.address, self._allow_development)
        if unsupported is not None:
            self._write_error(raw, image.status, unsupported)
            if deleting:
                # Nothing can have been attached through a driver without virtual media.
                self._remove_finalizer(raw, finalizers)
            return Result()

        try:
            prov = self._factory.new(build_host_data(host), lambda reason, message: None)
        except ProvisionerNotReady as exc:
            log.info("provisioner is not ready", error=str(exc))
            return Result(requeue_after=PROVISIONER_RETRY_DELAY)

        if attach_wanted(host):
            outcome = handle_data_image_actions(prov, image, self._clock)
            if outcome.status is not None and outcome.status != image.status:
                self._write_status(raw, outcome.status)
            if outcome.requeue_after is not None:
                return Result(requeue_after=outcome.requeue_after)
            if not deleting:
                return Result()

        try:
            attached = prov.get_data_image_status()
        except HostLocked:
            return Result(requeue_after=DATA_IMAGE_UPDATE_DELAY)
        except ProvisionerError as exc:
            log.info("failed to fetch virtual media details", error=str(exc))
            self._write_error(raw, image.status, str(exc))
            return Result(requeue_after=DATA_IMAGE_UPDATE_DELAY)

        if deleting:
            if attached:
                log.info("waiting for the DataImage to be detached before removing the finalizer")
                return Result(requeue_after=DATA_IMAGE_RETRY_DELAY)
            self._remove_finalizer(raw, finalizers)
            return Result()

        status = dataclasses.replace(
            image.status, error=DataImageError(), last_reconciled=self._clock()
        )
        if status != image.status:
            self._write_status(raw, status)
        return Result()

    # -- writes ------------------------------------------------------------------------

    def _write_error(self, raw: dict[str, Any], status: DataImageStatus, message: str) -> None:
        error = status.error if status.error is not None else DataImageError()
        if error.message == message and error.count:
            return  # already recorded: do not count the same failure on every event
        self._write_status(
            raw,
            dataclasses.replace(status, error=DataImageError(error.count + 1, message)),
        )

    def _remove_finalizer(self, raw: dict[str, Any], finalizers: list[str]) -> None:
        if DATA_IMAGE_FINALIZER not in finalizers:
            return
        raw["metadata"]["finalizers"] = [f for f in finalizers if f != DATA_IMAGE_FINALIZER]
        self._replace(raw)
        log.info("removed DataImage finalizer")

    def _replace(self, raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        with kube_errors():
            replaced = self._api.replace_namespaced_custom_object(
                API_GROUP, API_VERSION, meta["namespace"], DATA_IMAGE_PLURAL, meta["name"], raw
            )
        _follow(meta, replaced)

    def _write_status(self, raw: dict[str, Any], status: DataImageStatus) -> None:
        body = dict(raw)
        body["status"] = DataImage(status=status).to_dict()["status"]
        meta = raw["metadata"]
        with kube_errors():
            written = self._api.replace_namespaced_custom_object_status(
                API_GROUP, API_VERSION, meta["namespace"], DATA_IMAGE_PLURAL, meta["name"], body
            )
        _follow(meta, written)
        log.debug("updated DataImage status")


def _decode(decode: Callable[[dict[str, Any]], _T], raw: dict[str, Any], kind: str, key: str) -> _T:
    try:
        return decode(raw)
    except (APIError, ValueError) as exc:
        raise TerminalError(f"{kind} {key} cannot be decoded: {exc}") from None


def _follow(meta: dict[str, Any], written: object) -> None:
    """Carry the written object's resourceVersion, so a second write in the same pass is
    not refused as a conflict with our own first one."""
    if isinstance(written, dict):
        version = (written.get("metadata") or {}).get("resourceVersion")
        if version:
            meta["resourceVersion"] = version
