"""Pure rules over the firmware kinds, with upstream's messages.

* BIOS settings against a FirmwareSchema (``firmwareschema_types.go SettingSchema.Validate``
  and ``FirmwareSchema.ValidateSetting``, plus the checks
  ``hostfirmwaresettings_controller.go validateHostFirmwareSettings`` runs first);
* the shared FirmwareSchema's name (``hostfirmwaresettings_controller.go GetSchemaName``);
* what Ironic reports that is never stored (Password settings, ``updateStatus`` and
  ``getOrCreateFirmwareSchema``);
* change detection for HostFirmwareSettings (``updateStatus``) and HostFirmwareComponents
  (``hostfirmwarecomponents_controller.go updateHostFirmware``), and which changes the host
  controller may act on (``baremetalhost_controller.go getHostFirmwareSettings``,
  ``getHostFirmwareComponents``, ``getUpdatesDifference``);
* HostFirmwareComponents' update names (the controller's ``ValidateHostFirmwareComponents``,
  condition reason ``InvalidComponent``) and URLs (the webhook's
  ``hostfirmwarecomponents_validation.go``);
* the ``Valid``/``ChangeDetected`` conditions both controllers write.

Upstream iterates Go maps (random order); here every walk is in sorted name order so that
messages, events and steps are reproducible.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from bmo.api.errors import APIError
from bmo.api.firmware import (
    FirmwareUpdate,
    HostFirmwareComponents,
    HostFirmwareSettings,
    IntOrString,
    SettingSchema,
    int_or_string_text,
)
from bmo.api.golang.url import GoURLError, parse_request_uri
from bmo.api.meta import Condition

__all__ = [
    "CONDITION_CHANGE_DETECTED",
    "CONDITION_VALID",
    "FIRMWARE_COMPONENTS",
    "FIRMWARE_URL_SCHEMES",
    "INVALID_SETTINGS_MESSAGE",
    "NIC_COMPONENT_PREFIX",
    "REASON_COMPONENTS_OK",
    "REASON_CONFIGURATION_ERROR",
    "REASON_INVALID_COMPONENT",
    "REASON_SUCCESS",
    "VALIDATION_FAILED_EVENT",
    "FirmwareNotReadyError",
    "SettingProblem",
    "changed_settings",
    "component_name_error",
    "components_conditions",
    "components_ready_to_apply",
    "firmware_update_url_errors",
    "invalid_components_message",
    "invalid_setting_event",
    "merge_conditions",
    "pending_updates",
    "schema_name",
    "settings_change_detected",
    "settings_conditions",
    "settings_ready_to_apply",
    "storable_schema",
    "storable_settings",
    "updates_change_detected",
    "validate_setting",
    "validate_setting_value",
    "validate_settings",
]

# Condition types shared by HostFirmwareSettings and HostFirmwareComponents.
CONDITION_CHANGE_DETECTED: Final = "ChangeDetected"
CONDITION_VALID: Final = "Valid"

# HostFirmwareSettings reasons and messages (hostfirmwaresettings_controller.go).
REASON_SUCCESS: Final = "Success"
REASON_CONFIGURATION_ERROR: Final = "ConfigurationError"
INVALID_SETTINGS_MESSAGE: Final = "Invalid BIOS setting"
VALIDATION_FAILED_EVENT: Final = "ValidationFailed"

# HostFirmwareComponents reasons (hostfirmwarecomponents_controller.go).
REASON_COMPONENTS_OK: Final = "OK"
REASON_INVALID_COMPONENT: Final = "InvalidComponent"

NIC_COMPONENT_PREFIX: Final = "nic:"
FIRMWARE_COMPONENTS: Final = ("bmc", "bios")
FIRMWARE_URL_SCHEMES: Final = ("http", "https", "oci")
"""``internal/webhooks/metal3.io/v1alpha1/common_validation.go validateURL``."""

_PASSWORD: Final = "Password"
_TRUE: Final = "True"
_FALSE: Final = "False"


class FirmwareNotReadyError(APIError):
    """A change is flagged but the status it is measured against is not there yet."""


# --- settings against the schema ----------------------------------------------------------

_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _go_atoi(text: str) -> int | None:
    """``strconv.Atoi``: optional sign, ASCII digits, 64-bit range; no spaces, no ``_``."""
    if not _GO_INT.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _int_value(value: IntOrString) -> int:
    """``IntOrString.IntValue()``: a string that is not a number counts as 0."""
    if isinstance(value, int):
        return value
    return _go_atoi(value) or 0


def _invalid(name: str, why: str) -> str:
    return f"Setting {name} is invalid, {why}"


def validate_setting_value(name: str, value: IntOrString, setting: SettingSchema) -> str | None:
    """``SettingSchema.Validate``: ``None`` when ``value`` may be set, else upstream's message.

    The checks run in upstream's order (read-only, a ``Password`` name, then by type) and stop
    at the first failure. A setting without a type passes: Ironic may not know the registry.
    """
    if setting.read_only:
        return _invalid(name, "it is ReadOnly")
    if _PASSWORD in name:
        return _invalid(name, "Password fields can't be set")
    text = int_or_string_text(value)
    kind = setting.attribute_type
    if kind == "Enumeration":
        if text in setting.allowable_values:
            return None
        return _invalid(name, f"unknown enumeration value - {text}")
    if kind == "Integer":
        if isinstance(value, str) and _go_atoi(value) is None:
            return _invalid(name, f"String {text} entered while integer expected")
        number = _int_value(value)
        if setting.lower_bound is not None and number < setting.lower_bound:
            return _invalid(name, f"integer {number} is below minimum value {setting.lower_bound}")
        if setting.upper_bound is not None and number > setting.upper_bound:
            return _invalid(name, f"integer {number} is above maximum value {setting.upper_bound}")
        return None
    if kind == "String":
        length = len(text.encode("utf-8"))  # Go's len() counts bytes
        if setting.min_length is not None and length < setting.min_length:
            return _invalid(
                name, f"string {text} length is below minimum length {setting.min_length}"
            )
        if setting.max_length is not None and length > setting.max_length:
            return _invalid(
                name, f"string {text} length is above maximum length {setting.max_length}"
            )
        return None
    if kind == "Boolean":
        return None if text in ("true", "false") else _invalid(name, f"{text} is not a boolean")
    if kind == "Password":
        return _invalid(name, "passwords are immutable")
    if kind == "":
        return None
    return _invalid(name, f"unexpected attribute type {kind}")


def validate_setting(
    name: str, value: IntOrString, schema: Mapping[str, SettingSchema]
) -> str | None:
    """``FirmwareSchema.ValidateSetting``: unknown names are refused too."""
    setting = schema.get(name)
    if setting is None:
        return _invalid(name, "it is not in the associated schema")
    return validate_setting_value(name, value, setting)


@dataclass(frozen=True)
class SettingProblem:
    """Why one ``spec.settings`` entry cannot be applied; ``str()`` is upstream's text."""

    name: str
    message: str

    def __str__(self) -> str:
        return self.message


