"""What one pass of the host state machine decided, and the vocabulary to say it.

A state handler (and each action it runs) returns an :class:`ActionResult`, one type for
upstream's ``internal/controller/metal3.io/action_result.go`` family (``actionContinue``,
``actionUpdate``, ``actionComplete``, ``actionFailed``, ``actionDelayed``, ``actionError``,
``deleteComplete``): it knows whether the status must be saved and when to come back. The
machine folds it, the new host snapshot, the events and the metric samples into one
:class:`HostOutcome` for the Kubernetes-side reconciler to apply.

Events and metric samples are *descriptions*: the reconciler publishes and counts them only
after the status write succeeded, so they never describe a transition that was not
persisted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from bmo.api.hardware import HardwareDetails
from bmo.api.host import BareMetalHost
from bmo.provisioner import NeedsRegistration

__all__ = [
    "DETACHED_POLL_DELAY",
    "HOST_ERROR_RETRY_DELAY",
    "PREPROV_IMAGE_RETRY_DELAY",
    "PROVISIONER_NOT_READY_DELAY",
    "STEADY_STATE_POWER_DELAY",
    "SUBRESOURCE_NOT_READY_DELAY",
    "UNMANAGED_RETRY_DELAY",
    "WATCHED_POWER_POLL_DELAY",
    "ActionKind",
    "ActionResult",
    "Event",
    "HostOutcome",
    "MetricKind",
    "MetricSample",
    "Metrics",
    "PassEvents",
    "StateMachineError",
    "with_dirty",
]

# Fixed requeue delays in seconds: upstream ``baremetalhost_controller.go``'s constants
# (``hostErrorRetryDelay``, ``unmanagedRetryDelay``, ``preprovImageRetryDelay``,
# ``provisionerNotReadyRetryDelay``, ``subResourceNotReadyRetryDelay``) and the polls its
# ``detachHost`` and ``manageHostPower`` return.
HOST_ERROR_RETRY_DELAY: Final = 10.0
UNMANAGED_RETRY_DELAY: Final = 600.0
DETACHED_POLL_DELAY: Final = 600.0
PREPROV_IMAGE_RETRY_DELAY: Final = 300.0
PROVISIONER_NOT_READY_DELAY: Final = 30.0
SUBRESOURCE_NOT_READY_DELAY: Final = 60.0
STEADY_STATE_POWER_DELAY: Final = 60.0
#: The steady-state power check when the backend reports every change of a host's machine
#: (:class:`bmo.provisioner.interface.HostWatcher`: Ironic's node cache wakes the host when
#: its node's power or provision state changes, from a node list Ironic's own power sync
#: keeps current). Polling each host every minute then only repeats what the cache already
#: told; a slow poll stays as a safety net.
WATCHED_POWER_POLL_DELAY: Final = 600.0


class Metrics:
    """The exposed names of bmo's ``metal3_*`` metrics (upstream
    ``internal/controller/metal3.io/metrics.go``), the one vocabulary for recording them.

    The state machine reports most of them as :class:`MetricSample` s; the reconciler
    reports the rest (the last group below) the same way. Both hand the samples to
    ``bmo.controllers.baremetalhost.metrics.apply``, which defines the families.
    """

    HOST_ERROR: Final = "metal3_host_error_total"  # error_type
    POWER_CHANGE: Final = "metal3_operation_power_change_total"  # namespace, host, on_off
    DELAYED_PROVISIONING: Final = "metal3_delayed__provisioning_total"  # namespace, host
    DELAYED_DEPROVISIONING: Final = "metal3_delayed__deprovisioning_total"  # namespace, host
    STATE_CHANGE: Final = "metal3_provisioning_state_change_total"  # prev_state, new_state
    REGISTRATION_REQUIRED: Final = "metal3_host_registration_required_total"
    UNMANAGED: Final = "metal3_host_unmanaged_total"
    DELETE_WITHOUT_DEPROVISIONING: Final = "metal3_delete_without_deprovisioning_total"
    DELETE_DELAYED_FOR_DETACHED: Final = "metal3_delete_delayed_for_detached_total"
    PROVISIONER_NOT_READY: Final = "metal3_provisioner_not_ready_total"
    CREDENTIALS_UPDATED: Final = "metal3_credentials_updated_total"
    NO_MANAGEMENT_ACCESS: Final = "metal3_credentials_no_management_access_total"
    #: Reported by the reconciler, outside a state-machine pass (upstream ``Reconcile``,
    #: ``credentialsErrorResult`` and ``host_config_data.go``).
    RECONCILE: Final = "metal3_reconcile_total"  # namespace, host
    RECONCILE_ERROR: Final = "metal3_reconcile_error_total"
    CREDENTIALS_MISSING: Final = "metal3_credentials_missing_total"
    CREDENTIALS_INVALID: Final = "metal3_credentials_invalid_total"
    CREDENTIALS_UNHANDLED_ERROR: Final = "metal3_credentials_unhandled_error_total"
    HOST_CONFIG_DATA_ERROR: Final = "metal3_host_config_data_error_total"  # host_data_type
    #: Histograms (namespace, host), observed in seconds when an operation ends.
    OPERATION_DURATION: Final = MappingProxyType(
        {
            "register": "metal3_operation_register_duration_seconds",
            "inspect": "metal3_operation_inspect_duration_seconds",
            "provision": "metal3_operation_provision_duration_seconds",
            "deprovision": "metal3_operation_deprovision_duration_seconds",
        }
    )


class MetricKind(enum.Enum):
    INC = "inc"
    OBSERVE = "observe"


@dataclass(frozen=True)
class MetricSample:
    """One counter increment or histogram observation to apply after the status save."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 1.0
    kind: MetricKind = MetricKind.INC


