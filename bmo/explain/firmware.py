"""What ``bmo explain`` says about a host's firmware objects: pending BIOS setting changes
(HostFirmwareSettings ``ChangeDetected``), pending firmware updates (HostFirmwareComponents
updates not yet flashed), why either is refused (``Valid=False``), and servicing.

Pure: the objects come in as read from the API. The wording follows when bmo acts on them:
``actionPreparing`` applies valid changes when the host is next prepared, and
``doServiceIfNeeded`` on a provisioned host at its next power-on when its HostUpdatePolicy
says ``onReboot`` (upstream ``baremetalhost_controller.go``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from bmo.api.constants import ErrorType, OperationalStatus, ProvisioningState
from bmo.api.errors import APIError
from bmo.api.firmware import (
    HostFirmwareComponents,
    HostFirmwareSettings,
    int_or_string_text,
)
from bmo.api.firmware_rules import (
    CONDITION_CHANGE_DETECTED,
    CONDITION_VALID,
    changed_settings,
    pending_updates,
)
from bmo.api.host import BareMetalHost
from bmo.api.meta import Condition
from bmo.redaction import scrub_userinfo

__all__ = ["firmware_notes"]

_SHOWN: Final = 5
_PROVISIONED: Final = frozenset(
    {ProvisioningState.PROVISIONED, ProvisioningState.EXTERNALLY_PROVISIONED}
)


def _condition(conditions: tuple[Condition, ...], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def _when(host: BareMetalHost, live: bool) -> str:
    if host.status.provisioning.state in _PROVISIONED:
        if live:
            return (
                "applied by servicing when the host is next powered on (HostUpdatePolicy onReboot)"
            )
        return (
            "not applied while provisioned: deprovision the host, or create a HostUpdatePolicy "
            "with onReboot to service it"
        )
    return "applied when the host is next prepared"


def _list(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _settings_notes(
    host: BareMetalHost, raw: Mapping[str, Any], policy: Mapping[str, Any] | None
) -> list[str]:
    try:
        hfs = HostFirmwareSettings.from_dict(raw)
    except (APIError, ValueError):
        return ["HostFirmwareSettings cannot be decoded; check it with bmo validate"]
    conditions = hfs.status.conditions
    changed = _condition(conditions, CONDITION_CHANGE_DETECTED)
    valid = _condition(conditions, CONDITION_VALID)
    if changed is None or changed.status != "True":
        if changed is not None and changed.observed_generation < hfs.metadata.generation:
            return ["HostFirmwareSettings spec changed; bmo has not checked it yet"]
        return []
    if valid is not None and valid.status == "False":
        return [
            f"HostFirmwareSettings spec.settings is refused ({valid.message or valid.reason}); "
            "its ValidationFailed events say which settings and why"
        ]
    diff = changed_settings(hfs.spec.settings, hfs.status.settings)
    items = [f"{name}={int_or_string_text(value)}" for name, value in diff.items()]
    live = bool(policy and (policy.get("spec") or {}).get("firmwareSettings") == "onReboot")
    return [f"Firmware settings change pending: {_list(items)}; {_when(host, live)}"]


def _components_notes(
    host: BareMetalHost, raw: Mapping[str, Any], policy: Mapping[str, Any] | None
) -> list[str]:
    try:
        hfc = HostFirmwareComponents.from_dict(raw)
    except (APIError, ValueError):
        return ["HostFirmwareComponents cannot be decoded; check it with bmo validate"]
    valid = _condition(hfc.status.conditions, CONDITION_VALID)
    if valid is not None and valid.status == "False":
        return [f"HostFirmwareComponents spec.updates is refused: {scrub_userinfo(valid.message)}"]
    pending = pending_updates(hfc.spec.updates, hfc.status.updates)
    if not pending:
        return []
    items = [f"{u.component} from {scrub_userinfo(u.url)}" for u in pending]
    live = bool(policy and (policy.get("spec") or {}).get("firmwareUpdates") == "onReboot")
    return [f"Firmware update pending: {_list(items)}; {_when(host, live)}"]


def firmware_notes(
    host: BareMetalHost,
    settings: Mapping[str, Any] | None = None,
    components: Mapping[str, Any] | None = None,
    policy: Mapping[str, Any] | None = None,
) -> list[str]:
    """One line per pending firmware change or refusal, and one for servicing."""
    notes: list[str] = []
    if host.status.operational_status == OperationalStatus.SERVICING:
        notes.append(
            "Servicing: Ironic is applying firmware settings/updates to the provisioned host"
        )
    if host.status.error_type == ErrorType.SERVICING:
        notes.append(
            "Servicing failed: fix the HostFirmwareSettings/HostFirmwareComponents change "
            "(bmo retries), or remove it to abort servicing"
        )
    if settings is not None:
        notes.extend(_settings_notes(host, settings, policy))
    if components is not None:
        notes.extend(_components_notes(host, components, policy))
    return notes
