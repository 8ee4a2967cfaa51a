"""How an :class:`~bmo.explain.model.Explanation` is shown: the text report and the JSON.

Durations are rounded for people (``45s``, ``3m``, ``2h 5m``); the diagnosis uses the same
words for its retry estimates, so both read alike.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bmo.api.codec import format_time
from bmo.explain.model import Explanation, IronicLookup, LookupStatus, SecretPresence, scrub


def duration(seconds: float) -> str:
    """Rounded, human: ``45s``, ``3m``, ``2h 5m``, ``3d 4h``."""
    total = max(0, round(seconds))
    if total < 90:
        return f"{total}s"
    minutes = round(total / 60)
    if minutes < 90:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:g}"


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    delta = (now - value).total_seconds()
    if delta < 0:
        return f"{format_time(value)} (in {duration(-delta)})"
    return f"{format_time(value)} ({duration(delta)} ago)"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json(explanation: Explanation) -> str:
    """The explanation as a JSON document (stable keys: the dataclass field names)."""
    return json.dumps(_jsonable(asdict(explanation)), indent=2, sort_keys=False)


def _row(label: str, value: str) -> str:
    return f"  {label + ':':<20}{value}"


def _node_lines(lookup: IronicLookup) -> list[str]:
    node = lookup.node
    if lookup.status is not LookupStatus.FOUND or node is None:
        tried = f" (looked up {', '.join(lookup.keys)})" if lookup.keys else ""
        detail = f": {lookup.detail}" if lookup.detail else ""
        return [f"Ironic node: {lookup.status.value}{tried}{detail}"]
    lines = [f"Ironic node {node.uuid}" + (f" ({node.name})" if node.name else "") + ":"]
    target = node.target_provision_state or "none"
    lines.append(_row("Provision state", f"{node.provision_state or '?'} (target: {target})"))
    lines.append(_row("Last error", scrub(node.last_error) or "none"))
    power = node.power_state or "unknown"
    if node.target_power_state:
        power += f" (target: {node.target_power_state})"
    lines.append(_row("Power", power))
    maintenance = "no"
    if node.maintenance:
        maintenance = "yes: " + (scrub(node.maintenance_reason) or "no reason given")
    lines.append(_row("Maintenance", maintenance))
    lines.append(_row("Fault", node.fault or "none"))
    if node.health:
        lines.append(_row("Health", node.health))
    if node.driver:
        lines.append(_row("Driver", node.driver))
    return lines


def render_text(e: Explanation) -> str:
    """The human-readable report ``bmo explain`` prints by default."""
    now = e.now or datetime.now(UTC)
    lines = [f"BareMetalHost {e.namespace}/{e.name}"]
    lines.append(_row("State", e.state or '"" (new)'))
    lines.append(_row("Operational status", e.operational_status or "(none)"))
    if e.error_type or e.error_message:
        lines.append(_row("Error", f"{e.error_type or '(no type)'}: {e.error_message}"))
    lines.append(_row("Error count", str(e.error_count)))
    if e.provisioning_fail_count:
        lines.append(_row("Provisioning fails", str(e.provisioning_fail_count)))
    lines.append(_row("Last updated", _ago(e.last_updated, now)))
    lines.append(_row("Next retry", e.next_retry.summary))
    lines.append(
        _row("Power", f"online={str(e.online).lower()} poweredOn={str(e.powered_on).lower()}")
    )
    bmc = e.bmc_address or "(none)"
    if e.credentials_secret:
        bmc += f", credentials Secret {e.namespace}/{e.credentials_secret}"
        if e.credentials_presence is not SecretPresence.UNKNOWN:
            bmc += f" ({e.credentials_presence.value})"
    lines.append(_row("BMC", bmc))
    if e.conditions:
        text = " ".join(
            f"{c.type}={c.status}" + (f"({c.reason})" if c.reason else "") for c in e.conditions
        )
        lines.append(_row("Conditions", text))
    for annotation in e.annotations:
        lines.append(
            _row(
                "Annotation",
                f"{annotation.key}"
                + (f"={annotation.value}" if annotation.value else "")
                + f" - {annotation.meaning}",
            )
        )
    if e.deletion_requested is not None:
        lines.append(_row("Deletion requested", _ago(e.deletion_requested, now)))
        if not e.finalizers:
            lines.append(_row("Finalizer", "(none)"))
        for fin in e.finalizers:
            lines.append(_row("Finalizer", f"{fin.name} - {fin.meaning}"))
    lines.extend(_node_lines(e.ironic))
    if e.events:
        lines.append("Recent events (oldest first):")
        for event in e.events:
            when = "?" if event.last_seen is None else _duration_ago(event.last_seen, now)
            count = f" (x{event.count})" if event.count > 1 else ""
            lines.append(f"  {when:>8}  {event.type:<7}  {event.reason}: {event.message}{count}")
    else:
        lines.append("Recent events: none")
    lines.append(f"Diagnosis: {e.diagnosis}")
    for note in e.notes:
        lines.append(f"  Note: {note}")
    return "\n".join(lines) + "\n"


def _duration_ago(value: datetime, now: datetime) -> str:
    delta = (now - value).total_seconds()
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"
