"""The PreprovisioningImage reconciler: upstream
``internal/controller/metal3.io/preprovisioningimage_controller.go`` (``Reconcile``,
``update``, ``getImageFormat``, ``discardExistingImage``, ``getErrorRetryDelay``,
``getNetworkData``, ``setImage``, ``setUnready``, ``setError``).

One pass: the finalizer first (its own write, as upstream), then pick the first acceptable
format the provider supports, claim the network data Secret, and either reset the status
(the format, architecture or network data version changed: the old image is discarded) or
ask the provider for the image. The status is written only when it changed, so a settled
image costs no writes; the BareMetalHost controller watches these objects and registers its
host once ``Ready`` is true.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import structlog
from kubernetes import client as k8s

from bmo.api.constants import (
    API_GROUP,
    API_VERSION,
    GROUP_VERSION,
    PPI_OWN_FINALIZER,
    SECRET_ENVIRONMENT_LABEL,
    SECRET_ENVIRONMENT_VALUE,
)
from bmo.api.errors import APIError
from bmo.api.meta import Condition
from bmo.api.preprovisioningimage import (
    CONDITION_IMAGE_ERROR,
    CONDITION_IMAGE_READY,
    PREPROVISIONING_IMAGE_KIND,
    PREPROVISIONING_IMAGE_PLURAL,
    ImageConditionReason,
    ImageStatusMessage,
    PreprovisioningImage,
    PreprovisioningImageStatus,
    SecretStatus,
    choose_format,
)
from bmo.controllers.preprovisioningimage.imageprovider import (
    GeneratedImage,
    ImageBuildInvalid,
    ImageData,
    ImageNotReady,
    ImageProvider,
    NetworkData,
)
from bmo.runtime.cache import KubeObject, resource_version, thaw
from bmo.runtime.controller import Result, TerminalError
from bmo.runtime.errors import NotFound, kube_errors
from bmo.runtime.jsonapi import JsonApi, core_path

__all__ = ["MAX_RETRY_DELAY", "MIN_RETRY_DELAY", "ImageStore", "PreprovisioningImageReconciler"]

log = structlog.get_logger(__name__)

MIN_RETRY_DELAY: Final = 10.0
"""``minRetryDelay``: an image not ready yet is asked for again this soon."""
MAX_RETRY_DELAY: Final = 600.0
"""``maxRetryDelay``: the longest wait for a missing network data Secret."""

_TRUE: Final = "True"
_FALSE: Final = "False"


class ImageStore(Protocol):
    """An informer cache (``Informer`` fits)."""

    def get(self, key: str) -> KubeObject | None: ...


def _utcnow() -> datetime:
    # metav1.Time serialises whole seconds; keep them so a status read back compares equal.
    return datetime.now(UTC).replace(microsecond=0)


class _MissingNetworkData(Exception):
    pass


class PreprovisioningImageReconciler:
    """Reconciles one PreprovisioningImage per call (the work queue never hands one key to
    two workers)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        images: ImageStore,
        secrets: ImageStore,
        provider: ImageProvider,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._json = JsonApi(api_client)
        self._images = images
        self._secrets = secrets
        self._provider = provider
        self._clock = clock

    def reconcile(self, namespace: str, name: str) -> Result:
        cached = self._images.get(f"{namespace}/{name}")
        if cached is None:
            return Result()
        raw: dict[str, Any] = thaw(cached)
        try:
            image = PreprovisioningImage.from_dict(raw)
        except (APIError, ValueError) as exc:
            raise TerminalError(
                f"PreprovisioningImage {namespace}/{name} cannot be decoded: {exc}"
            ) from None
        finalizers = list(image.metadata.finalizers)
        if image.metadata.deletion_timestamp is not None:
            self._discard(image)
            if PPI_OWN_FINALIZER in finalizers:
                raw["metadata"]["finalizers"] = [f for f in finalizers if f != PPI_OWN_FINALIZER]
                self._replace(raw)
                log.info("removed PreprovisioningImage finalizer")
            return Result()
        if PPI_OWN_FINALIZER not in finalizers:
            raw["metadata"]["finalizers"] = [*finalizers, PPI_OWN_FINALIZER]
            self._replace(raw)
            log.debug("added PreprovisioningImage finalizer")
            return Result()  # the update event brings the image back

        result = Result()
        try:
            status = self._update(image, raw)
        except _MissingNetworkData:
            status = _set_error(
                image,
                ImageConditionReason.MISSING_NETWORK_DATA,
                ImageStatusMessage.NETWORK_DATA_MISSING,
                self._clock(),
            )
            result = Result(requeue_after=_error_retry_delay(status, self._clock()))
        except ImageNotReady as exc:
            log.debug("image is not ready yet, requeuing", requeue_after=MIN_RETRY_DELAY)
            status = _set_unready(image, image.status, str(exc), self._clock())
            result = Result(requeue_after=MIN_RETRY_DELAY)
        if status != image.status:
            self._write_status(raw, status)
        return result

    # -- upstream ``update``

    def _update(
        self, image: PreprovisioningImage, raw: dict[str, Any]
    ) -> PreprovisioningImageStatus:
        now = self._clock()
        spec = image.spec
        if not self._provider.supports_architecture(spec.architecture):
            log.debug("image architecture not supported", architecture=spec.architecture)
            return _set_error(
                image,
                ImageConditionReason.CONFIGURATION_ERROR,
                ImageStatusMessage.ARCHITECTURE_NOT_SUPPORTED,
                now,
            )
        image_format = choose_format(spec.accept_formats, self._provider.supports_format)
        if not image_format:
            log.debug(
                "no acceptable image format supported",
                preferred_format=spec.accept_formats[0] if spec.accept_formats else "",
            )
            return _set_error(
                image,
                ImageConditionReason.CONFIGURATION_ERROR,
                ImageStatusMessage.NO_ACCEPTABLE_FORMAT,
                now,
            )
        network_data, secret_status = self._network_data(image, raw)
        if image.config_changed(image_format, secret_status):
            message = ImageStatusMessage.CONFIG_CHANGED
            if image.status.is_ready():
                # Mark it not ready before the provider forgets the old build.
                return _set_unready(image, image.status, message, now)
            self._discard(image)
            # Record the new configuration before building, so a failed status write
            # followed by another change cannot leak a build.
            return _set_image(
                image,
                GeneratedImage(),
                image_format=image_format,
                network_data=secret_status,
                message=message,
                now=now,
            )
        data = ImageData(
            name=image.metadata.name,
            namespace=image.metadata.namespace,
            format=image_format,
            architecture=spec.architecture,
            network_data_status=secret_status,
        )
        try:
            built = self._provider.build_image(data, network_data)
        except ImageBuildInvalid as exc:
            log.debug("image build failed", error=str(exc))
            return _set_error(image, ImageConditionReason.BUILD_INVALID, str(exc), now)
        log.debug("image URL available", format=image_format)
        return _set_image(
            image,
            built,
            image_format=image_format,
            network_data=secret_status,
            message=ImageStatusMessage.GENERATED,
            now=now,
        )

    def _network_data(
        self, image: PreprovisioningImage, raw: dict[str, Any]
    ) -> tuple[NetworkData, SecretStatus]:
        """Claim the network data Secret (label, owner reference to the image; upstream
        ``getNetworkData`` → ``AcquireSecret(..., img, false)``) and decode it."""
        name = image.spec.network_data_name
        if not name:
            return {}, SecretStatus()
        namespace = image.metadata.namespace
        secret = self._secrets.get(f"{namespace}/{name}")
        body: dict[str, Any]
        if secret is None:
            try:
                with kube_errors():
                    # ``read_namespaced_secret``'s request, thin (``bmo.runtime.jsonapi``).
                    body = self._json.get(core_path("secrets", namespace, name))
            except NotFound:
                log.debug("network data secret does not exist")
                raise _MissingNetworkData() from None
        else:
            body = thaw(secret)
        if _claim(body, raw):
            with kube_errors():
                body = self._json.put(core_path("secrets", namespace, name), body)
        return _decode_data(body), SecretStatus(name=name, version=resource_version(body))

    def _discard(self, image: PreprovisioningImage) -> None:
        status = image.status
        if not status.format:
            return
        log.debug("discarding existing image")
        self._provider.discard_image(
            ImageData(
                name=image.metadata.name,
                namespace=image.metadata.namespace,
                format=status.format,
                architecture=status.architecture,
                network_data_status=status.network_data,
            )
        )

    # -- writes

    def _replace(self, raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        with kube_errors():
            self._api.replace_namespaced_custom_object(
                API_GROUP,
                API_VERSION,
                meta["namespace"],
                PREPROVISIONING_IMAGE_PLURAL,
                meta["name"],
                raw,
            )

    def _write_status(self, raw: dict[str, Any], status: PreprovisioningImageStatus) -> None:
        body = dict(raw)
        body["status"] = PreprovisioningImage(status=status).to_dict()["status"]
        meta = raw["metadata"]
        log.debug("updating status")
        with kube_errors():
            self._api.replace_namespaced_custom_object_status(
                API_GROUP,
                API_VERSION,
                meta["namespace"],
                PREPROVISIONING_IMAGE_PLURAL,
                meta["name"],
                body,
            )


# -- status helpers (upstream setImageCondition, setImage, setUnready, setError)


def _set_condition(
    conditions: tuple[Condition, ...],
    type_: str,
    *,
    status: str,
    now: datetime,
    reason: str,
    message: str,
    generation: int,
) -> tuple[Condition, ...]:
    """``meta.SetStatusCondition``: the transition time moves only when the status does."""
    new = Condition(
        type=type_,
        status=status,
        observed_generation=generation,
        last_transition_time=now,
        reason=reason,
        message=message,
    )
    out: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.type != type_:
            out.append(cond)
            continue
        found = True
        if cond.status == status and cond.last_transition_time is not None:
            new = dataclasses.replace(new, last_transition_time=cond.last_transition_time)
        out.append(new)
    if not found:
        out.append(new)
    return tuple(out)


def _set_image(
    image: PreprovisioningImage,
    built: GeneratedImage,
    *,
    image_format: str,
    network_data: SecretStatus,
    message: str,
    now: datetime,
) -> PreprovisioningImageStatus:
    generation = image.metadata.generation
    ready = _TRUE if built.image_url else _FALSE
    conditions = _set_condition(
        image.status.conditions,
        CONDITION_IMAGE_READY,
        status=ready,
        now=now,
        reason=ImageConditionReason.SUCCESS,
        message=message,
        generation=generation,
    )
    conditions = _set_condition(
        conditions,
        CONDITION_IMAGE_ERROR,
        status=_FALSE,
        now=now,
        reason=ImageConditionReason.SUCCESS,
        message="",
        generation=generation,
    )
    return dataclasses.replace(
        image.status,
        image_url=built.image_url,
        kernel_url=built.kernel_url,
        extra_kernel_params=built.extra_kernel_params,
        format=image_format,
        architecture=image.spec.architecture,
        network_data=network_data,
        conditions=conditions,
    )


def _set_unready(
    image: PreprovisioningImage,
    status: PreprovisioningImageStatus,
    message: str,
    now: datetime,
) -> PreprovisioningImageStatus:
    conditions = _set_condition(
        status.conditions,
        CONDITION_IMAGE_READY,
        status=_FALSE,
        now=now,
        reason=ImageConditionReason.SUCCESS,
        message=message,
        generation=image.metadata.generation,
    )
    return dataclasses.replace(status, conditions=conditions)


def _set_error(
    image: PreprovisioningImage, reason: str, message: str, now: datetime
) -> PreprovisioningImageStatus:
    generation = image.metadata.generation
    conditions = _set_condition(
        image.status.conditions,
        CONDITION_IMAGE_READY,
        status=_FALSE,
        now=now,
        reason=reason,
        message="",
        generation=generation,
    )
    conditions = _set_condition(
        conditions,
        CONDITION_IMAGE_ERROR,
        status=_TRUE,
        now=now,
        reason=reason,
        message=message,
        generation=generation,
    )
    return dataclasses.replace(image.status, image_url="", conditions=conditions)


def _error_retry_delay(status: PreprovisioningImageStatus, now: datetime) -> float:
    """``getErrorRetryDelay``: the time in error plus 10 s, at most 10 minutes."""
    error = status.condition(CONDITION_IMAGE_ERROR)
    if error is None or error.status != _TRUE or error.last_transition_time is None:
        return 0.0
    delay = (now - error.last_transition_time).total_seconds() + MIN_RETRY_DELAY
    return min(max(delay, MIN_RETRY_DELAY), MAX_RETRY_DELAY)


def _claim(secret: dict[str, Any], image_raw: dict[str, Any]) -> bool:
    """Label the Secret for the cache and add the image as a (non-controller) owner."""
    meta = secret.setdefault("metadata", {})
    changed = False
    labels = dict(meta.get("labels") or {})
    if labels.get(SECRET_ENVIRONMENT_LABEL) != SECRET_ENVIRONMENT_VALUE:
        labels[SECRET_ENVIRONMENT_LABEL] = SECRET_ENVIRONMENT_VALUE
        meta["labels"] = labels
        changed = True
    image_meta = image_raw.get("metadata") or {}
    uid = image_meta.get("uid", "")
    refs: list[dict[str, Any]] = list(meta.get("ownerReferences") or [])
    if not any(ref.get("uid") == uid for ref in refs):
        refs.append(
            {
                "apiVersion": GROUP_VERSION,
                "kind": PREPROVISIONING_IMAGE_KIND,
                "name": image_meta.get("name", ""),
                "uid": uid,
            }
        )
        meta["ownerReferences"] = refs
        changed = True
    return changed


def _decode_data(secret: dict[str, Any]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=False)
        except (binascii.Error, ValueError):
            out[str(key)] = b""
    return out
