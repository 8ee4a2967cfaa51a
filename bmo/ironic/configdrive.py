"""The config drive handed to Ironic with ``active`` (``ironic.go getConfigDrive``).

Ironic accepts a structured config drive (``user_data``/``meta_data``/``network_data``) and
builds the ISO itself, so bmo never writes one. ``meta_data`` always carries the defaults
cloud-init and Ignition look for — including both ``local-hostname`` and ``local_hostname``,
which different consumers read — and the host's metaData Secret is merged on top.

User data is an opaque secret: it goes into the request body and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from bmo.ironic.errors import ConfigDriveError
from bmo.provisioner.types import HostConfigData

__all__ = ["ConfigDrive", "ConfigDriveError", "build_config_drive", "default_meta_data"]


@dataclass(frozen=True)
class ConfigDrive:
    """The structured form; ``user_data`` is hidden from ``repr``."""

    meta_data: dict[str, Any]
    user_data: str | None = field(default=None, repr=False)
    network_data: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"meta_data": self.meta_data}
        if self.user_data:
            body["user_data"] = self.user_data
        if self.network_data is not None:
            body["network_data"] = self.network_data
        return body


def default_meta_data(namespace: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "uuid": uid,
        "metal3-namespace": namespace,
        "metal3-name": name,
        "local-hostname": name,
        "local_hostname": name,
        "name": name,
    }


def _parse_mapping(raw: str, what: str) -> dict[str, Any]:
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigDriveError(f"{what} is not valid YAML or JSON{where}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigDriveError(f"{what} must be a YAML/JSON mapping, not {type(value).__name__}")
    return value


def build_config_drive(
    host_config: HostConfigData | None, namespace: str, name: str, uid: str
) -> ConfigDrive:
    """Read the host's Secrets through ``host_config`` and assemble the drive.

    Exceptions from ``host_config`` (a missing Secret) propagate; malformed network or meta
    data raises :class:`ConfigDriveError`.
    """
    meta = default_meta_data(namespace, name, uid)
    if host_config is None:
        return ConfigDrive(meta_data=meta)
    user_data = host_config.user_data() or None
    network_raw = host_config.network_data()
    network = _parse_mapping(network_raw, "networkData") if network_raw else None
    meta_raw = host_config.meta_data()
    if meta_raw:
        meta.update(_parse_mapping(meta_raw, "metaData"))
    return ConfigDrive(meta_data=meta, user_data=user_data, network_data=network)