def invalid_setting_event(problem: SettingProblem) -> str:
    """The message of the ``ValidationFailed`` event upstream records per problem."""
    return f"{INVALID_SETTINGS_MESSAGE}: {problem.message}"


def validate_settings(
    settings: Mapping[str, IntOrString],
    schema: Mapping[str, SettingSchema] | None,
    current: Mapping[str, str] | None = None,
) -> list[SettingProblem]:
    """Every problem with ``settings`` (``validateHostFirmwareSettings``), in name order.

    ``schema`` is the FirmwareSchema's ``spec.schema`` (``None``: not known yet, only the
    name checks run). ``current`` is the HostFirmwareSettings' ``status.settings``: the
    controller also refuses names Ironic did not report; the admission webhook, which may run
    before the status is filled, passes ``None`` to skip that check. A name containing
    ``Password`` is always refused, with upstream's name-less message.
    """
    problems: list[SettingProblem] = []
    for name in sorted(settings):
        if _PASSWORD in name:
            problems.append(SettingProblem(name, "cannot set Password field"))
            continue
        if current is not None and name not in current:
            problems.append(SettingProblem(name, f"setting {name} is not in the Status field"))
            continue
        if schema is not None:
            message = validate_setting(name, settings[name], schema)
            if message is not None:
                problems.append(SettingProblem(name, message))
    return problems


# --- what is stored, and under which name -------------------------------------------------


def storable_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """Ironic's settings minus the (encrypted) Password ones, as ``updateStatus`` stores them."""
    return {name: value for name, value in settings.items() if _PASSWORD not in name}


def storable_schema(schema: Mapping[str, SettingSchema]) -> dict[str, SettingSchema]:
    """The registry minus Password settings, as ``getOrCreateFirmwareSchema`` stores it."""
    return {
        name: setting
        for name, setting in schema.items()
        if _PASSWORD not in name and setting.attribute_type != _PASSWORD
    }


