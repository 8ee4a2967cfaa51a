"""Which Ironic API microversion bmo speaks, and which features that version brings.

Mirrors upstream ``pkg/provisioner/ironic/clients/features.go`` (``AvailableFeatures``,
``ChooseMicroversion``, ``HasDisablePowerOff``): Metal3 requires 1.89 and prefers the newest
of a short list, each entry unlocking one feature the provisioner checks before using it.
"""

from __future__ import annotations

from typing import Final

from bmo.ironic.errors import NotReady

__all__ = [
    "ABORT_DEPLOY_VERSION",
    "DISABLE_POWER_OFF_VERSION",
    "MIN_MICROVERSION",
    "PREFERRED_MICROVERSIONS",
    "choose_microversion",
    "parse_version",
]

MIN_MICROVERSION = (1, 89)
PREFERRED_MICROVERSIONS: tuple[tuple[int, int], ...] = (
    (1, 110),  # abort in "wait call-back"
    (1, 109),  # node health
    (1, 95),  # disable_power_off
    (1, 93),  # GET virtual media
    (1, 89),  # attach/detach virtual media
)

#: The node's ``disable_power_off`` field (``features.go HasDisablePowerOff``).
DISABLE_POWER_OFF_VERSION: Final = (1, 95)
#: ``abort`` accepted in ``wait call-back`` (deploy abort when detaching by force).
ABORT_DEPLOY_VERSION: Final = (1, 110)


def parse_version(text: str) -> tuple[int, int]:
    """``"1.110"`` → ``(1, 110)``; microversions compare numerically, not as strings."""
    major, _, minor = text.strip().partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise NotReady(f"ironic reported an unparsable API version {text!r}") from None


def choose_microversion(min_version: str, max_version: str) -> str:
    """The header version bmo will use against an Ironic offering ``min..max``."""
    low, high = parse_version(min_version), parse_version(max_version)
    if high[0] != 1 or high < MIN_MICROVERSION:
        raise NotReady(
            f"ironic API 1.89 or newer is required (this Ironic offers up to {max_version})"
        )
    for candidate in PREFERRED_MICROVERSIONS:
        if low <= candidate <= high:
            return f"{candidate[0]}.{candidate[1]}"
    raise NotReady(  # pragma: no cover - only if Ironic's minimum rose above 1.110
        f"ironic API range {min_version}..{max_version} offers none of the supported versions"
    )
