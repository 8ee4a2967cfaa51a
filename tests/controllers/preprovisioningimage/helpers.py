"""A fake image provider and small API helpers for the PreprovisioningImage tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s

from bmo.controllers.preprovisioningimage.imageprovider import (
    GeneratedImage,
    ImageBuildInvalid,
    ImageData,
    ImageNotReady,
    NetworkData,
)
from bmo.runtime.cache import KubeObject
from bmo.runtime.errors import NotFound, kube_errors

GROUP, VERSION, PLURAL = "metal3.io", "v1alpha1", "preprovisioningimages"


@dataclass
class FakeProvider:
    """An image provider whose answers a test sets: ``formats`` it supports, ``pending``
    builds (``ImageNotReady``), ``invalid`` builds (``ImageBuildInvalid``); records builds,
    the network data they saw, and discards."""

    formats: tuple[str, ...] = ("iso", "initrd")
    architectures: tuple[str, ...] = ("x86_64", "aarch64")
    pending: bool = False
    invalid: str = ""
    kernel_params: str = "console=ttyS0"
    builds: list[tuple[ImageData, dict[str, bytes]]] = field(default_factory=list)
    discards: list[ImageData] = field(default_factory=list)

    def supports_architecture(self, architecture: str) -> bool:
        return architecture in self.architectures

    def supports_format(self, image_format: str) -> bool:
        return image_format in self.formats

    def build_image(self, data: ImageData, network_data: NetworkData) -> GeneratedImage:
        self.builds.append((data, dict(network_data)))
        if self.invalid:
            raise ImageBuildInvalid(self.invalid)
        if self.pending:
            raise ImageNotReady("still building")
        base = f"http://127.0.0.1:8080/{data.namespace}/{data.name}-{data.architecture}"
        if data.format == "iso":
            return GeneratedImage(image_url=f"{base}.iso", extra_kernel_params=self.kernel_params)
        return GeneratedImage(
            image_url=f"{base}.initramfs",
            kernel_url=f"{base}.kernel",
            extra_kernel_params=self.kernel_params,
        )

    def discard_image(self, data: ImageData) -> None:
        self.discards.append(data)


class LiveStore:
    """A store that reads the API on every ``get`` (stands in for an informer cache so a
    test can run one reconcile at a time without waiting for watch events)."""

    def __init__(self, api_client: k8s.ApiClient, kind: str) -> None:
        self._custom = k8s.CustomObjectsApi(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._kind = kind

    def get(self, key: str) -> KubeObject | None:
        namespace, name = key.split("/", 1)
        try:
            with kube_errors():
                if self._kind == "secrets":
                    resp: Any = self._core.read_namespaced_secret(
                        name, namespace, _preload_content=False
                    )
                    obj: dict[str, Any] = json.loads(resp.data)
                    return obj
                got: dict[str, Any] = self._custom.get_namespaced_custom_object(  # type: ignore[assignment]
                    GROUP, VERSION, namespace, self._kind, name
                )
                return got
        except NotFound:
            return None


def create_image(
    api_client: k8s.ApiClient,
    namespace: str,
    name: str,
    *,
    formats: tuple[str, ...] = ("iso", "initrd"),
    architecture: str = "x86_64",
    network_data: str = "",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"acceptFormats": list(formats), "architecture": architecture}
    if network_data:
        spec["networkDataName"] = network_data
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PreprovisioningImage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    created: dict[str, Any] = k8s.CustomObjectsApi(api_client).create_namespaced_custom_object(  # type: ignore[assignment]
        GROUP, VERSION, namespace, PLURAL, body
    )
    return created


def get_image(api_client: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    got: dict[str, Any] = k8s.CustomObjectsApi(api_client).get_namespaced_custom_object(  # type: ignore[assignment]
        GROUP, VERSION, namespace, PLURAL, name
    )
    return got


def conditions(image: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (image.get("status") or {}).get("conditions") or []}
