"""Ironic's provision-state and power-state strings, and the targets bmo requests.

Ironic reports these as plain strings; naming them once keeps the provisioner's per-state
tables readable and typo-proof (``"wait call-back"`` is easy to misspell).
"""

from __future__ import annotations

from typing import Final

__all__ = ["SLOT_TARGETS", "STABLE_STATES", "Power", "State", "Target"]


class State:
    """``provision_state`` values (gophercloud ``openstack/baremetal/v1/nodes/requests.go``
    ``ProvisionState``, which upstream ``ironic.go`` switches on)."""

    ENROLL: Final = "enroll"
    VERIFYING: Final = "verifying"
    MANAGEABLE: Final = "manageable"
    AVAILABLE: Final = "available"
    ACTIVE: Final = "active"
    DEPLOY_WAIT: Final = "wait call-back"
    DEPLOYING: Final = "deploying"
    DEPLOY_FAIL: Final = "deploy failed"
    DEPLOY_HOLD: Final = "deploy hold"
    DELETING: Final = "deleting"
    CLEANING: Final = "cleaning"
    CLEAN_WAIT: Final = "clean wait"
    CLEAN_FAIL: Final = "clean failed"
    CLEAN_HOLD: Final = "clean hold"
    ERROR: Final = "error"
    INSPECTING: Final = "inspecting"
    INSPECT_WAIT: Final = "inspect wait"
    INSPECT_FAIL: Final = "inspect failed"
    ADOPTING: Final = "adopting"
    ADOPT_FAIL: Final = "adopt failed"
    SERVICING: Final = "servicing"
    SERVICE_WAIT: Final = "service wait"
    SERVICE_FAIL: Final = "service failed"


#: Provision states in which no conductor task runs on the node: Ironic changes it only when
#: asked (a provision-state request, a PATCH) or through its power-state sync. Every other
#: state has a task in flight (or waiting on a ramdisk/BMC) that will move the node on its own.
STABLE_STATES: Final = frozenset(
    {
        State.ENROLL,
        State.MANAGEABLE,
        State.AVAILABLE,
        State.ACTIVE,
        State.DEPLOY_FAIL,
        State.CLEAN_FAIL,
        State.INSPECT_FAIL,
        State.ADOPT_FAIL,
        State.SERVICE_FAIL,
        State.ERROR,
        State.DEPLOY_HOLD,
        State.CLEAN_HOLD,
    }
)


class Target:
    """Targets of ``PUT /v1/nodes/{id}/states/provision``."""

    MANAGE: Final = "manage"
    PROVIDE: Final = "provide"
    INSPECT: Final = "inspect"
    CLEAN: Final = "clean"
    ACTIVE: Final = "active"
    DELETED: Final = "deleted"
    ADOPT: Final = "adopt"
    ABORT: Final = "abort"
    SERVICE: Final = "service"


#: Provision-state targets that move a node into a state holding a ``PROVISIONING_LIMIT``
#: slot (``bmo.ironic.capacity.BUSY_STATES``): inspecting, cleaning (``provide``, ``clean``,
#: and ``deleted`` via deleting), deploying. Until the node cache sees the node there, such a
#: request counts as taking a slot. ``manage`` (verifying), ``adopt``, ``abort`` and
#: ``service`` do not, as upstream ``ironic.go loadBusyHosts`` does not count those states.
SLOT_TARGETS: Final = frozenset(
    {Target.INSPECT, Target.PROVIDE, Target.CLEAN, Target.ACTIVE, Target.DELETED}
)


class Power:
    """``power_state`` values and targets of ``PUT /v1/nodes/{id}/states/power``."""

    ON: Final = "power on"
    OFF: Final = "power off"
    REBOOT: Final = "rebooting"
    SOFT_OFF: Final = "soft power off"
    SOFT_REBOOT: Final = "soft rebooting"
