"""Provisioning settings: the root device hints, RAID and firmware a host is prepared with.

They live in ``status.provisioning`` once applied; a difference between what the spec (or
the hardware profile) asks for and what status records is what sends an ``available`` host
back through ``preparing``. Changing them never re-provisions a host. Upstream keeps the
same logic in ``baremetalhost_controller.go`` (``getHostProvisioningSettings``,
``saveHostProvisioningSettings``, ``clearHostProvisioningSettings``).
"""

from __future__ import annotations

import dataclasses

from bmo.api.host import BareMetalHost, ProvisionStatus, RAIDConfig, RootDeviceHints
from bmo.api.profiles import get_profile

__all__ = [
    "cleared_provisioning_settings",
    "desired_provisioning_settings",
    "desired_root_device_hints",
]


def desired_root_device_hints(host: BareMetalHost) -> RootDeviceHints:
    """The spec's hints, else the recorded hardware profile's.

    Raises :class:`bmo.api.profiles.HardwareProfileError` for an unknown profile name.
    """
    if host.spec.root_device_hints is not None:
        return host.spec.root_device_hints
    hints = get_profile(host.status.hardware_profile).root_device_hints
    return RootDeviceHints(device_name=hints.device_name, hctl=hints.hctl)


def _desired_raid(host: BareMetalHost) -> RAIDConfig | None:
    wanted = host.spec.raid
    have = host.status.provisioning.raid
    if (wanted is None or wanted == RAIDConfig()) and have is not None:
        # No RAID asked for: keep the hardware RAID that exists, drop any software RAID.
        return RAIDConfig(
            hardware_raid_volumes=have.hardware_raid_volumes or None,
            software_raid_volumes=(),
        )
    return wanted


def desired_provisioning_settings(host: BareMetalHost) -> tuple[bool, ProvisionStatus]:
    """``(changed, provisioning status with the wanted settings)``."""
    current = host.status.provisioning
    wanted = dataclasses.replace(
        current,
        root_device_hints=desired_root_device_hints(host),
        raid=_desired_raid(host),
        firmware=host.spec.firmware,
    )
    return wanted != current, wanted


def cleared_provisioning_settings(provisioning: ProvisionStatus) -> ProvisionStatus:
    """Forget hints, software RAID and firmware (hardware RAID is kept: it is slow to redo)."""
    raid = provisioning.raid
    if raid is not None:
        raid = dataclasses.replace(raid, software_raid_volumes=None)
    return dataclasses.replace(provisioning, root_device_hints=None, raid=raid, firmware=None)