def _hash_keys(schema: Mapping[str, SettingSchema]) -> list[str]:
    keys: list[str] = []
    for name, setting in schema.items():
        keys.append(name)
        keys.append(setting.attribute_type)
        keys.extend(setting.allowable_values)
        for bound in (
            setting.lower_bound,
            setting.upper_bound,
            setting.min_length,
            setting.max_length,
        ):
            if bound is not None:
                keys.append(str(bound))
        if setting.read_only is not None:
            keys.append("true" if setting.read_only else "false")
    return keys


def schema_name(schema: Mapping[str, SettingSchema]) -> str:
    """``GetSchemaName``: ``schema-`` and 8 hex digits of a SHA-256 over the registry.

    Upstream hashes the *sorted* list of every name, type, allowable value, bound and
    read-only flag (not ``unique``), formatted by ``%v`` as ``[a b c]``, so hosts of the same
    model share one FirmwareSchema. Pass the registry exactly as Ironic returned it, before
    :func:`storable_schema` drops the Password entries: upstream names it from the full one.
    Python sorts ``str`` by code point, which is Go's byte order for UTF-8.
    """
    text = "[" + " ".join(sorted(_hash_keys(schema))) + "]"
    return "schema-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


# --- change detection ---------------------------------------------------------------------


def changed_settings(
    desired: Mapping[str, IntOrString], current: Mapping[str, str]
) -> dict[str, IntOrString]:
    """The desired settings whose value differs from Ironic's (missing counts as different).

    Values are compared as text (``IntOrString.String()``), so ``5`` matches ``"5"``; the
    desired value is returned unchanged, an int stays an int.
    """
    return {
        name: desired[name]
        for name in sorted(desired)
        if current.get(name) != int_or_string_text(desired[name])
    }


def settings_change_detected(
    desired: Mapping[str, IntOrString], current: Mapping[str, str]
) -> bool:
    """``updateStatus``'s ``specMismatch``: some desired value is not what Ironic reports."""
    return bool(changed_settings(desired, current))


def updates_change_detected(
    spec: Sequence[FirmwareUpdate], status: Sequence[FirmwareUpdate] | None
) -> bool:
    """``updateHostFirmware``'s ``updatesMismatch``: the lists differ (order counts), unless
    both are empty."""
    if not spec and not status:
        return False
    return tuple(spec) != tuple(status or ())


def pending_updates(
    spec: Sequence[FirmwareUpdate], status: Sequence[FirmwareUpdate] | None
) -> tuple[FirmwareUpdate, ...]:
    """The updates still to flash (``getUpdatesDifference``), in ``spec`` order.

    ``status`` ``None`` (nothing applied yet) means all of ``spec``; otherwise an update is
    pending unless the status holds the same component with the same URL.
    """
    if status is None:
        return tuple(spec)
    applied = {update.component: update.url for update in status}
    return tuple(u for u in spec if applied.get(u.component) != u.url)


