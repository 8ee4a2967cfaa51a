"""The firmware kinds: FirmwareSchema, HostFirmwareSettings and HostFirmwareComponents.

Field names, JSON names and pointer-vs-value choices follow upstream's
``apis/metal3.io/v1alpha1/{firmwareschema,hostfirmwaresettings,hostfirmwarecomponents}_types.go``
(see :mod:`bmo.api.codec` for why the shape matters). Two things are easy to get wrong:

* a FirmwareSchema's per-setting fields are snake_case on the wire (``attribute_type``,
  ``allowable_values``, ...), the names Ironic's BIOS registry uses, unlike every other field;
* ``spec.settings`` values are Kubernetes int-or-string: ``5`` and ``"5"`` are different values
  and an integer must stay an integer all the way to Ironic's ``bios.apply_configuration``.

The rules over these types (schema validation, schema naming, change detection) live in
:mod:`bmo.api.firmware_rules`; the Ironic steps in :mod:`bmo.api.firmware_steps`.
"""

# jfield() returns a dataclasses.field() carrying the JSON name, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeAlias

from bmo.api.codec import from_json, jfield, to_json
from bmo.api.constants import GROUP_VERSION
from bmo.api.errors import DecodeError
from bmo.api.meta import Condition, ObjectMeta

__all__ = [
    "FIRMWARE_SCHEMA_KIND",
    "FIRMWARE_SCHEMA_PLURAL",
    "HFC_KIND",
    "HFC_PLURAL",
    "HFS_KIND",
    "HFS_PLURAL",
    "FirmwareComponentStatus",
    "FirmwareSchema",
    "FirmwareSchemaSpec",
    "FirmwareUpdate",
    "HostFirmwareComponents",
    "HostFirmwareComponentsSpec",
    "HostFirmwareComponentsStatus",
    "HostFirmwareSettings",
    "HostFirmwareSettingsSpec",
    "HostFirmwareSettingsStatus",
    "IntOrString",
    "SchemaReference",
    "SettingSchema",
    "decode_int_or_string",
    "int_or_string_text",
]

FIRMWARE_SCHEMA_KIND: Final = "FirmwareSchema"
FIRMWARE_SCHEMA_PLURAL: Final = "firmwareschemas"
HFS_KIND: Final = "HostFirmwareSettings"
HFS_PLURAL: Final = "hostfirmwaresettings"
HFC_KIND: Final = "HostFirmwareComponents"
HFC_PLURAL: Final = "hostfirmwarecomponents"

IntOrString: TypeAlias = int | str
"""``intstr.IntOrString``: an ``int`` is the Int variant, a ``str`` the String variant."""


def int_or_string_text(value: IntOrString) -> str:
    """``IntOrString.String()``: the decimal digits of an int, a string unchanged.

    Upstream compares desired against actual (always strings, from Ironic) with this text.
    """
    return str(value) if isinstance(value, int) else value


def decode_int_or_string(value: Any, path: str) -> IntOrString:
    """One int-or-string value as ``intstr.IntOrString.UnmarshalJSON`` accepts it."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, bool):
        shown = "boolean"
    elif isinstance(value, float):
        shown = "number"
    elif isinstance(value, Mapping):
        shown = "object"
    elif isinstance(value, list | tuple):
        shown = "array"
    else:
        shown = "null" if value is None else type(value).__name__
    raise DecodeError(path, f"expected an integer or a string, got {shown}")


def _object_dict(
    api_version: str, kind: str, metadata: ObjectMeta, **parts: dict[str, Any]
) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata.to_dict(), **parts}


# --- FirmwareSchema ------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingSchema:
    """One BIOS setting's registry entry, as Ironic reports it (``firmwareschema_types.go``)."""

    attribute_type: str = jfield("attribute_type", default="")
    allowable_values: tuple[str, ...] = jfield("allowable_values", default=())
    lower_bound: int | None = jfield("lower_bound", default=None)
    upper_bound: int | None = jfield("upper_bound", default=None)
    min_length: int | None = jfield("min_length", default=None)
    max_length: int | None = jfield("max_length", default=None)
    read_only: bool | None = jfield("read_only", default=None)
    unique: bool | None = jfield("unique", default=None)

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, path: str = "") -> SettingSchema:
        return from_json(cls, data, path)


@dataclass(frozen=True)
class FirmwareSchemaSpec:
    hardware_vendor: str = jfield("hardwareVendor", default="")
    hardware_model: str = jfield("hardwareModel", default="")
    schema: Mapping[str, SettingSchema] = jfield("schema", omitempty=False, default_factory=dict)


@dataclass(frozen=True)
class FirmwareSchema:
    """A vendor/model's BIOS registry, shared by every HostFirmwareSettings that uses it.

    It has no status (upstream's type has none, and the CRD no status subresource).
    """

    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: FirmwareSchemaSpec = field(default_factory=FirmwareSchemaSpec)
    api_version: str = GROUP_VERSION
    kind: str = FIRMWARE_SCHEMA_KIND

    def to_dict(self) -> dict[str, Any]:
        return _object_dict(self.api_version, self.kind, self.metadata, spec=to_json(self.spec))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FirmwareSchema:
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=from_json(FirmwareSchemaSpec, data.get("spec"), "spec"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or FIRMWARE_SCHEMA_KIND),
        )


# --- HostFirmwareSettings ------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaReference:
    """Where the FirmwareSchema describing a host's settings lives."""

    namespace: str = jfield("namespace", omitempty=False, default="")
    name: str = jfield("name", omitempty=False, default="")


@dataclass(frozen=True)
class HostFirmwareSettingsSpec:
    """``spec.settings``: name → desired value (int-or-string).

    Serialised by hand: the codec has no int-or-string kind. Go's tag is ``json:"settings"``
    without omitempty and upstream always allocates the map, so ``{}`` is emitted when empty
    (the CRD requires the key).
    """

    settings: Mapping[str, IntOrString] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"settings": dict(self.settings)}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, path: str = "spec"
    ) -> HostFirmwareSettingsSpec:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise DecodeError(path, "expected an object")
        raw = data.get("settings")
        if raw is None:
            return cls()
        where = f"{path}.settings" if path else "settings"
        if not isinstance(raw, Mapping):
            raise DecodeError(where, "expected a map")
        return cls(
            settings={
                str(name): decode_int_or_string(value, f"{where}[{name}]")
                for name, value in raw.items()
            }
        )


@dataclass(frozen=True)
class HostFirmwareSettingsStatus:
    """What Ironic reports (Password settings already left out) and the two conditions."""

    schema: SchemaReference | None = jfield("schema", default=None)
    settings: Mapping[str, str] = jfield("settings", omitempty=False, default_factory=dict)
    last_updated: datetime | None = jfield("lastUpdated", default=None)
    conditions: tuple[Condition, ...] = jfield("conditions", default=())


@dataclass(frozen=True)
class HostFirmwareSettings:
    """One per BareMetalHost (same name), created empty by bmo at registration."""

    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: HostFirmwareSettingsSpec = field(default_factory=HostFirmwareSettingsSpec)
    status: HostFirmwareSettingsStatus = field(default_factory=HostFirmwareSettingsStatus)
    api_version: str = GROUP_VERSION
    kind: str = HFS_KIND

    def to_dict(self) -> dict[str, Any]:
        return _object_dict(
            self.api_version,
            self.kind,
            self.metadata,
            spec=self.spec.to_dict(),
            status=to_json(self.status),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostFirmwareSettings:
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=HostFirmwareSettingsSpec.from_dict(data.get("spec")),
            status=from_json(HostFirmwareSettingsStatus, data.get("status"), "status"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or HFS_KIND),
        )


# --- HostFirmwareComponents ----------------------------------------------------------------


@dataclass(frozen=True)
class FirmwareUpdate:
    """A firmware image to flash: component ``bios``, ``bmc`` or ``nic:<id>``, and its URL."""

    component: str = jfield("component", omitempty=False, default="")
    url: str = jfield("url", omitempty=False, default="")


@dataclass(frozen=True)
class FirmwareComponentStatus:
    """One component as Ironic reports it (``/v1/nodes/{node}/firmware``).

    ``updatedAt`` is a value ``metav1.Time`` upstream: ``null`` on the wire while unset.
    """

    component: str = jfield("component", omitempty=False, default="")
    initial_version: str = jfield("initialVersion", omitempty=False, default="")
    current_version: str = jfield("currentVersion", default="")
    last_version_flashed: str = jfield("lastVersionFlashed", default="")
    updated_at: datetime | None = jfield("updatedAt", omitempty=False, default=None)


@dataclass(frozen=True)
class HostFirmwareComponentsSpec:
    updates: tuple[FirmwareUpdate, ...] = jfield("updates", omitempty=False, default=())


@dataclass(frozen=True)
class HostFirmwareComponentsStatus:
    """``updates`` keeps Go's nil-versus-empty: ``None`` (``null``) means "nothing applied yet",
    which the host controller treats differently from ``()`` (it then applies all of
    ``spec.updates``)."""

    updates: tuple[FirmwareUpdate, ...] | None = jfield("updates", omitempty=False, default=None)
    components: tuple[FirmwareComponentStatus, ...] = jfield("components", default=())
    last_updated: datetime | None = jfield("lastUpdated", default=None)
    conditions: tuple[Condition, ...] = jfield("conditions", default=())


@dataclass(frozen=True)
class HostFirmwareComponents:
    """One per BareMetalHost (same name), created once Ironic reports firmware components."""

    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: HostFirmwareComponentsSpec = field(default_factory=HostFirmwareComponentsSpec)
    status: HostFirmwareComponentsStatus = field(default_factory=HostFirmwareComponentsStatus)
    api_version: str = GROUP_VERSION
    kind: str = HFC_KIND

    def to_dict(self) -> dict[str, Any]:
        return _object_dict(
            self.api_version,
            self.kind,
            self.metadata,
            spec=to_json(self.spec),
            status=to_json(self.status),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostFirmwareComponents:
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=from_json(HostFirmwareComponentsSpec, data.get("spec"), "spec"),
            status=from_json(HostFirmwareComponentsStatus, data.get("status"), "status"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or HFC_KIND),
        )