@dataclass(frozen=True)
class Event:
    """A Kubernetes event on the host, to be published by the reconciler."""

    reason: str
    message: str
    type: str = "Normal"


class PassEvents:
    """Collects events in order, from the state machine and the provisioner alike.

    The reconciler passes :meth:`publish` to the provisioner factory and the same recorder
    to the state machine, so the outcome lists every event of the pass in the order they
    happened; nothing is sent anywhere until the reconciler does so.
    """

    def __init__(self) -> None:
        self._events: list[Event] = []

    def publish(self, reason: str, message: str) -> None:
        self._events.append(Event(reason, message))

    def record(self, event: Event) -> None:
        self._events.append(event)

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)


class StateMachineError(Exception):
    """A transient failure of one pass: nothing is recorded on the host, retry later.

    Raised by nobody; carried in :attr:`HostOutcome.error` for the reconciler to return to
    the work queue (which retries with its per-key rate limit). ``__cause__`` holds the
    provisioner's exception when there is one.
    """


class ActionKind(enum.Enum):
    CONTINUE = "continue"  # nothing to save; come back after `delay` (0: at once)
    UPDATE = "update"  # save status; come back after `delay`
    COMPLETE = "complete"  # save status; come back at once (the state moved on)
    FAILED = "failed"  # save status; back off by the error count
    DELAYED = "delayed"  # save status; back off as for one error (no capacity)
    ERROR = "error"  # save nothing; return `error` (queue rate limit)
    DELETE_COMPLETE = "delete complete"  # save nothing; never come back


_DIRTY_KINDS: Final = frozenset(
    {ActionKind.UPDATE, ActionKind.COMPLETE, ActionKind.FAILED, ActionKind.DELAYED}
)


@dataclass(frozen=True)
class ActionResult:
    kind: ActionKind
    delay: float = 0.0
    error: StateMachineError | None = None

    @property
    def dirty(self) -> bool:
        return self.kind in _DIRTY_KINDS

    @property
    def needs_registration(self) -> bool:
        """A transient error saying the backend does not know the host at all."""
        return self.error is not None and isinstance(self.error.__cause__, NeedsRegistration)

    @staticmethod
    def cont(delay: float = 0.0) -> ActionResult:
        return ActionResult(ActionKind.CONTINUE, delay)

    @staticmethod
    def update(delay: float = 0.0) -> ActionResult:
        return ActionResult(ActionKind.UPDATE, delay)

    @staticmethod
    def complete() -> ActionResult:
        return ActionResult(ActionKind.COMPLETE)

    @staticmethod
    def failed() -> ActionResult:
        return ActionResult(ActionKind.FAILED)

    @staticmethod
    def delayed() -> ActionResult:
        return ActionResult(ActionKind.DELAYED)

    @staticmethod
    def fail_transient(message: str, cause: BaseException | None = None) -> ActionResult:
        error = StateMachineError(message)
        error.__cause__ = cause
        return ActionResult(ActionKind.ERROR, error=error)

    @staticmethod
    def delete_complete() -> ActionResult:
        return ActionResult(ActionKind.DELETE_COMPLETE)


def with_dirty(result: ActionResult, changed: bool) -> ActionResult:
    """``result``, turned from "continue" into "update" when the status changed on the way,
    so the change gets saved (where upstream returns ``actionUpdate`` for a dirty host)."""
    if changed and result.kind == ActionKind.CONTINUE:
        return ActionResult.update(result.delay)
    return result


@dataclass(frozen=True)
class HostOutcome:
    """Everything one state-machine pass wants done, for the reconciler to apply in order:

    1. if ``object_dirty``: update the object's metadata from ``host`` (annotations in
       ``annotations_to_remove`` are gone; with ``remove_finalizer`` so is the host
       finalizer, after releasing the Secrets when ``release_secrets``);
    2. if ``hardware_data`` is set: replace the HardwareData object with it;
    3. if ``status_dirty``: save ``host.status`` (setting ``lastUpdated``);
    4. only then publish ``events`` and apply ``metrics`` (also when nothing needed
       saving; never when a write failed);
    5. requeue after ``requeue_after`` (``0``: at once, ``None``: not at all).

    With ``error`` set, nothing above applies: the pass changed nothing that must persist,
    and the reconciler hands the error to the work queue (rate-limited retry).
    """

    host: BareMetalHost
    previous_state: str
    action: ActionKind
    status_dirty: bool = False
    object_dirty: bool = False
    annotations_to_remove: frozenset[str] = frozenset()
    events: tuple[Event, ...] = ()
    metrics: tuple[MetricSample, ...] = ()
    requeue_after: float | None = 0.0
    error: StateMachineError | None = None
    delete_complete: bool = False
    remove_finalizer: bool = False
    release_secrets: bool = False
    hardware_data: HardwareDetails | None = None

    @property
    def state(self) -> str:
        return self.host.status.provisioning.state

    def event_reasons(self) -> tuple[str, ...]:
        return tuple(e.reason for e in self.events)

    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)
