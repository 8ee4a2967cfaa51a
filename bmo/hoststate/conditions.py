"""The BareMetalHost ``status.conditions`` the Go operator computes (upstream
``computeConditions`` in ``internal/controller/metal3.io``, operator v0.13 and later).

Pure: a function of the host, two facts the provisioner observed (a BMC power fault, the
node's ``health``) and the time, so the state machine's caller can compute them after every
reconcile and save the status only when they changed. ``lastTransitionTime`` moves only when a
condition's *status* flips (``meta.SetStatusCondition``'s rule), and ``now`` is truncated to
whole seconds as the API stores it, so recomputing an unchanged host yields an equal tuple and
no spurious status write.

Imports only :mod:`bmo.api`: the state machine's side of the layering must stay free of
Kubernetes and Ironic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bmo.api.constants import (
    CONDITION_AVAILABLE_FOR_PROVISIONING,
    CONDITION_HEALTHY,
    CONDITION_MANAGEABLE,
    CONDITION_PROGRESSING,
    CONDITION_PROVISIONED,
    CONDITION_READY,
    OperationalStatus,
    ProvisioningState,
)
from bmo.api.host import BareMetalHost
from bmo.api.meta import Condition

__all__ = [
    "CONDITION_ORDER",
    "HEALTH_CRITICAL",
    "HEALTH_OK",
    "HEALTH_WARNING",
    "compute_conditions",
]

TRUE: Final = "True"
FALSE: Final = "False"
UNKNOWN: Final = "Unknown"

HEALTH_OK: Final = "OK"
HEALTH_WARNING: Final = "Warning"
HEALTH_CRITICAL: Final = "Critical"

CONDITION_ORDER: Final = (
    CONDITION_MANAGEABLE,
    CONDITION_AVAILABLE_FOR_PROVISIONING,
    CONDITION_PROVISIONED,
    CONDITION_READY,
    CONDITION_PROGRESSING,
    CONDITION_HEALTHY,
)
"""The order bmo writes its conditions in; conditions of other types follow, untouched."""


@dataclass(frozen=True)
class _Want:
    status: str
    reason: str
    message: str


_S = ProvisioningState

# Progressing reasons of the states that are doing something on the machine.
_IN_PROGRESS: Final[Mapping[str, tuple[str, str]]] = {
    _S.MATCH_PROFILE: ("Preparing", "Preparing the host"),
    _S.PREPARING: ("Preparing", "Preparing the host"),
    _S.INSPECTING: ("Inspecting", "Inspecting the host hardware"),
    _S.PROVISIONING: ("Provisioning", "Provisioning the host"),
    _S.DEPROVISIONING: ("Deprovisioning", "Deprovisioning the host"),
    _S.POWERING_OFF_BEFORE_DELETE: ("PoweringOffBeforeDelete", "Powering off before delete"),
    _S.DELETING: ("Deleting", "Deleting the host"),
}
_AVAILABLE: Final = frozenset({_S.AVAILABLE, _S.READY})
_PROVISIONED: Final = frozenset({_S.PROVISIONED, _S.EXTERNALLY_PROVISIONED})
# States where the power-fault check is skipped: the BMC is not (yet, any more) managed.
_NO_POWER_CHECK: Final = frozenset({_S.NONE, _S.UNMANAGED, _S.REGISTERING, _S.DELETING})

_NOT_MANAGEABLE = _Want(FALSE, "NotManaged", "The host is not managed")
_MANAGEABLE = _Want(TRUE, "Manageable", "The host is managed")
_NOT_AVAILABLE = _Want(FALSE, "NotAvailable", "The host is not available for provisioning")
_IS_AVAILABLE = _Want(TRUE, "Available", "The host is available for provisioning")
_NOT_PROVISIONED = _Want(FALSE, "NotProvisioned", "The host is not provisioned")
_IS_PROVISIONED = _Want(TRUE, "Provisioned", "The host is provisioned")
_NOT_PROGRESSING = _Want(FALSE, "NotProgressing", "No operation is in progress")


def _by_state(host: BareMetalHost) -> dict[str, _Want]:
    state = host.status.provisioning.state
    if state == _S.REGISTERING:
        if host.status.operational_status == OperationalStatus.ERROR:
            manageable = _Want(FALSE, "RegistrationFailed", "Registering the host failed")
        else:
            manageable = _Want(FALSE, "Registering", "The host is being registered")
        return {
            CONDITION_MANAGEABLE: manageable,
            CONDITION_AVAILABLE_FOR_PROVISIONING: _NOT_AVAILABLE,
            CONDITION_PROVISIONED: _NOT_PROVISIONED,
            CONDITION_READY: _NOT_PROVISIONED,
            CONDITION_PROGRESSING: _Want(TRUE, "Registering", "Registering the host"),
        }
    if state in _IN_PROGRESS:
        reason, message = _IN_PROGRESS[state]
        return {
            CONDITION_MANAGEABLE: _MANAGEABLE,
            CONDITION_AVAILABLE_FOR_PROVISIONING: _NOT_AVAILABLE,
            CONDITION_PROVISIONED: _NOT_PROVISIONED,
            CONDITION_READY: _NOT_PROVISIONED,
            CONDITION_PROGRESSING: _Want(TRUE, reason, message),
        }
    if state in _AVAILABLE:
        return {
            CONDITION_MANAGEABLE: _MANAGEABLE,
            CONDITION_AVAILABLE_FOR_PROVISIONING: _IS_AVAILABLE,
            CONDITION_PROVISIONED: _NOT_PROVISIONED,
            CONDITION_READY: _NOT_PROVISIONED,
            CONDITION_PROGRESSING: _NOT_PROGRESSING,
        }
    if state in _PROVISIONED:
        return {
            CONDITION_MANAGEABLE: _MANAGEABLE,
            CONDITION_AVAILABLE_FOR_PROVISIONING: _NOT_AVAILABLE,
            CONDITION_PROVISIONED: _IS_PROVISIONED,
            CONDITION_READY: _Want(TRUE, "Provisioned", "The host is provisioned and ready"),
            CONDITION_PROGRESSING: _NOT_PROGRESSING,
        }
    # "", unmanaged, and any state bmo does not know: nothing is managed.
    return {
        CONDITION_MANAGEABLE: _NOT_MANAGEABLE,
        CONDITION_AVAILABLE_FOR_PROVISIONING: _NOT_AVAILABLE,
        CONDITION_PROVISIONED: _NOT_PROVISIONED,
        CONDITION_READY: _NOT_PROVISIONED,
        CONDITION_PROGRESSING: _NOT_PROGRESSING,
    }


def _healthy(health: str | None, previous: Condition | None) -> _Want | None:
    """``None`` means "keep the previous Healthy condition as it is"."""
    if health is None:
        return _Want(UNKNOWN, "Unknown", "Host health is not available")
    if health == HEALTH_OK:
        return _Want(TRUE, "Healthy", "The host is healthy")
    if health == HEALTH_WARNING:
        return _Want(FALSE, "Warning", "The host reports a warning")
    if health == HEALTH_CRITICAL:
        return _Want(FALSE, "CriticalError", "The host reports a critical error")
    if previous is not None and not health:
        return None
    return _Want(UNKNOWN, "Unknown", "Host health is unknown")


def compute_conditions(
    host: BareMetalHost, *, power_failure: bool | None, health: str | None, now: datetime
) -> tuple[Condition, ...]:
    """The host's conditions after this reconcile, in :data:`CONDITION_ORDER`.

    ``power_failure``: the node reported a BMC power fault (``None``: not known this time).
    ``health``: Ironic's node ``health`` (``OK``/``Warning``/``Critical``; ``""`` unknown,
    which keeps an existing Healthy condition); ``None`` when there is no provisioner.
    """
    now = now.replace(microsecond=0)
    previous = {c.type: c for c in host.status.conditions}
    operational = host.status.operational_status
    state = host.status.provisioning.state

    wanted: dict[str, _Want | None] = dict(_by_state(host))
    if operational == OperationalStatus.ERROR:
        wanted[CONDITION_READY] = _Want(FALSE, "Error", host.status.error_message or "Error")
    elif operational == OperationalStatus.SERVICING:
        wanted[CONDITION_READY] = _Want(FALSE, "Servicing", "The host is being serviced")
    elif operational == OperationalStatus.DETACHED:
        wanted[CONDITION_READY] = _Want(FALSE, "Detached", "The host is detached")
        wanted[CONDITION_PROGRESSING] = _Want(FALSE, "Detached", "The host is detached")
    if power_failure and state not in _NO_POWER_CHECK and operational != OperationalStatus.DETACHED:
        wanted[CONDITION_MANAGEABLE] = _Want(
            FALSE, "PowerFailure", "The BMC reports a power failure"
        )
    wanted[CONDITION_HEALTHY] = _healthy(health, previous.get(CONDITION_HEALTHY))

    result: list[Condition] = []
    for ctype in CONDITION_ORDER:
        want = wanted[ctype]
        before = previous.get(ctype)
        if want is None:
            if before is not None:
                result.append(before)
            continue
        changed_at = now
        if before is not None and before.status == want.status and before.last_transition_time:
            changed_at = before.last_transition_time
        result.append(
            Condition(
                type=ctype,
                status=want.status,
                observed_generation=host.metadata.generation,
                last_transition_time=changed_at,
                reason=want.reason,
                message=want.message,
            )
        )
    result.extend(c for c in host.status.conditions if c.type not in CONDITION_ORDER)
    return tuple(result)
