"""The CRDs bmo ships, and their ``openAPIV3Schema``.

The copies live in this package (``bmo/api/crds``), byte-identical to ``config/crd/bases`` (a
test keeps them so), so ``bmo validate`` works from an installed wheel without the repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from bmo.api.errors import SchemaLoadError
from bmo.api.schema.validation import Schema

__all__ = ["CRD_FILES", "crd_text", "load_crd", "openapi_schema"]

CRD_FILES = {
    "BareMetalHost": "metal3.io_baremetalhosts.yaml",
    "HardwareData": "metal3.io_hardwaredata.yaml",
    "HostFirmwareSettings": "metal3.io_hostfirmwaresettings.yaml",
    "FirmwareSchema": "metal3.io_firmwareschemas.yaml",
    "HostFirmwareComponents": "metal3.io_hostfirmwarecomponents.yaml",
    "HostUpdatePolicy": "metal3.io_hostupdatepolicies.yaml",
    "PreprovisioningImage": "metal3.io_preprovisioningimages.yaml",
    "DataImage": "metal3.io_dataimages.yaml",
    "BMCEventSubscription": "metal3.io_bmceventsubscriptions.yaml",
}


def crd_text(kind: str) -> str:
    """The CRD YAML for ``kind`` exactly as shipped."""
    try:
        name = CRD_FILES[kind]
    except KeyError:
        raise SchemaLoadError(f"bmo ships no CRD for kind {kind!r}") from None
    try:
        return resources.files("bmo.api").joinpath("crds", name).read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaLoadError(f"cannot read the packaged CRD {name}: {exc}") from None


@cache
def load_crd(kind: str) -> Mapping[str, Any]:
    """The parsed CRD for ``kind``, read once per process."""
    crd = yaml.safe_load(crd_text(kind))
    if not isinstance(crd, dict):
        raise SchemaLoadError(f"the packaged CRD for {kind} is not a mapping")
    return crd


def openapi_schema(kind: str) -> Schema:
    """The ``openAPIV3Schema`` of the single served version of ``kind``'s CRD.

    Shared by every caller (the CRD is parsed once): read it, never modify it.
    """
    version = load_crd(kind)["spec"]["versions"][0]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema
