"""JSON-patch operations for node updates, built like the Go operator's ``NodeUpdater``.

Ironic updates nodes with RFC 6902 patches. Only two verbs are needed: ``add`` (which also
replaces an existing member, so no ``replace`` and no need to know whether the key exists)
and ``remove``. Values already equal to the node's current value are skipped, so an update
that changes nothing sends nothing — every reconcile builds the full desired set, and a
no-op PATCH would still take the node lock and bump ``updated_at``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "REDACTED",
    "NodeUpdateBuilder",
    "PatchOp",
    "is_secret_key",
    "redact",
    "render_ops",
]

REDACTED = "<redacted>"

_SECRET_KEY = re.compile(
    r"password|passwd|secret|token|private_key|credential|configdrive|user_data", re.IGNORECASE
)

_SECTIONS = ("properties", "instance_info", "driver_info", "extra")


@dataclass(frozen=True)
class PatchOp:
    """One JSON-patch operation; ``value`` is hidden from ``repr`` (it may be a password)."""

    op: Literal["add", "remove"]
    path: str
    value: Any = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        if self.op == "remove":
            return {"op": "remove", "path": self.path}
        return {"op": self.op, "path": self.path, "value": self.value}


def _escape(token: str) -> str:
    """RFC 6901 escaping, for keys containing ``/`` or ``~``."""
    return token.replace("~", "~0").replace("/", "~1")


def _same(current: Any, desired: Any) -> bool:
    """Equality as JSON sees it: ``True`` is not ``1``, but ``1`` is ``1.0``."""
    if isinstance(current, bool) or isinstance(desired, bool):
        return type(current) is type(desired) and current == desired
    if isinstance(current, Mapping) and isinstance(desired, Mapping):
        return current.keys() == desired.keys() and all(
            _same(current[k], desired[k]) for k in current
        )
    if isinstance(current, list | tuple) and isinstance(desired, list | tuple):
        return len(current) == len(desired) and all(
            _same(a, b) for a, b in zip(current, desired, strict=True)
        )
    return bool(current == desired)


class NodeUpdateBuilder:
    """Accumulates the ops that bring a node to a desired set of values.

    ``current`` is the node as last read (a mapping of top-level fields, e.g.
    ``NodeView.as_patch_base()``); ``None`` for "unknown", which makes every set an ``add``
    and every unset a ``remove``.
    """

    def __init__(self, current: Mapping[str, Any] | None = None) -> None:
        self._current: Mapping[str, Any] | None = current
        self._ops: list[PatchOp] = []

    @property
    def ops(self) -> tuple[PatchOp, ...]:
        return tuple(self._ops)

    def __bool__(self) -> bool:
        return bool(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def _lookup(self, section: str | None, name: str) -> tuple[bool, Any]:
        if self._current is None:
            return False, None
        container: Any = self._current if section is None else self._current.get(section)
        if not isinstance(container, Mapping) or name not in container:
            return False, None
        return True, container[name]

    def _set(self, section: str | None, name: str, value: Any) -> None:
        path = f"/{_escape(name)}" if section is None else f"/{section}/{_escape(name)}"
        known, current = self._lookup(section, name)
        if value is None:
            if self._current is None or (known and current is not None):
                self._ops.append(PatchOp("remove", path))
            return
        if known and _same(current, value):
            return
        self._ops.append(PatchOp("add", path, value))

    def set_top_level(self, name: str, value: Any) -> NodeUpdateBuilder:
        """Set a node field (``name``, ``automated_clean``, ``disable_power_off``...).

        ``None`` removes it (Ironic resets it to its default), and only if it is set now.
        """
        self._set(None, name, value)
        return self

    def set_section(self, section: str, settings: Mapping[str, Any]) -> NodeUpdateBuilder:
        """Set keys inside a dict field; a ``None`` value removes the key if present."""
        if section not in _SECTIONS:
            raise ValueError(f"unknown node section {section!r}: use one of {_SECTIONS}")
        for name, value in settings.items():
            self._set(section, name, value)
        return self

    def set_properties(self, settings: Mapping[str, Any]) -> NodeUpdateBuilder:
        return self.set_section("properties", settings)

    def set_instance_info(self, settings: Mapping[str, Any]) -> NodeUpdateBuilder:
        return self.set_section("instance_info", settings)

    def set_driver_info(self, settings: Mapping[str, Any]) -> NodeUpdateBuilder:
        return self.set_section("driver_info", settings)

    def replace_section(self, section: str, value: Mapping[str, Any]) -> NodeUpdateBuilder:
        """Replace a whole dict field (driver_info when credentials change: the stored
        passwords cannot be read back, so comparison is the caller's decision)."""
        if section not in _SECTIONS:
            raise ValueError(f"unknown node section {section!r}: use one of {_SECTIONS}")
        self._ops.append(PatchOp("add", f"/{section}", dict(value)))
        return self


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact(value: Any, *, key: str = "") -> Any:
    """A copy of ``value`` with secret-looking keys' values replaced, at any depth."""
    if key and is_secret_key(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def render_ops(ops: Sequence[PatchOp]) -> str:
    """The ops as JSON for logs, with password-like values redacted."""
    rendered = []
    for op in ops:
        item = op.to_json()
        if "value" in item:
            last = op.path.rsplit("/", 1)[-1]
            item["value"] = redact(item["value"], key=last)
        rendered.append(item)
    return json.dumps(rendered, sort_keys=True, default=str)
