"""The inputs of one state-machine pass and the scratchpad it works on.

:class:`HostContext` is what the reconciler knows that is not on the host (the provisioner,
the credentials Secret's version, the time, settings, a random source). :class:`HostRun`
is the pass itself: the host snapshot as it evolves (each change replaces the frozen
object), the next state, and the events and metric samples collected so far: upstream's
``hostStateMachine`` (``host_state_machine.go``) and ``reconcileInfo``
(``baremetalhost_controller.go``) in one object. The state handlers and the actions, power
and detach steps they run all share it; nothing in it performs I/O.
"""

from __future__ import annotations

import dataclasses
import platform
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from bmo.api.constants import ErrorType, OperationalStatus, ProvisioningState
from bmo.api.firmware import IntOrString
from bmo.api.hardware import HardwareDetails
from bmo.api.host import BareMetalHost, OperationHistory, OperationMetric
from bmo.hoststate.actions import (
    PROVISIONER_NOT_READY_DELAY,
    STEADY_STATE_POWER_DELAY,
    ActionResult,
    Event,
    MetricKind,
    Metrics,
    MetricSample,
    PassEvents,
)
from bmo.provisioner import (
    FirmwareComponentUpdate,
    HostConfigData,
    PreprovisioningImage,
    Provisioner,
    ProvisionerBusy,
    ProvisionerError,
    ProvisionerNotReady,
)

__all__ = [
    "FirmwareState",
    "HostContext",
    "HostRun",
    "SecretVersion",
    "StateMachineSettings",
    "controller_architecture",
]


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


def _empty_targets() -> Mapping[str, IntOrString]:
    return MappingProxyType({})


def controller_architecture() -> str:
    """This machine's CPU architecture spelled as ``uname -p`` would (Go's fallback)."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine or "x86_64")


_CONTROLLER_ARCH: Final = controller_architecture()


@dataclass(frozen=True)
class SecretVersion:
    """The BMC credentials Secret as last read: what good/tried credentials record."""

    name: str
    namespace: str
    resource_version: str


@dataclass(frozen=True)
class StateMachineSettings:
    """Tunables from bmo's settings that change state-machine decisions."""

    #: ``--max-provisioning-retries``: 0 means retry provisioning forever.
    max_provisioning_retries: int = 0
    #: How long a host whose power is as wanted waits before checking again: upstream's
    #: ``steadyStateResult`` in ``manageHostPower`` (60 s), or
    #: :data:`~bmo.hoststate.actions.WATCHED_POWER_POLL_DELAY` when the backend wakes hosts
    #: on every change of their machine.
    power_poll_delay: float = STEADY_STATE_POWER_DELAY


@dataclass(frozen=True)
class FirmwareState:
    """What the HostFirmwareSettings/HostFirmwareComponents/HostUpdatePolicy objects ask for.

    ``ready`` is false while either object's conditions describe an older generation (the
    machine then waits 60 s in ``preparing``). ``settings_changed``/``components_changed``
    are upstream's ``getHostFirmwareSettings``/``getHostFirmwareComponents`` "dirty" results
    (the ``ChangeDetected`` condition); ``target_settings`` is the HFS ``spec.settings``
    (int-or-string), ``actual_settings`` its ``status.settings``, ``target_components`` the
    pending updates only. ``live_settings``/``live_updates`` are the HostUpdatePolicy's
    ``onReboot`` choices; ``has_settings_spec``/``has_components_spec`` say whether the
    objects still ask for anything (servicing is aborted once they do not). The defaults
    mean "nothing to change".
    """

    ready: bool = True
    settings_changed: bool = False
    components_changed: bool = False
    target_settings: Mapping[str, IntOrString] = field(default_factory=_empty_targets)
    actual_settings: Mapping[str, str] = field(default_factory=_empty)
    target_components: tuple[FirmwareComponentUpdate, ...] = ()
    live_settings: bool = False
    live_updates: bool = False
    has_settings_spec: bool = False
    has_components_spec: bool = False


@dataclass(frozen=True)
class HostContext:
    """Everything besides the host that one pass needs. ``now`` must be timezone-aware."""

    provisioner: Provisioner
    now: datetime
    #: False while deleting a host whose BMC Secret could not be read.
    have_credentials: bool = True
    credentials_secret: SecretVersion | None = None
    settings: StateMachineSettings = field(default_factory=StateMachineSettings)
    #: ``random.random``-like source in [0, 1) for backoff jitter.
    rand: Callable[[], float] = random.random
    #: Shared with the provisioner's publisher so events keep their order; optional.
    events: PassEvents | None = None
    host_config: HostConfigData | None = None
    image_pull_secret: str = field(default="", repr=False)
    #: Why the OCI pull secret could not be resolved (recorded as a provisioning error).
    image_auth_error: str = ""
    preprovisioning_image: PreprovisioningImage | None = None
    #: Why the host's PreprovisioningImage cannot be used (``imageBuildError`` upstream):
    #: recorded as a registration error.
    preprovisioning_image_error: str = ""
    preprovisioning_network_data: str = field(default="", repr=False)
    hardware_data: HardwareDetails | None = None
    firmware: FirmwareState = field(default_factory=FirmwareState)
    controller_architecture: str = _CONTROLLER_ARCH
    #: A DataImage change must go in before the host powers on (``hoststate.dataimage``).
    data_image_pending: bool = False