def _condition(conditions: Iterable[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def _is_true(conditions: Iterable[Condition], kind: str) -> bool:
    found = _condition(conditions, kind)
    return found is not None and found.status == _TRUE


def settings_ready_to_apply(hfs: HostFirmwareSettings | None) -> bool:
    """Whether preparing/servicing should push ``hfs``'s settings (``getHostFirmwareSettings``).

    True when the HostFirmwareSettings controller flagged ``ChangeDetected`` and ``Valid``.
    Raises :class:`FirmwareNotReadyError` when a change is flagged but Ironic's settings are
    not in the status yet: the caller waits rather than applying blind.
    """
    if hfs is None or not _is_true(hfs.status.conditions, CONDITION_CHANGE_DETECTED):
        return False
    if not hfs.status.settings:
        raise FirmwareNotReadyError("host firmware status settings not available")
    return _is_true(hfs.status.conditions, CONDITION_VALID)


def components_ready_to_apply(hfc: HostFirmwareComponents | None) -> bool:
    """Whether preparing/servicing should flash ``hfc``'s updates (``getHostFirmwareComponents``).

    ``ChangeDetected`` must be true *for the current generation* (a stale condition from before
    the last spec edit does not count) and ``Valid`` true.
    """
    if hfc is None:
        return False
    changed = _condition(hfc.status.conditions, CONDITION_CHANGE_DETECTED)
    if changed is None or changed.status != _TRUE:
        return False
    if changed.observed_generation != hfc.metadata.generation:
        return False
    return _is_true(hfc.status.conditions, CONDITION_VALID)


# --- HostFirmwareComponents updates --------------------------------------------------------


def component_name_error(updates: Sequence[FirmwareUpdate]) -> str | None:
    """``ValidateHostFirmwareComponents``: the first update whose component is not ``bios``,
    ``bmc`` or ``nic:*``, with upstream's message; ``None`` when all are valid."""
    for update in updates:
        name = update.component
        if name not in FIRMWARE_COMPONENTS and not name.startswith(NIC_COMPONENT_PREFIX):
            return (
                f"component {name} is invalid, only 'bmc', 'bios', or names starting with "
                f"'{NIC_COMPONENT_PREFIX}' are allowed as update names"
            )
    return None


def invalid_components_message(error: str) -> str:
    """The ``Valid=False`` condition message and event text: upstream formats its one-element
    ``[]error`` with ``%s``, hence the brackets."""
    return f"Invalid Firmware Components: [{error}]"


def _url_error(url: str) -> str | None:
    try:
        scheme = parse_request_uri(url).scheme
    except GoURLError as exc:
        return str(exc)
    if scheme not in FIRMWARE_URL_SCHEMES:
        return f'invalid scheme in URL, "{scheme}" not allowed'
    return None


def firmware_update_url_errors(updates: Sequence[FirmwareUpdate]) -> list[str]:
    """The webhook's rejections of ``spec.updates`` (``validateHostFirmwareComponents``).

    Only URLs are checked here; component names are the controller's business upstream.
    """
    errors: list[str] = []
    for update in updates:
        reason = _url_error(update.url)
        if reason is not None:
            errors.append(
                f'invalid URL "{update.url}" in FirmwareUpdate in component '
                f'"{update.component}": {reason}'
            )
    return errors


# --- conditions ----------------------------------------------------------------------------


def _wanted(kind: str, status: str, reason: str, message: str, generation: int) -> Condition:
    return Condition(
        type=kind, status=status, observed_generation=generation, reason=reason, message=message
    )


def settings_conditions(
    generation: int, change_detected: bool, problems: Sequence[SettingProblem]
) -> tuple[Condition, Condition]:
    """The two conditions ``updateStatus`` sets, in its order, without transition times.

    ``problems`` only matters when a change is detected: upstream validates nothing else.
    """
    if not change_detected:
        return (
            _wanted(CONDITION_VALID, _TRUE, REASON_SUCCESS, "", generation),
            _wanted(CONDITION_CHANGE_DETECTED, _FALSE, REASON_SUCCESS, "", generation),
        )
    changed = _wanted(CONDITION_CHANGE_DETECTED, _TRUE, REASON_SUCCESS, "", generation)
    if problems:
        valid = _wanted(
            CONDITION_VALID,
            _FALSE,
            REASON_CONFIGURATION_ERROR,
            INVALID_SETTINGS_MESSAGE,
            generation,
        )
    else:
        valid = _wanted(CONDITION_VALID, _TRUE, REASON_SUCCESS, "", generation)
    return changed, valid


def components_conditions(
    generation: int, change_detected: bool, component_error: str | None
) -> tuple[Condition, Condition]:
    """The two conditions ``updateHostFirmware`` sets, in its order, without transition times.

    Every reason is ``OK`` except a failed name check's ``Valid=False``: ``InvalidComponent``,
    with :func:`invalid_components_message` (also the ``ValidationFailed`` event's text).
    """
    if not change_detected:
        return (
            _wanted(CONDITION_VALID, _TRUE, REASON_COMPONENTS_OK, "", generation),
            _wanted(CONDITION_CHANGE_DETECTED, _FALSE, REASON_COMPONENTS_OK, "", generation),
        )
    changed = _wanted(CONDITION_CHANGE_DETECTED, _TRUE, REASON_COMPONENTS_OK, "", generation)
    if component_error is not None:
        valid = _wanted(
            CONDITION_VALID,
            _FALSE,
            REASON_INVALID_COMPONENT,
            invalid_components_message(component_error),
            generation,
        )
    else:
        valid = _wanted(CONDITION_VALID, _TRUE, REASON_COMPONENTS_OK, "", generation)
    return changed, valid


def merge_conditions(
    existing: Sequence[Condition], wanted: Iterable[Condition], now: datetime
) -> tuple[Condition, ...]:
    """``meta.SetStatusCondition`` for each of ``wanted``, in turn.

    A condition keeps its place and its ``lastTransitionTime`` unless its status flips; reason,
    message and observed generation always follow ``wanted``; new types are appended with
    ``now``. Compare the result with ``existing`` to know whether the status must be written.
    """
    merged = list(existing)
    for want in wanted:
        for i, have in enumerate(merged):
            if have.type == want.type:
                moved = have.status != want.status or have.last_transition_time is None
                merged[i] = replace(
                    want,
                    last_transition_time=now if moved else have.last_transition_time,
                )
                break
        else:
            merged.append(replace(want, last_transition_time=want.last_transition_time or now))
    return tuple(merged)
