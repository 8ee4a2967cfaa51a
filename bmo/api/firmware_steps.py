"""The Ironic clean/service steps that apply BIOS settings and firmware updates.

Pure, so the Ironic provisioner (``Prepare``'s manual cleaning, ``Service``) and the tests
share one definition. Mirrors ``pkg/provisioner/ironic/ironic.go buildManualCleaningSteps``,
``getNewFirmwareSettings``, ``buildFirmwareSettings``, ``getFirmwareComponentsUpdates`` and
``pkg/provisioner/ironic/servicing.go buildServiceSteps``:

* manual cleaning runs the RAID steps first, then ``bios.apply_configuration``, then
  ``firmware.update``; servicing runs the same two firmware steps without RAID;
* ``bios.apply_configuration`` gets ``{"settings": [{"name", "value"}]}`` where an integer
  desired value is sent as a JSON integer and a string as a string (Ironic's BIOS interfaces
  type-check integer attributes);
* ``firmware.update`` gets ``{"settings": [{"component", "url"}]}`` in ``spec.updates`` order.

Upstream walks the desired settings map in Go's random order; here it is name order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from bmo.api.firmware import FirmwareUpdate, IntOrString, int_or_string_text

__all__ = [
    "BIOS_APPLY_STEP",
    "FIRMWARE_UPDATE_STEP",
    "bios_settings_to_apply",
    "firmware_steps",
    "firmware_update_settings",
    "manual_cleaning_steps",
    "service_steps",
]

BIOS_APPLY_STEP: Final = ("bios", "apply_configuration")
FIRMWARE_UPDATE_STEP: Final = ("firmware", "update")


def _step(interface_step: tuple[str, str], args: dict[str, Any]) -> dict[str, Any]:
    interface, step = interface_step
    return {"interface": interface, "step": step, "args": args}


def bios_settings_to_apply(
    actual: Mapping[str, str] | None,
    target: Mapping[str, IntOrString],
    converted: Sequence[tuple[str, str]] = (),
) -> list[dict[str, IntOrString]]:
    """``getNewFirmwareSettings``: the ``{"name", "value"}`` list for ``bios.apply_configuration``.

    ``actual`` is the HostFirmwareSettings' ``status.settings`` and ``target`` its
    ``spec.settings``; the host controller passes both only when the object is ready to apply
    (``None`` and ``{}`` otherwise). ``converted`` are the vendor settings the BMC driver
    derives from the deprecated ``spec.firmware`` (``BuildBIOSSettings``), all strings.

    With ``actual`` known: the converted settings whose value differs from Ironic's (unknown
    names are skipped), then the targets whose text differs from Ironic's value (a name
    Ironic does not report compares as ``""``). Without it, only the converted settings. A
    name is sent once, the first time it appears, so a converted value wins over a target.
    """
    settings: list[dict[str, IntOrString]] = []
    seen: set[str] = set()

    def add(name: str, value: IntOrString) -> None:
        if name not in seen:
            seen.add(name)
            settings.append({"name": name, "value": value})

    if actual is None:
        for name, text in converted:
            add(name, text)
        return settings
    for name, text in converted:
        if name in actual and actual[name] != text:
            add(name, text)
    for name in sorted(target):
        value = target[name]
        if actual.get(name, "") != int_or_string_text(value):
            add(name, value)
    return settings


def firmware_update_settings(updates: Sequence[FirmwareUpdate]) -> list[dict[str, str]]:
    """``getFirmwareComponentsUpdates``: ``[{"component", "url"}]`` in the order given."""
    return [{"component": u.component, "url": u.url} for u in updates]


def firmware_steps(
    *,
    actual_settings: Mapping[str, str] | None = None,
    target_settings: Mapping[str, IntOrString] | None = None,
    updates: Sequence[FirmwareUpdate] = (),
    converted_settings: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """The BIOS step (when some setting changes) then the firmware step (when some update is
    pending); empty when there is nothing to do.

    ``updates`` are the pending ones (``firmware_rules.pending_updates``), not all of
    ``spec.updates``.
    """
    steps: list[dict[str, Any]] = []
    settings = bios_settings_to_apply(actual_settings, target_settings or {}, converted_settings)
    if settings:
        steps.append(_step(BIOS_APPLY_STEP, {"settings": settings}))
    flashes = firmware_update_settings(updates)
    if flashes:
        steps.append(_step(FIRMWARE_UPDATE_STEP, {"settings": flashes}))
    return steps


def manual_cleaning_steps(
    raid_steps: Sequence[Mapping[str, Any]],
    *,
    actual_settings: Mapping[str, str] | None = None,
    target_settings: Mapping[str, IntOrString] | None = None,
    updates: Sequence[FirmwareUpdate] = (),
    converted_settings: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """``buildManualCleaningSteps``: the RAID steps (built by the provisioner, which knows the
    driver), then the firmware steps."""
    return [dict(step) for step in raid_steps] + firmware_steps(
        actual_settings=actual_settings,
        target_settings=target_settings,
        updates=updates,
        converted_settings=converted_settings,
    )


def service_steps(
    *,
    actual_settings: Mapping[str, str] | None = None,
    target_settings: Mapping[str, IntOrString] | None = None,
    updates: Sequence[FirmwareUpdate] = (),
    converted_settings: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """``buildServiceSteps``: the same firmware steps, never RAID (a provisioned host keeps
    its disks)."""
    return firmware_steps(
        actual_settings=actual_settings,
        target_settings=target_settings,
        updates=updates,
        converted_settings=converted_settings,
    )