class HostRun:
    """One pass over one host: the evolving snapshot plus what to report."""

    def __init__(self, host: BareMetalHost, ctx: HostContext) -> None:
        self.host = host
        self.ctx = ctx
        self.prov = ctx.provisioner
        self.initial_state = host.status.provisioning.state
        self.next_state = self.initial_state
        self.recorder = ctx.events if ctx.events is not None else PassEvents()
        self.metrics: list[MetricSample] = []
        self.removed_annotations: set[str] = set()
        self.hardware_data: HardwareDetails | None = None
        self.remove_finalizer = False
        self.release_secrets = False

    # -- reading

    @property
    def deleting(self) -> bool:
        return self.host.metadata.deletion_timestamp is not None

    @property
    def error_type(self) -> str:
        return self.host.status.error_type

    def has_error(self, error_type: str) -> bool:
        return self.host.status.error_type == error_type

    def host_labels(self) -> dict[str, str]:
        return {"namespace": self.host.namespace, "host": self.host.name}

    def architecture(self) -> str:
        """``spec.architecture``, else the inspected CPU, else the controller's own."""
        if self.host.spec.architecture:
            return self.host.spec.architecture
        hardware = self.host.status.hardware
        if hardware is not None and hardware.cpu.arch:
            return hardware.cpu.arch
        return self.ctx.controller_architecture

    # -- changing the host

    def set_status(self, **changes: Any) -> None:
        self.host = self.host.with_status(**changes)

    def set_provisioning(self, **changes: Any) -> None:
        provisioning = dataclasses.replace(self.host.status.provisioning, **changes)
        self.host = self.host.with_status(provisioning=provisioning)

    def set_operational_status(self, value: str) -> bool:
        if self.host.status.operational_status == value:
            return False
        self.set_status(operational_status=value)
        return True

    def clear_error(self, operational_status: str = OperationalStatus.OK) -> bool:
        """Status back to ``operational_status`` with no error; ``error_count`` is kept."""
        dirty = self.set_operational_status(operational_status)
        if self.host.status.error_type or self.host.status.error_message:
            self.set_status(error_type="", error_message="")
            dirty = True
        return dirty

    def reset_error_count(self) -> None:
        if self.host.status.error_count:
            self.set_status(error_count=0)

    def remove_annotation(self, key: str) -> bool:
        if key not in self.host.annotations:
            return False
        self.host = dataclasses.replace(
            self.host, metadata=self.host.metadata.without_annotation(key)
        )
        self.removed_annotations.add(key)
        return True

    # -- reporting

    def publish(self, reason: str, message: str, type_: str = "Normal") -> None:
        self.recorder.record(Event(reason, message, type_))

    def count(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        self.metrics.append(MetricSample(name, dict(labels or {})))

    def observe(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        self.metrics.append(MetricSample(name, dict(labels), value, MetricKind.OBSERVE))

    def record_failure(self, error_type: str, message: str) -> ActionResult:
        """Upstream ``recordActionFailure``: error status, count, event, metric, back off."""
        self.set_status(
            operational_status=OperationalStatus.ERROR,
            error_type=error_type,
            error_message=message,
            error_count=self.host.status.error_count + 1,
        )
        reason = ErrorType.EVENT_REASONS.get(error_type, error_type)
        self.count(Metrics.HOST_ERROR, {"error_type": reason})
        self.publish(reason, message)
        return ActionResult.failed()

    def record_delayed(self, state: str) -> ActionResult:
        """No (de)provisioning slot free: status ``delayed``, count it, retry in 1-2 min
        (upstream ``recordActionDelayed``)."""
        name = (
            Metrics.DELAYED_DEPROVISIONING
            if state == ProvisioningState.DEPROVISIONING
            else Metrics.DELAYED_PROVISIONING
        )
        self.count(name, self.host_labels())
        self.set_operational_status(OperationalStatus.DELAYED)
        return ActionResult.delayed()

    def progress(self, requeue_after: float) -> ActionResult:
        """The provisioner is still working: clear a stale error, come back later."""
        if self.clear_error():
            return ActionResult.update(requeue_after)
        return ActionResult.cont(requeue_after)

    def transient(self, what: str, error: ProvisionerError) -> ActionResult:
        """Map a provisioner exception to a result: not ready and busy are plain waits."""
        if isinstance(error, ProvisionerNotReady):
            self.count(Metrics.PROVISIONER_NOT_READY)
            return ActionResult.cont(PROVISIONER_NOT_READY_DELAY)
        if isinstance(error, ProvisionerBusy):
            return ActionResult.cont(error.retry_after)
        return ActionResult.fail_transient(f"{what}: {error}", error)

    # -- operation history (upstream host_state_machine.go recordStateBegin/recordStateEnd)

    def _operation(self, state: str) -> tuple[str, OperationMetric] | None:
        attr = OperationHistory.attribute_for_state(state)
        if attr is None:
            return None
        return attr, getattr(self.host.status.operation_history, attr)

    def _set_operation(self, attr: str, metric: OperationMetric) -> None:
        history = dataclasses.replace(self.host.status.operation_history, **{attr: metric})
        self.set_status(operation_history=history)

    def record_state_begin(self, state: str) -> None:
        found = self._operation(state)
        if found is None:
            return
        attr, metric = found
        if metric.start is None or metric.end is not None:
            self._set_operation(attr, OperationMetric(start=self.ctx.now))

    def record_state_end(self, state: str) -> bool:
        found = self._operation(state)
        if found is None:
            return False
        attr, metric = found
        if metric.start is None or metric.end is not None:
            return False
        ended = dataclasses.replace(metric, end=self.ctx.now)
        self._set_operation(attr, ended)
        self.observe(
            Metrics.OPERATION_DURATION[attr], ended.duration().total_seconds(), self.host_labels()
        )
        return True
