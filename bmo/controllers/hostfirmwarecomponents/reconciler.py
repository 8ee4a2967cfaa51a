"""The HostFirmwareComponents reconciler: upstream
``internal/controller/metal3.io/hostfirmwarecomponents_controller.go`` ``Reconcile``.

One pass: find the same-named BareMetalHost and HostFirmwareComponents in the caches, ask
the provisioner for the host's firmware components (``bios``, ``bmc``, ``nic:*`` with their
versions), then ``updateHostFirmware``: ``status.components`` mirrors Ironic,
``ChangeDetected`` says ``spec.updates`` differs from ``status.updates`` and ``Valid`` says
every update names a known component (reason ``InvalidComponent`` otherwise). The status is
written only when it changed; the ``ValidationFailed`` event follows the write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Protocol

import structlog
from kubernetes import client as k8s

from bmo.api.errors import APIError
from bmo.api.firmware import HFC_PLURAL, FirmwareComponentStatus, HostFirmwareComponents
from bmo.api.firmware_rules import (
    CONDITION_CHANGE_DETECTED,
    VALIDATION_FAILED_EVENT,
    component_name_error,
    components_conditions,
    invalid_components_message,
    merge_conditions,
    updates_change_detected,
)
from bmo.api.host import BareMetalHost
from bmo.controllers.hostfirmwaresettings.subresource import (
    PROVISIONER_RETRY_DELAY,
    REQUEUE_DELAY,
    REQUEUE_DELAY_CHANGE_DETECTED,
    UNMANAGED_RETRY_DELAY,
    ObjectStore,
    replace_status,
    skip_reason,
)
from bmo.provisioner import (
    FirmwareUpdateUnsupported,
    ProvisionerError,
    ProvisionerFactory,
    ProvisionerNotReady,
    build_host_data,
)
from bmo.runtime.cache import KubeObject
from bmo.runtime.controller import Result, TerminalError

__all__ = ["ComponentsEventSink", "HostFirmwareComponentsReconciler"]

log = structlog.get_logger(__name__)

_TRUE: Final = "True"


class ComponentsEventSink(Protocol):
    def publish(self, hfc: HostFirmwareComponents, reason: str, message: str) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ignore_event(_reason: str, _message: str) -> None:
    """Listing components publishes no provisioner events."""


class HostFirmwareComponentsReconciler:
    """Reconciles one HostFirmwareComponents per call (key = the host's ``namespace/name``)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        hosts: ObjectStore,
        components_store: ObjectStore,
        factory: ProvisionerFactory,
        *,
        events: ComponentsEventSink | None = None,
        clock: Callable[[], datetime] = _utcnow,
        max_requeue_after: float | None = None,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._hosts = hosts
        self._hfc = components_store
        self._factory = factory
        self._events = events
        self._clock = clock
        self._cap = max_requeue_after

    def reconcile(self, namespace: str, name: str) -> Result:
        key = f"{namespace}/{name}"
        raw_host = self._hosts.get(key)
        if raw_host is None:
            return Result()
        try:
            host = BareMetalHost.from_dict(raw_host)
        except (APIError, ValueError) as exc:
            raise TerminalError(f"BareMetalHost {key} cannot be decoded: {exc}") from None
        why = skip_reason(host)
        if why is not None:
            log.debug("not reconciling firmware components", reason=why)
            return self._after(UNMANAGED_RETRY_DELAY)
        raw = self._hfc.get(key)
        if raw is None:
            return Result()
        try:
            hfc = HostFirmwareComponents.from_dict(raw)
        except (APIError, ValueError) as exc:
            raise TerminalError(f"HostFirmwareComponents {key} cannot be decoded: {exc}") from None
        try:
            provisioner = self._factory.new(build_host_data(host), _ignore_event)
            components = tuple(provisioner.get_firmware_components())
        except FirmwareUpdateUnsupported:
            return Result()
        except (ProvisionerNotReady, ProvisionerError) as exc:
            log.info("provisioner returns error", reason=str(exc))
            return self._after(PROVISIONER_RETRY_DELAY)
        hfc = self._update(raw, hfc, components)
        changed = any(
            c.type == CONDITION_CHANGE_DETECTED and c.status == _TRUE for c in hfc.status.conditions
        )
        return self._after(REQUEUE_DELAY_CHANGE_DETECTED if changed else REQUEUE_DELAY)

    def _update(
        self,
        raw: KubeObject,
        hfc: HostFirmwareComponents,
        components: tuple[FirmwareComponentStatus, ...],
    ) -> HostFirmwareComponents:
        """``updateHostFirmware``: conditions set on the existing ones (their transition
        times kept), components replaced; written only when something changed."""
        now = self._clock()
        old = hfc.status
        mismatch = updates_change_detected(hfc.spec.updates, old.updates)
        error = component_name_error(hfc.spec.updates) if mismatch else None
        wanted = components_conditions(hfc.metadata.generation, mismatch, error)
        conditions = merge_conditions(old.conditions, wanted, now)
        dirty = conditions != old.conditions or tuple(old.components) != components
        if dirty:
            status = dataclasses.replace(
                old,
                components=components,
                conditions=conditions,
                last_updated=now,
            )
            hfc = dataclasses.replace(hfc, status=status)
            replace_status(self._api, HFC_PLURAL, raw, hfc.to_dict()["status"])
            log.info("status for HostFirmwareComponents changed", change_detected=mismatch)
        if error is not None and self._events is not None:
            self._events.publish(hfc, VALIDATION_FAILED_EVENT, invalid_components_message(error))
        return hfc

    def _after(self, seconds: float) -> Result:
        return Result(requeue_after=seconds if self._cap is None else min(seconds, self._cap))
