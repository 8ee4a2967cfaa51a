"""Admission decisions for the firmware kinds.

* HostFirmwareComponents: upstream
  ``internal/webhooks/metal3.io/v1alpha1/hostfirmwarecomponents_webhook.go`` (``ValidateCreate``,
  ``ValidateUpdate``) with ``hostfirmwarecomponents_validation.go``: every update's URL must
  parse and use ``http``, ``https`` or ``oci``; the problems are joined like
  ``kerrors.NewAggregate``.
* HostFirmwareSettings (bmo's addition; upstream only checks in the controller): once the
  host's FirmwareSchema is known (named in ``status.schema``), a ``spec.settings`` the
  controller would mark ``Valid=False`` is refused at admission with the controller's own
  messages (``hostfirmwaresettings_controller.go validateHostFirmwareSettings``). The schema
  comes from a :data:`SchemaLookup` the operator feeds from its informer cache; this package
  holds no Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import structlog

from bmo.api.errors import APIError
from bmo.api.firmware import (
    HFC_KIND,
    HFS_KIND,
    HostFirmwareComponents,
    HostFirmwareSettings,
    SettingSchema,
)
from bmo.api.firmware_rules import (
    firmware_update_url_errors,
    invalid_setting_event,
    validate_settings,
)
from bmo.api.validation import ValidationProblem
from bmo.webhook.admission import (
    CONNECT,
    CREATE,
    DELETE,
    UPDATE,
    AdmissionRequest,
    Decision,
)

__all__ = [
    "HOSTFIRMWARECOMPONENTS_PATH",
    "HOSTFIRMWARESETTINGS_PATH",
    "SchemaLookup",
    "decide_components",
    "decide_settings",
]

log = structlog.get_logger(__name__)

HOSTFIRMWARECOMPONENTS_PATH: Final = "/validate-metal3-io-v1alpha1-hostfirmwarecomponents"
HOSTFIRMWARESETTINGS_PATH: Final = "/validate-metal3-io-v1alpha1-hostfirmwaresettings"
_GROUP, _VERSION = "metal3.io", "v1alpha1"

SchemaLookup: TypeAlias = Callable[[str, str], Mapping[str, SettingSchema] | None]
"""``(namespace, name)`` → a FirmwareSchema's ``spec.schema``, or ``None`` when unknown."""


def _for_kind(request: AdmissionRequest, kind: str) -> Decision | None:
    """The answer for what is not a CREATE/UPDATE of ``kind``; ``None`` to validate."""
    if request.operation in (DELETE, CONNECT):
        return Decision.allow()
    if (request.kind.group, request.kind.version, request.kind.kind) != (_GROUP, _VERSION, kind):
        return Decision.allow()
    if request.operation not in (CREATE, UPDATE):
        return Decision.errored(400, f'unknown operation "{request.operation}"')
    if request.object is None:
        return Decision.errored(
            400,
            f"AdmissionReview request.object is missing: a {kind} {request.operation} "
            "review must carry it",
        )
    return None


def _undecodable(kind: str, exc: Exception) -> Decision:
    message = str(exc) if isinstance(exc, APIError) else type(exc).__name__
    return Decision.errored(400, f"request.object cannot be decoded as a {kind}: {message}")


def decide_components(request: AdmissionRequest) -> Decision:
    """``ValidateCreate``/``ValidateUpdate``: only the new object's update URLs count."""
    early = _for_kind(request, HFC_KIND)
    if early is not None:
        return early
    assert request.object is not None
    try:
        hfc = HostFirmwareComponents.from_dict(request.object)
    except (APIError, ValueError, TypeError) as exc:
        return _undecodable(HFC_KIND, exc)
    errors = firmware_update_url_errors(hfc.spec.updates)
    problems = [ValidationProblem("spec.updates", message) for message in errors]
    return Decision.deny(problems) if problems else Decision.allow()


def decide_settings(request: AdmissionRequest, lookup: SchemaLookup | None) -> Decision:
    """Refuse ``spec.settings`` the host's known FirmwareSchema rejects; allow while no
    schema is known (the controller still validates once it is)."""
    early = _for_kind(request, HFS_KIND)
    if early is not None:
        return early
    assert request.object is not None
    try:
        hfs = HostFirmwareSettings.from_dict(_with_namespace(request, request.object))
    except (APIError, ValueError, TypeError) as exc:
        return _undecodable(HFS_KIND, exc)
    reference = hfs.status.schema
    if lookup is None or reference is None or not reference.name:
        return Decision.allow()
    try:
        schema = lookup(reference.namespace or hfs.metadata.namespace, reference.name)
    except Exception as exc:  # a failing cache must not block every edit
        log.warning("firmware schema lookup failed", error_type=type(exc).__name__)
        return Decision.allow()
    if schema is None:
        return Decision.allow()
    # Names Ironic did not report are the controller's check (it needs status.settings,
    # which is the controller's to fill); the webhook checks what the schema says.
    problems = [
        ValidationProblem(f"spec.settings[{p.name}]", invalid_setting_event(p))
        for p in validate_settings(hfs.spec.settings, schema)
    ]
    return Decision.deny(problems) if problems else Decision.allow()


def _with_namespace(request: AdmissionRequest, document: Mapping[str, Any]) -> dict[str, Any]:
    metadata = dict(document.get("metadata") or {})
    if not metadata.get("namespace"):
        metadata["namespace"] = request.namespace
    return {**document, "metadata": metadata}
