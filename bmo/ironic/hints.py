"""Root device hints → Ironic's ``instance_info.root_device`` map.

Mirrors upstream ``pkg/provisioner/ironic/devicehints/devicehints.go`` ``MakeHintMap``, with
the hardware profile's default hints (``apis/metal3.io/v1alpha1/profile/profile.go``).

Ironic matches hints with its own operator syntax: ``s==`` for exact strings, ``<in>`` for
substrings, ``>=`` for sizes. Without explicit hints the host's hardware profile supplies
them (``unknown`` → ``/dev/sda``), so the disk Ironic writes to never depends on its own
guess — getting that default wrong is the most common re-implementation bug.
"""

from __future__ import annotations

from bmo.api.host import RootDeviceHints
from bmo.api.profiles import HardwareProfile

__all__ = ["BY_PATH_PREFIX", "hint_map", "root_device_for"]

BY_PATH_PREFIX = "/dev/disk/by-path/"


def hint_map(hints: RootDeviceHints | None) -> dict[str, str]:
    """The Go operator's ``devicehints.MakeHintMap``: unset fields are left out."""
    result: dict[str, str] = {}
    if hints is None:
        return result
    if hints.device_name:
        key = "by_path" if hints.device_name.startswith(BY_PATH_PREFIX) else "name"
        result[key] = f"s== {hints.device_name}"
    if hints.hctl:
        result["hctl"] = f"s== {hints.hctl}"
    if hints.model:
        result["model"] = f"<in> {hints.model}"
    if hints.vendor:
        result["vendor"] = f"<in> {hints.vendor}"
    if hints.serial_number:
        result["serial"] = f"s== {hints.serial_number}"
    if hints.min_size_gigabytes:
        result["size"] = f">= {hints.min_size_gigabytes}"
    if hints.wwn:
        result["wwn"] = f"s== {hints.wwn}"
    if hints.wwn_with_extension:
        result["wwn_with_extension"] = f"s== {hints.wwn_with_extension}"
    if hints.wwn_vendor_extension:
        result["wwn_vendor_extension"] = f"s== {hints.wwn_vendor_extension}"
    if hints.rotational is not None:
        result["rotational"] = "true" if hints.rotational else "false"
    return result


def root_device_for(
    hints: RootDeviceHints | None, profile: HardwareProfile | None = None
) -> dict[str, str]:
    """The host's hints (as recorded in status), else its hardware profile's.

    The state machine normally records the profile's hints in status while preparing; the
    fallback covers hosts that reach provisioning without that (e.g. restored status).
    """
    if hints is not None:
        return hint_map(hints)
    if profile is None or profile.root_device_hints.is_empty:
        return {}
    fallback = profile.root_device_hints
    return hint_map(RootDeviceHints(device_name=fallback.device_name, hctl=fallback.hctl))
