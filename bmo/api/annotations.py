"""Typed readings of the JSON-valued annotations (reboot, detached).

The controller treats bad values leniently (defaults, plus an event); the webhook checks
in :mod:`bmo.api.validation` reject them. Both read the same shapes defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bmo.api.codec import jfield
from bmo.api.constants import (
    DETACHED_ANNOTATION,
    REBOOT_ANNOTATION,
    DetachedDeleteAction,
    RebootMode,
)
from bmo.api.safejson import MAX_ANNOTATION_BYTES, loads


@dataclass(frozen=True)
class RebootAnnotationArguments:
    mode: str = jfield("mode", omitempty=False, default="")
    force: bool = jfield("force", omitempty=False, default=False)


@dataclass(frozen=True)
class DetachedAnnotationArguments:
    delete_action: str = jfield("deleteAction", default="")
    force: bool = jfield("force", default=False)


class InvalidAnnotationError(ValueError):
    """An annotation value that is not the JSON its consumer expects."""


def load_annotation(key: str, value: str) -> Any:
    """Decode an annotation's JSON value within :mod:`bmo.api.safejson`'s limits (at most
    the API server's size for all annotations); every failure is a ``ValueError`` whose
    message names ``key`` and never quotes the value."""
    return loads(value, what=f"annotation {key}", max_bytes=MAX_ANNOTATION_BYTES)


def parse_reboot_annotation(value: str) -> RebootAnnotationArguments:
    """Read a ``reboot.metal3.io[/key]`` value; ``""`` means a soft reboot.

    Raises :class:`InvalidAnnotationError` for bad JSON or an unknown mode; callers that
    must keep going (the controller) fall back to ``RebootAnnotationArguments(mode="soft")``.
    """
    if value == "":
        return RebootAnnotationArguments(mode=RebootMode.SOFT)
    try:
        data = load_annotation(REBOOT_ANNOTATION, value)
    except ValueError as exc:
        raise InvalidAnnotationError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidAnnotationError("expected a JSON object")
    mode = data.get("mode") or ""
    force = data.get("force") or False
    if mode not in ("", RebootMode.HARD, RebootMode.SOFT) or not isinstance(force, bool):
        raise InvalidAnnotationError("mode must be hard or soft, force a boolean")
    return RebootAnnotationArguments(mode=mode or RebootMode.SOFT, force=force)


def parse_detached_annotation(value: str) -> DetachedAnnotationArguments:
    """Read the ``baremetalhost.metal3.io/detached`` value; invalid JSON means defaults."""
    try:
        data = load_annotation(DETACHED_ANNOTATION, value) if value else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    action = data.get("deleteAction")
    force = data.get("force")
    return DetachedAnnotationArguments(
        delete_action=action
        if action in (DetachedDeleteAction.DELAY, DetachedDeleteAction.DELETE)
        else "",
        force=force if isinstance(force, bool) else False,
    )
