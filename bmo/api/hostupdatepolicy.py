"""HostUpdatePolicy: when a host's firmware settings and updates may be applied.

Mirrors upstream's ``apis/metal3.io/v1alpha1/hostupdatepolicy_types.go``. The policy is
opt-in: without one (or with ``onPreparing``) changes wait for the next ``preparing``; with
``onReboot`` a provisioned host is *serviced* (Ironic's ``service`` verb) the next time it is
rebooted or powered on, which ``baremetalhost_controller.go doServiceIfNeeded`` decides with
exactly the two predicates below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bmo.api.codec import from_json, jfield, to_json
from bmo.api.constants import GROUP_VERSION
from bmo.api.meta import ObjectMeta

__all__ = [
    "HUP_KIND",
    "HUP_PLURAL",
    "HostUpdatePolicy",
    "HostUpdatePolicySpec",
    "UpdatePolicy",
    "live_firmware_settings_allowed",
    "live_firmware_updates_allowed",
    "servicing_enabled",
]

HUP_KIND: Final = "HostUpdatePolicy"
HUP_PLURAL: Final = "hostupdatepolicies"


class UpdatePolicy:
    """The two values of ``spec.firmwareSettings`` / ``spec.firmwareUpdates``."""

    ON_PREPARING: Final = "onPreparing"
    ON_REBOOT: Final = "onReboot"
    ALL: Final = (ON_PREPARING, ON_REBOOT)


@dataclass(frozen=True)
class HostUpdatePolicySpec:
    firmware_settings: str = jfield("firmwareSettings", default="")
    firmware_updates: str = jfield("firmwareUpdates", default="")


@dataclass(frozen=True)
class HostUpdatePolicy:
    """Same name as its host; bmo adds the host as an owner when it first reads it.

    The status is an empty struct upstream, always serialised as ``{}``.
    """

    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: HostUpdatePolicySpec = field(default_factory=HostUpdatePolicySpec)
    api_version: str = GROUP_VERSION
    kind: str = HUP_KIND

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata.to_dict(),
            "spec": to_json(self.spec),
            "status": {},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostUpdatePolicy:
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=from_json(HostUpdatePolicySpec, data.get("spec"), "spec"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or HUP_KIND),
        )


def live_firmware_settings_allowed(policy: HostUpdatePolicy | None) -> bool:
    """Whether HostFirmwareSettings changes are applied by servicing a provisioned host.

    ``doServiceIfNeeded``: only an explicit ``onReboot``; no policy means no servicing.
    """
    return policy is not None and policy.spec.firmware_settings == UpdatePolicy.ON_REBOOT


def live_firmware_updates_allowed(policy: HostUpdatePolicy | None) -> bool:
    """Whether HostFirmwareComponents updates are applied by servicing a provisioned host."""
    return policy is not None and policy.spec.firmware_updates == UpdatePolicy.ON_REBOOT


def servicing_enabled(policy: HostUpdatePolicy | None) -> bool:
    """Whether the policy lets a reboot or power-on of a provisioned host start servicing."""
    return live_firmware_settings_allowed(policy) or live_firmware_updates_allowed(policy)
