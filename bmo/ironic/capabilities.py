"""The node ``properties.capabilities`` string (``capabilities.go buildCapabilitiesValue``).

Ironic keeps capabilities as one comma-separated ``key:value`` string shared by several
writers (inspection adds ``cpu_vt:true`` and friends). bmo owns only ``boot_mode`` and
``secure_boot``: it drops those and appends its own, keeping everything else as it was.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["BOOT_MODE_CAPABILITIES", "build_capabilities"]

BOOT_MODE_CAPABILITIES: Mapping[str, str] = {
    "UEFI": "boot_mode:uefi",
    "UEFISecureBoot": "boot_mode:uefi,secure_boot:true",
    "legacy": "boot_mode:bios",
}

_OWNED_PREFIXES = ("boot_mode:", "secure_boot:")


def build_capabilities(boot_mode: str, existing: str | Mapping[str, object] | None = None) -> str:
    """The capabilities value for ``boot_mode`` (the BareMetalHost ``spec.bootMode`` string).

    ``existing`` is the node's current value; Ironic also accepts a ``{key: value}`` map
    there, which is flattened in order.
    """
    try:
        ours = BOOT_MODE_CAPABILITIES[boot_mode]
    except KeyError:
        allowed = ", ".join(BOOT_MODE_CAPABILITIES)
        raise ValueError(f"unknown boot mode {boot_mode!r}: use one of {allowed}") from None
    if existing is None:
        items: list[str] = []
    elif isinstance(existing, str):
        items = [item.strip() for item in existing.split(",")]
    else:
        items = [f"{key}:{value}" for key, value in existing.items()]
    kept = [item for item in items if item and not item.startswith(_OWNED_PREFIXES)]
    kept.append(ours)
    return ",".join(kept)
