"""Hardware profiles: the root-disk guess used when a host gives no root device hints.

Without hints Ironic would install onto whichever disk it picks; the Metal3 operator instead
falls back to a named profile (``unknown`` → ``/dev/sda``, ``libvirt`` → ``/dev/vda``, ...) and
records the chosen name in ``status.hardwareProfile`` so the choice never changes afterwards.
bmo keeps the same names and hints so hosts move between the two operators unchanged.

The hints are a small type of their own rather than the API's ``RootDeviceHints`` so this
module stays free of the host types; ``as_json()`` gives the CRD field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from bmo.api.golang.strconv import go_quote

__all__ = [
    "DEFAULT_PROFILE_NAME",
    "EMPTY_PROFILE_NAME",
    "HardwareProfile",
    "HardwareProfileError",
    "ProfileRootHints",
    "choose_profile",
    "choose_profile_name",
    "get_profile",
    "profile_names",
]

DEFAULT_PROFILE_NAME = "unknown"
EMPTY_PROFILE_NAME = "empty"
_LIBVIRT_PROFILE_NAME = "libvirt"


class HardwareProfileError(ValueError):
    """No profile has the requested name; ``str()`` is the operator's message."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no hardware profile named {go_quote(name)}")


@dataclass(frozen=True)
class ProfileRootHints:
    """The root device hints a profile supplies (only these two fields are ever used)."""

    device_name: str = ""
    hctl: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.device_name or self.hctl)

    def as_json(self) -> dict[str, str]:
        """The hints keyed by ``RootDeviceHints`` JSON names, unset ones left out."""
        out: dict[str, str] = {}
        if self.device_name:
            out["deviceName"] = self.device_name
        if self.hctl:
            out["hctl"] = self.hctl
        return out


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    root_device_hints: ProfileRootHints = field(default_factory=ProfileRootHints)


_PROFILES = MappingProxyType(
    {
        profile.name: profile
        for profile in (
            HardwareProfile(DEFAULT_PROFILE_NAME, ProfileRootHints(device_name="/dev/sda")),
            HardwareProfile(_LIBVIRT_PROFILE_NAME, ProfileRootHints(device_name="/dev/vda")),
            HardwareProfile("dell", ProfileRootHints(hctl="0:0:0:0")),
            HardwareProfile("dell-raid", ProfileRootHints(hctl="0:2:0:0")),
            HardwareProfile("openstack", ProfileRootHints(device_name="/dev/vdb")),
            HardwareProfile(EMPTY_PROFILE_NAME),
        )
    }
)


def profile_names() -> list[str]:
    return sorted(_PROFILES)


def get_profile(name: str) -> HardwareProfile:
    """The named profile; ``HardwareProfileError`` (a registration error) if there is none."""
    try:
        return _PROFILES[name]
    except KeyError:
        raise HardwareProfileError(name) from None


def choose_profile_name(status_profile: str, spec_profile: str, bmc_address: str) -> str:
    """Which profile a host uses: the one already recorded, else asked for, else guessed.

    ``status.hardwareProfile`` wins so a host keeps its first choice; then
    ``spec.hardwareProfile``; then ``libvirt`` for ``libvirt...`` BMC addresses; else
    ``unknown``. The name is not checked here (``get_profile`` does).
    """
    if status_profile:
        return status_profile
    if spec_profile:
        return spec_profile
    if bmc_address.startswith(_LIBVIRT_PROFILE_NAME):
        return _LIBVIRT_PROFILE_NAME
    return DEFAULT_PROFILE_NAME


def choose_profile(status_profile: str, spec_profile: str, bmc_address: str) -> HardwareProfile:
    """``get_profile(choose_profile_name(...))``."""
    return get_profile(choose_profile_name(status_profile, spec_profile, bmc_address))
