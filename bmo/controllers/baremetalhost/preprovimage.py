"""The host's PreprovisioningImage: create it, keep its spec current, read what was built.

The Kubernetes side of upstream ``internal/controller/metal3.io/baremetalhost_controller.go
getPreprovImage``; the decisions are :mod:`bmo.hoststate.preprovimage`. The image has the
host's name, its labels, and the host as controller owner (so it goes with the host and,
through the PreprovisioningImage informer, its status changes wake the host). Creating or
updating it ends that look-up with "not ready yet": the image provider answers later.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

import structlog
from kubernetes import client as k8s

from bmo.api.codec import to_json
from bmo.api.constants import API_GROUP, API_VERSION, BMH_KIND, GROUP_VERSION
from bmo.api.host import BareMetalHost
from bmo.api.preprovisioningimage import (
    PREPROVISIONING_IMAGE_KIND,
    PREPROVISIONING_IMAGE_PLURAL,
    PreprovisioningImage,
    PreprovisioningImageSpec,
)
from bmo.hoststate.preprovimage import available_image, expected_spec
from bmo.provisioner.types import PreprovisioningImage as BuiltImage
from bmo.runtime.cache import KubeObject, thaw
from bmo.runtime.errors import AlreadyExists, NotFound, kube_errors
from bmo.runtime.informer import Resource

__all__ = ["PREPROVISIONING_IMAGES", "PreprovImageClient", "PreprovImageStore"]

log = structlog.get_logger(__name__)

PREPROVISIONING_IMAGES: Final = Resource(
    API_GROUP, API_VERSION, PREPROVISIONING_IMAGE_PLURAL, PREPROVISIONING_IMAGE_KIND
)


class PreprovImageStore(Protocol):
    """The PreprovisioningImage informer cache (``Informer`` fits)."""

    def get(self, key: str) -> KubeObject | None: ...


class PreprovImageClient:
    """Reads PreprovisioningImages from the cache and writes them through the API."""

    def __init__(self, api_client: k8s.ApiClient, store: PreprovImageStore | None) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._store = store

    def _get(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self._store is not None:
            cached = self._store.get(f"{namespace}/{name}")
            return None if cached is None else thaw(cached)
        try:
            with kube_errors():
                raw: dict[str, Any] = self._api.get_namespaced_custom_object(  # type: ignore[assignment]
                    API_GROUP, API_VERSION, namespace, PREPROVISIONING_IMAGE_PLURAL, name
                )
        except NotFound:
            return None
        return raw

    def image_for(
        self,
        host: BareMetalHost,
        formats: Sequence[str],
        controller_architecture: str,
        network_data_version: Callable[[str], str],
    ) -> BuiltImage | None:
        """The built image for ``host`` or ``None`` while there is none yet.

        ``network_data_version(name)`` is the current ``resourceVersion`` of a Secret in
        the host's namespace. Raises :class:`bmo.hoststate.preprovimage.PreprovImageBuildError`
        for an image that cannot be had, and :class:`bmo.runtime.errors.KubeError` for API
        failures.
        """
        spec = expected_spec(host, formats, controller_architecture)
        current = self._get(host.namespace, host.name)
        if current is None:
            self._create(host, _spec_body(spec))
            return None
        changed = False
        meta = current.setdefault("metadata", {})
        labels: dict[str, str] = dict(meta.get("labels") or {})
        for key, value in host.metadata.labels.items():
            if labels.get(key) != value:
                labels[key] = value
                changed = True
        if changed:
            meta["labels"] = labels
        image = PreprovisioningImage.from_dict(current)
        if image.spec != spec:
            log.info("updating PreprovisioningImage spec")
            current["spec"] = _spec_body(spec)
            changed = True
        if changed:
            with kube_errors():
                self._api.replace_namespaced_custom_object(
                    API_GROUP,
                    API_VERSION,
                    host.namespace,
                    PREPROVISIONING_IMAGE_PLURAL,
                    host.name,
                    current,
                )
            return None
        version = network_data_version(spec.network_data_name) if spec.network_data_name else None
        built = available_image(image, version)
        if built is None:
            log.info("pending PreprovisioningImage not ready")
        else:
            log.info("using PreprovisioningImage", format=built.format)
        return built

    def _create(self, host: BareMetalHost, spec: Mapping[str, Any]) -> None:
        log.info("creating new PreprovisioningImage")
        metadata: dict[str, Any] = {
            "name": host.name,
            "namespace": host.namespace,
            "ownerReferences": [
                {
                    "apiVersion": GROUP_VERSION,
                    "kind": BMH_KIND,
                    "name": host.name,
                    "uid": host.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if host.metadata.labels:
            metadata["labels"] = dict(host.metadata.labels)
        body = {
            "apiVersion": GROUP_VERSION,
            "kind": PREPROVISIONING_IMAGE_KIND,
            "metadata": metadata,
            "spec": dict(spec),
        }
        try:
            with kube_errors():
                self._api.create_namespaced_custom_object(
                    API_GROUP, API_VERSION, host.namespace, PREPROVISIONING_IMAGE_PLURAL, body
                )
        except AlreadyExists:
            # The cache had not seen it yet: the informer's add event brings the host back.
            pass


def _spec_body(spec: PreprovisioningImageSpec) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(to_json(spec)))
    return body
