"""``compute_conditions`` (upstream ``computeConditions``): the table per state, the overrides,
and stable times."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bmo.api.constants import OperationalStatus, ProvisioningState
from bmo.api.host import BareMetalHost, BareMetalHostStatus, ProvisionStatus
from bmo.api.meta import Condition, ObjectMeta
from bmo.hoststate.conditions import CONDITION_ORDER, compute_conditions

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
S = ProvisioningState

F, T, U = "False", "True", "Unknown"


def host(
    state: str,
    status: str = OperationalStatus.OK,
    *,
    generation: int = 3,
    conditions: tuple[Condition, ...] = (),
    error_message: str = "",
) -> BareMetalHost:
    return BareMetalHost(
        metadata=ObjectMeta(name="h", namespace="n", generation=generation),
        status=BareMetalHostStatus(
            operational_status=status,
            provisioning=ProvisionStatus(state=state),
            conditions=conditions,
            error_message=error_message,
        ),
    )


def table(conditions: tuple[Condition, ...]) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in conditions}


def compute(h: BareMetalHost, **kw: object) -> tuple[Condition, ...]:
    args: dict[str, object] = {"power_failure": False, "health": "OK", "now": T0}
    args.update(kw)
    return compute_conditions(h, **args)  # type: ignore[arg-type]


NOT_PROV = (F, "NotProvisioned")
NOT_AVAIL = (F, "NotAvailable")
MANAGED = (T, "Manageable")
IDLE = (F, "NotProgressing")

# state -> (Manageable, AvailableForProvisioning, Provisioned, Ready, Progressing)
TABLE = {
    S.NONE: ((F, "NotManaged"), NOT_AVAIL, NOT_PROV, NOT_PROV, IDLE),
    S.UNMANAGED: ((F, "NotManaged"), NOT_AVAIL, NOT_PROV, NOT_PROV, IDLE),
    S.REGISTERING: ((F, "Registering"), NOT_AVAIL, NOT_PROV, NOT_PROV, (T, "Registering")),
    S.PREPARING: (MANAGED, NOT_AVAIL, NOT_PROV, NOT_PROV, (T, "Preparing")),
    S.INSPECTING: (MANAGED, NOT_AVAIL, NOT_PROV, NOT_PROV, (T, "Inspecting")),
    S.PROVISIONING: (MANAGED, NOT_AVAIL, NOT_PROV, NOT_PROV, (T, "Provisioning")),
    S.DEPROVISIONING: (MANAGED, NOT_AVAIL, NOT_PROV, NOT_PROV, (T, "Deprovisioning")),
    S.POWERING_OFF_BEFORE_DELETE: (
        MANAGED,
        NOT_AVAIL,
        NOT_PROV,
        NOT_PROV,
        (T, "PoweringOffBeforeDelete"),
    ),
    S.DELETING: (MANAGED, NOT_AVAIL, NOT_PROV, NOT_PROV, (T, "Deleting")),
    S.AVAILABLE: (MANAGED, (T, "Available"), NOT_PROV, NOT_PROV, IDLE),
    S.READY: (MANAGED, (T, "Available"), NOT_PROV, NOT_PROV, IDLE),
    S.PROVISIONED: (MANAGED, NOT_AVAIL, (T, "Provisioned"), (T, "Provisioned"), IDLE),
    S.EXTERNALLY_PROVISIONED: (MANAGED, NOT_AVAIL, (T, "Provisioned"), (T, "Provisioned"), IDLE),
}


@pytest.mark.parametrize("state", list(TABLE))
def test_conditions_per_state(state: str) -> None:
    got = table(compute(host(state)))
    want = dict(zip(CONDITION_ORDER[:5], TABLE[state], strict=True))
    want["Healthy"] = (T, "Healthy")
    assert got == want


def test_every_state_is_in_the_table() -> None:
    assert set(TABLE) | {S.MATCH_PROFILE} == set(S.ALL)


def test_order_is_stable_and_fields_are_set() -> None:
    conditions = compute(host(S.PROVISIONED, generation=7))
    assert tuple(c.type for c in conditions) == CONDITION_ORDER
    for c in conditions:
        assert c.observed_generation == 7
        assert c.last_transition_time == T0
        assert c.message


def test_registration_failure() -> None:
    got = table(compute(host(S.REGISTERING, OperationalStatus.ERROR)))
    assert got["Manageable"] == (F, "RegistrationFailed")
    assert got["Ready"] == (F, "Error")


@pytest.mark.parametrize(
    ("status", "ready", "progressing"),
    [
        (OperationalStatus.ERROR, (F, "Error"), IDLE),
        (OperationalStatus.SERVICING, (F, "Servicing"), IDLE),
        (OperationalStatus.DETACHED, (F, "Detached"), (F, "Detached")),
    ],
)
def test_operational_status_overrides(
    status: str, ready: tuple[str, str], progressing: tuple[str, str]
) -> None:
    got = table(compute(host(S.PROVISIONED, status)))
    assert got["Ready"] == ready
    assert got["Progressing"] == progressing
    assert got["Provisioned"] == (T, "Provisioned")


def test_error_condition_carries_the_error_message() -> None:
    conditions = compute(host(S.PROVISIONING, OperationalStatus.ERROR, error_message="boom"))
    ready = next(c for c in conditions if c.type == "Ready")
    assert ready.message == "boom"


@pytest.mark.parametrize("state", [S.PROVISIONED, S.AVAILABLE, S.INSPECTING, S.PROVISIONING])
def test_power_failure_makes_host_unmanageable(state: str) -> None:
    assert table(compute(host(state), power_failure=True))["Manageable"] == (F, "PowerFailure")


@pytest.mark.parametrize("state", [S.NONE, S.UNMANAGED, S.REGISTERING, S.DELETING])
def test_power_failure_not_checked_in_some_states(state: str) -> None:
    assert table(compute(host(state), power_failure=True))["Manageable"][1] != "PowerFailure"


def test_power_failure_not_checked_when_detached() -> None:
    got = table(compute(host(S.PROVISIONED, OperationalStatus.DETACHED), power_failure=True))
    assert got["Manageable"] == MANAGED


@pytest.mark.parametrize(
    ("health", "want"),
    [
        ("OK", (T, "Healthy")),
        ("Warning", (F, "Warning")),
        ("Critical", (F, "CriticalError")),
        ("", (U, "Unknown")),
        (None, (U, "Unknown")),
    ],
)
def test_health_mapping(health: str | None, want: tuple[str, str]) -> None:
    assert table(compute(host(S.PROVISIONED), health=health))["Healthy"] == want


def test_empty_health_keeps_an_existing_healthy_condition() -> None:
    first = compute(host(S.PROVISIONED), health="Warning")
    again = compute(host(S.PROVISIONED, conditions=first), health="", now=T1)
    healthy = next(c for c in again if c.type == "Healthy")
    assert (healthy.status, healthy.reason, healthy.last_transition_time) == (F, "Warning", T0)


def test_no_provisioner_makes_health_unknown_even_when_known_before() -> None:
    first = compute(host(S.PROVISIONED), health="OK")
    again = compute(host(S.PROVISIONED, conditions=first), health=None, now=T1)
    assert table(again)["Healthy"] == (U, "Unknown")


def test_last_transition_time_kept_while_status_unchanged() -> None:
    first = compute(host(S.INSPECTING))
    # inspecting -> preparing: Progressing stays True (new reason), nothing else flips.
    second = compute(host(S.PREPARING, conditions=first), now=T1)
    assert {c.type: c.last_transition_time for c in second} == dict.fromkeys(CONDITION_ORDER, T0)
    progressing = next(c for c in second if c.type == "Progressing")
    assert progressing.reason == "Preparing"


def test_last_transition_time_moves_when_status_flips() -> None:
    first = compute(host(S.PROVISIONING))
    second = compute(host(S.PROVISIONED, conditions=first), now=T1)
    times = {c.type: c.last_transition_time for c in second}
    assert times["Provisioned"] == T1
    assert times["Ready"] == T1
    assert times["Progressing"] == T1
    assert times["Manageable"] == T0
    assert times["AvailableForProvisioning"] == T0


def test_recomputing_an_unchanged_host_is_a_no_op() -> None:
    first = compute(host(S.PROVISIONED), now=T0 + timedelta(microseconds=123456))
    again = compute(host(S.PROVISIONED, conditions=first), now=T1)
    assert again == first
    assert all(c.last_transition_time == T0 for c in first)  # whole seconds, as stored


def test_generation_change_updates_observed_generation_only() -> None:
    first = compute(host(S.PROVISIONED, generation=1))
    again = compute(host(S.PROVISIONED, generation=2, conditions=first), now=T1)
    assert {c.observed_generation for c in again} == {2}
    assert all(c.last_transition_time == T0 for c in again)


def test_foreign_conditions_are_kept_after_bmos() -> None:
    foreign = Condition(type="example.com/Custom", status=T, reason="X", last_transition_time=T0)
    got = compute(host(S.AVAILABLE, conditions=(foreign,)))
    assert got[-1] == foreign
    assert tuple(c.type for c in got[:-1]) == CONDITION_ORDER


def test_reasons_are_valid_condition_reasons() -> None:
    import re

    reason = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    for state in S.ALL:
        for status in OperationalStatus.ALL:
            for c in compute(host(state, status), power_failure=True, health="Critical"):
                assert reason.match(c.reason), c.reason
                assert c.status in (T, F, U)


def test_conditions_round_trip_through_json() -> None:
    h = host(S.PROVISIONED)
    h = dataclasses.replace(h, status=dataclasses.replace(h.status, conditions=compute(h)))
    again = BareMetalHost.from_dict(h.to_dict())
    assert again.status.conditions == h.status.conditions


def test_conditions_module_imports_only_the_api() -> None:
    import ast
    from pathlib import Path

    import bmo.hoststate.conditions as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    bmo_imports = {name for name in imported if name.startswith("bmo")}
    assert bmo_imports and all(name.startswith("bmo.api") for name in bmo_imports)
    assert imported - bmo_imports <= {
        "__future__",
        "collections.abc",
        "dataclasses",
        "datetime",
        "typing",
    }
