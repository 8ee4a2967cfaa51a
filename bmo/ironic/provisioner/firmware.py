"""Reading a node's BIOS settings and firmware components, and servicing an active node.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``GetFirmwareSettings`` and
``GetFirmwareComponents`` and ``pkg/provisioner/ironic/servicing.go`` (``Service``,
``startServicing``, ``abortServicing``, ``buildServiceSteps``). Servicing runs the same BIOS
and firmware steps as preparing (:mod:`bmo.api.firmware_steps`), on an ``active`` node,
through Ironic's ``service`` verb — never a re-deploy.

Unlike upstream, BIOS settings of a node Ironic shows unchanged since they were last read
come from the client's :class:`bmo.ironic.bioscache.BiosSettingsCache` (why that is safe is
told there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from bmo.api import firmware_steps
from bmo.api.firmware import FirmwareComponentStatus, SettingSchema
from bmo.ironic.provisioner.core import LONG_DELAY, ProvisionerCore, log
from bmo.ironic.states import State, Target
from bmo.ironic.views import NodeView
from bmo.provisioner.errors import FirmwareUpdateUnsupported, ProvisionerError
from bmo.provisioner.types import FirmwareSettingsResult, ProvisionResult, ServicingData

__all__ = [
    "BIOS_DETAIL_VERSION",
    "FIRMWARE_VERSION",
    "SERVICE_VERSION",
    "FirmwareVerbs",
    "component_status",
    "setting_schema",
]

#: ``GET /bios?detail=True`` with the registry fields.
BIOS_DETAIL_VERSION: Final = (1, 74)
#: ``GET /firmware`` (``features.go HasFirmwareUpdates``).
FIRMWARE_VERSION: Final = (1, 86)
#: The ``service`` provision verb (``features.go HasServicing``).
SERVICE_VERSION: Final = (1, 87)
_NO_FIRMWARE: Final = "no-firmware"
_NIC_PREFIX: Final = "nic:"


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def setting_schema(item: Mapping[str, Any]) -> SettingSchema:
    """One registry entry of ``/bios?detail=True`` as the FirmwareSchema keeps it."""
    allowable = item.get("allowable_values")
    return SettingSchema(
        attribute_type=str(item.get("attribute_type") or ""),
        allowable_values=tuple(str(v) for v in allowable) if isinstance(allowable, list) else (),
        lower_bound=_int(item.get("lower_bound")),
        upper_bound=_int(item.get("upper_bound")),
        min_length=_int(item.get("min_length")),
        max_length=_int(item.get("max_length")),
        read_only=_bool(item.get("read_only")),
        unique=_bool(item.get("unique")),
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def component_status(item: Mapping[str, Any]) -> FirmwareComponentStatus | None:
    """One ``/firmware`` entry, or ``None`` for a component Metal3 does not manage
    (anything but ``bios``, ``bmc`` and ``nic:*``)."""
    component = str(item.get("component") or "")
    if component not in ("bios", "bmc") and not component.startswith(_NIC_PREFIX):
        return None

    def text(key: str) -> str:
        value = item.get(key)
        return "" if value is None else str(value)

    return FirmwareComponentStatus(
        component=component,
        initial_version=text("initial_version"),
        current_version=text("current_version"),
        last_version_flashed=text("last_version_flashed"),
        updated_at=_time(item.get("updated_at")),
    )


class FirmwareVerbs(ProvisionerCore):
    """``get_firmware_settings``, ``get_firmware_components`` and ``service``."""

    def get_firmware_settings(self, include_schema: bool) -> FirmwareSettingsResult:
        """``ironic.go GetFirmwareSettings``, which lists the node's BIOS settings on every
        call (``hostfirmwaresettings_controller.go Reconcile`` calls it every 5 minutes per
        host). Here a node in a stable state whose provision timestamps have not moved since
        the last read is answered from the client's BIOS cache: Ironic rewrites the settings
        only inside tasks that change those timestamps (:mod:`bmo.ironic.bioscache`)."""
        with self._translate("could not get BIOS settings"):
            node = self._get_node()
            detail = include_schema and self._supports(BIOS_DETAIL_VERSION)
            cache = self._client.bios_cache
            items: Sequence[Mapping[str, Any]] | None = cache.get(node, detail)
            cached = items is not None
            if items is None:
                items = self._client.list_bios_settings(node.uuid, detail=detail)
                cache.put(node, detail, items)
        settings: dict[str, str] = {}
        schema: dict[str, SettingSchema] = {}
        for item in items:
            name = item.get("name")
            if not isinstance(name, str) or not name:
                continue
            value = item.get("value")
            settings[name] = "" if value is None else str(value)
            if include_schema:
                schema[name] = setting_schema(item)
        log.info(
            "node %s: %d BIOS settings%s",
            node.uuid,
            len(settings),
            " (node unchanged since they were read)" if cached else "",
        )
        return FirmwareSettingsResult(settings=settings, schema=schema if include_schema else None)

    def get_firmware_components(self) -> tuple[FirmwareComponentStatus, ...]:
        with self._translate("could not get firmware components"):
            node = self._get_node()
            if not self._supports(FIRMWARE_VERSION):
                raise FirmwareUpdateUnsupported(
                    "current ironic version does not support firmware updates"
                )
            if node.firmware_interface == _NO_FIRMWARE:
                raise FirmwareUpdateUnsupported(
                    f"node {node.uuid} uses firmware interface {_NO_FIRMWARE}"
                )
            items = self._client.list_firmware_components(node.uuid)
        found = (component_status(item) for item in items)
        return tuple(c for c in found if c is not None)

    # ------------------------------------------------------------------ servicing.go

    def service(
        self, data: ServicingData, unprepared: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, bool]:
        with self._translate("failed to service host"):
            return self._service(data, unprepared, restart_on_failure)

    def _service(
        self, data: ServicingData, unprepared: bool, restart: bool
    ) -> tuple[ProvisionResult, bool]:
        if not self._supports(SERVICE_VERSION):
            return self._failed(
                "servicing not supported: requires API version 1.87, available is "
                + self._client.microversion
            ), False
        node = self._get_node()
        state = node.provision_state
        if state == State.SERVICE_FAIL:
            if data.should_abort():
                log.info("node %s: changes withdrawn, aborting failed servicing", node.uuid)
                return self._abort_servicing(node)
            if not restart:
                return self._failed(node.last_error or "Servicing failed"), False
            if node.maintenance:
                log.info("node %s: clearing maintenance after a servicing failure", node.uuid)
                return self._unset_maintenance(node), False
            log.info("node %s: restarting servicing after a failure", node.uuid)
            return self._start_servicing(node, data)
        if state == State.ACTIVE:
            if unprepared:
                return self._start_servicing(node, data)
            return ProvisionResult(), False
        if state in (State.SERVICING, State.SERVICE_WAIT):
            # Upstream also aborts in ``servicing``, but Ironic accepts ``abort`` only in
            # ``service wait``/``service hold`` (a 400 otherwise): wait for the step to yield.
            if state == State.SERVICE_WAIT and data.should_abort():
                log.info("node %s: changes withdrawn, aborting servicing", node.uuid)
                return self._abort_servicing(node)
            return self._wait(LONG_DELAY), False
        raise ProvisionerError(f"have unexpected ironic node state {state}")

    def _start_servicing(self, node: NodeView, data: ServicingData) -> tuple[ProvisionResult, bool]:
        steps = firmware_steps.service_steps(
            actual_settings=data.actual_firmware_settings,
            target_settings=data.target_firmware_settings,
            updates=data.target_firmware_components,
        )
        if not steps:
            # Nothing to apply: servicing is done (``started`` so the caller moves on).
            return ProvisionResult(), True
        log.info("node %s: servicing with %d steps", node.uuid, len(steps))
        result = self._try_change_state(node, Target.SERVICE, service_steps=steps)
        if result is not None:
            return result, False
        return self._requested(), True

    def _abort_servicing(self, node: NodeView) -> tuple[ProvisionResult, bool]:
        """``servicing.go abortServicing``: maintenance off first, then ``abort``."""
        if node.maintenance:
            return self._unset_maintenance(node), False
        result = self._try_change_state(node, Target.ABORT)
        if result is not None:
            return result, False
        return self._requested(), True
