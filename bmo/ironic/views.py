"""Frozen snapshots of what Ironic reported: a node, a port, one interface's validation.

The provisioner decides from these and never from raw JSON, so a field Ironic renames or
drops shows up in one place (``from_json``). Mirrors the fields upstream reads from
gophercloud's ``nodes.Node`` and ``ports.Port`` in ``pkg/provisioner/ironic/ironic.go``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from bmo.ironic.errors import IronicError
from bmo.ironic.updates import redact

__all__ = ["NodeView", "PortView", "ValidationResult", "ironic_time"]


def ironic_time(value: str | None) -> datetime | None:
    """One of Ironic's timestamps as an aware UTC datetime (``None`` when absent or not
    ISO 8601). Ironic writes them with ``+00:00``; a naive one is taken as UTC, as Ironic's
    database keeps UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _frozen(value: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if isinstance(value, Mapping) else MappingProxyType({})


@dataclass(frozen=True)
class NodeView:
    """The node fields the provisioner reads, as Ironic last reported them.

    Mappings are read-only views. ``driver_info`` is left out of ``repr`` (Ironic masks
    passwords as ``******`` but the rest may still be sensitive); use
    :meth:`redacted_driver_info` to log it.
    """

    uuid: str
    name: str | None = None
    provision_state: str | None = None
    target_provision_state: str | None = None
    power_state: str | None = None
    target_power_state: str | None = None
    last_error: str | None = None
    maintenance: bool = False
    maintenance_reason: str | None = None
    fault: str | None = None
    driver: str | None = None
    driver_info: Mapping[str, Any] = field(default_factory=lambda: _frozen({}), repr=False)
    instance_info: Mapping[str, Any] = field(default_factory=lambda: _frozen({}), repr=False)
    instance_uuid: str | None = None
    properties: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    automated_clean: bool | None = None
    boot_interface: str | None = None
    deploy_interface: str | None = None
    inspect_interface: str | None = None
    raid_interface: str | None = None
    firmware_interface: str | None = None
    disable_power_off: bool | None = None
    health: str | None = None
    reservation: str | None = None
    network_data: Mapping[str, Any] = field(default_factory=lambda: _frozen({}), repr=False)
    # Ironic's timestamps (ISO 8601 strings, compared, never parsed): the node row's last save
    # and its last provision-state change. They key the BIOS settings cache
    # (:mod:`bmo.ironic.bioscache`). ``updated_at`` comes only with single-node GETs: a
    # ``fields=`` list cannot ask for it (:func:`bmo.ironic.nodecache.cache_fields`).
    updated_at: str | None = None
    provision_updated_at: str | None = None
    # Set when an inspection succeeds, cleared when one starts (``db/sqlalchemy/api.py
    # _do_update_node``): ``None`` means Ironic holds no inventory for the node.
    inspection_finished_at: str | None = None
    inspection_started_at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeView:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        uuid = data.get("uuid")
        if not isinstance(uuid, str):
            raise IronicError("ironic returned a node without a uuid")
        automated = data.get("automated_clean")
        dpo = data.get("disable_power_off")
        return cls(
            uuid=uuid,
            name=text("name"),
            provision_state=text("provision_state"),
            target_provision_state=text("target_provision_state"),
            power_state=text("power_state"),
            target_power_state=text("target_power_state"),
            last_error=text("last_error"),
            maintenance=bool(data.get("maintenance", False)),
            maintenance_reason=text("maintenance_reason"),
            fault=text("fault"),
            driver=text("driver"),
            driver_info=_frozen(data.get("driver_info")),
            instance_info=_frozen(data.get("instance_info")),
            instance_uuid=text("instance_uuid"),
            properties=_frozen(data.get("properties")),
            automated_clean=None if automated is None else bool(automated),
            boot_interface=text("boot_interface"),
            deploy_interface=text("deploy_interface"),
            inspect_interface=text("inspect_interface"),
            raid_interface=text("raid_interface"),
            firmware_interface=text("firmware_interface"),
            disable_power_off=None if dpo is None else bool(dpo),
            health=text("health"),
            reservation=text("reservation"),
            network_data=_frozen(data.get("network_data")),
            updated_at=text("updated_at"),
            provision_updated_at=text("provision_updated_at"),
            inspection_finished_at=text("inspection_finished_at"),
            inspection_started_at=text("inspection_started_at"),
        )

    def redacted_driver_info(self) -> dict[str, Any]:
        result: dict[str, Any] = redact(dict(self.driver_info))
        return result

    def as_patch_base(self) -> dict[str, Any]:
        """Top-level fields as a plain mapping, the ``current`` for ``NodeUpdateBuilder``."""
        return {
            "name": self.name,
            "driver": self.driver,
            "driver_info": dict(self.driver_info),
            "instance_info": dict(self.instance_info),
            "instance_uuid": self.instance_uuid,
            "properties": dict(self.properties),
            "automated_clean": self.automated_clean,
            "boot_interface": self.boot_interface,
            "deploy_interface": self.deploy_interface,
            "inspect_interface": self.inspect_interface,
            "raid_interface": self.raid_interface,
            "disable_power_off": self.disable_power_off,
            # Ironic reports an unset network_data as {}: leave it out then, so "remove if
            # set" stays a no-op instead of a PATCH on every reconcile.
            **({"network_data": dict(self.network_data)} if self.network_data else {}),
        }


@dataclass(frozen=True)
class PortView:
    uuid: str
    address: str
    node_uuid: str | None
    pxe_enabled: bool | None = None


@dataclass(frozen=True)
class ValidationResult:
    """One interface's result from ``GET /v1/nodes/{id}/validate``."""

    result: bool | None
    reason: str | None
