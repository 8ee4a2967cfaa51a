"""The host controller's firmware input, from the objects' conditions (upstream
``getHostFirmwareSettings``/``getHostFirmwareComponents``), and the owner-reference helper the
firmware controllers share: pure functions, no API server."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.api.firmware import FirmwareUpdate, HostFirmwareComponents, HostFirmwareSettings
from bmo.api.hostupdatepolicy import HostUpdatePolicy
from bmo.controllers.baremetalhost.firmware import firmware_state
from bmo.controllers.hostfirmwaresettings import reconciler as hfs_reconciler
from bmo.controllers.hostfirmwaresettings.reconciler import (
    owner_patch,
    owner_positions,
    owner_reference,
)
from bmo.hoststate.run import FirmwareState
from bmo.provisioner.fixture import FixtureProvisionerFactory
from testenv.kubeapi.patches import json_patch


def cond(kind: str, status: str, generation: int = 1) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": "Success",
        "message": "",
        "observedGeneration": generation,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }


def hfs(
    spec: dict[str, Any], status: dict[str, str], changed: str, valid: str = "True"
) -> HostFirmwareSettings:
    return HostFirmwareSettings.from_dict(
        {
            "metadata": {"name": "h", "namespace": "n", "generation": 1},
            "spec": {"settings": spec},
            "status": {
                "settings": status,
                "conditions": [cond("ChangeDetected", changed), cond("Valid", valid)],
            },
        }
    )


def hfc(
    spec: list[dict[str, str]],
    applied: list[dict[str, str]] | None,
    *,
    generation: int = 1,
    observed: int = 1,
    valid: str = "True",
) -> HostFirmwareComponents:
    return HostFirmwareComponents.from_dict(
        {
            "metadata": {"name": "h", "namespace": "n", "generation": generation},
            "spec": {"updates": spec},
            "status": {
                "updates": applied,
                "conditions": [
                    cond("ChangeDetected", "True", observed),
                    cond("Valid", valid, observed),
                ],
            },
        }
    )


BIOS = {"component": "bios", "url": "https://192.0.2.5/bios.bin"}
BMC = {"component": "bmc", "url": "https://192.0.2.5/bmc.bin"}


def test_nothing_asked_without_objects() -> None:
    assert firmware_state(None, None) == FirmwareState()


def test_valid_change_passes_the_whole_spec_and_the_actual_values() -> None:
    state = firmware_state(hfs({"A": "x", "N": 5}, {"A": "y", "N": "5"}, "True"), None)
    assert state.ready and state.settings_changed
    assert dict(state.target_settings) == {"A": "x", "N": 5}
    assert dict(state.actual_settings) == {"A": "y", "N": "5"}
    assert state.has_settings_spec and not state.components_changed


def test_invalid_change_is_not_applied() -> None:
    state = firmware_state(hfs({"A": "bad"}, {"A": "y"}, "True", valid="False"), None)
    assert state.ready and not state.settings_changed
    assert state.has_settings_spec


def test_change_flagged_before_ironic_reported_waits() -> None:
    """``host firmware status settings not available``: preparing waits (ready false)."""
    state = firmware_state(hfs({"A": "x"}, {}, "True"), None)
    assert not state.ready and not state.settings_changed


def test_only_updates_not_yet_flashed_are_targets() -> None:
    state = firmware_state(None, hfc([BIOS, BMC], [BMC]))
    assert state.components_changed
    assert state.target_components == (FirmwareUpdate(**BIOS),)
    assert firmware_state(None, hfc([BIOS], None)).target_components == (FirmwareUpdate(**BIOS),)


def test_components_condition_of_an_older_generation_does_not_count() -> None:
    state = firmware_state(None, hfc([BIOS], None, generation=2, observed=1))
    assert not state.components_changed and state.target_components == ()
    assert not firmware_state(None, hfc([BIOS], None, valid="False")).components_changed


def test_update_policy_flags() -> None:
    policy = HostUpdatePolicy.from_dict(
        {"metadata": {"name": "h"}, "spec": {"firmwareSettings": "onReboot"}}
    )
    state = firmware_state(None, None, policy)
    assert state.live_settings and not state.live_updates


def test_owner_patch_appends_and_never_replaces_another_owner() -> None:
    a = owner_reference("HostFirmwareSettings", "a", "uid-a")
    b = owner_reference("HostFirmwareSettings", "b", "uid-b")

    def owners(refs: list[dict[str, Any]], ref: dict[str, Any]) -> list[dict[str, Any]] | None:
        doc = {"metadata": {"resourceVersion": "7", "ownerReferences": refs}}
        ops = owner_patch(doc, ref)
        return None if ops is None else json_patch(doc, ops)["metadata"]["ownerReferences"]

    assert owners([a], a) is None
    assert owners([a], b) == [a, b]
    assert owners([], a) == [a]
    # The same owner re-created (new uid) replaces its stale entry in place.
    a2 = owner_reference("HostFirmwareSettings", "a", "uid-a2")
    assert owners([a, b], a2) == [a2, b]
    # Every operation that depends on the copy it was computed from is guarded.
    assert owner_patch({"metadata": {"ownerReferences": [a, b]}}, a2)[0]["op"] == "test"  # type: ignore[index]
    assert "controller" not in a
    assert owner_reference("BareMetalHost", "h", "u", controller=True)["blockOwnerDeletion"]


def test_a_fleet_at_rest_finds_its_schema_owner_once_per_schema_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A schema shared by N hosts holds N owner references; each host's periodic pass must
    not scan them all (N passes x N references per period across the fleet)."""
    refs = [owner_reference("HostFirmwareSettings", f"h{i}", f"uid-{i}") for i in range(500)]
    schema = {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "FirmwareSchema",
        "metadata": {"name": "schema-1", "namespace": "ns", "resourceVersion": "7"},
        "spec": {"schema": {}},
    }
    schema["metadata"]["ownerReferences"] = refs  # type: ignore[index]
    positions = owner_positions(schema)
    for ref in (refs[0], refs[499]):
        assert owner_patch(schema, ref, positions) is None is owner_patch(schema, ref)
    moved = owner_reference("HostFirmwareSettings", "h3", "uid-new")
    assert owner_patch(schema, moved, positions) == owner_patch(schema, moved)
    assert owner_patch(schema, moved, positions)[1]["path"] == "/metadata/ownerReferences/3"  # type: ignore[index]

    scans: list[int] = []

    def counting(obj: Any) -> Any:
        scans.append(1)
        return owner_positions(obj)

    monkeypatch.setattr(hfs_reconciler, "owner_positions", counting)
    reconciler = hfs_reconciler.HostFirmwareSettingsReconciler(
        k8s.ApiClient(), {}, {}, {}, FixtureProvisionerFactory()
    )
    for ref in refs:
        reconciler._add_schema_owner("ns/schema-1", schema, ref)  # all present: no writes
    assert len(scans) == 1
    newer = {**schema, "metadata": {**schema["metadata"], "resourceVersion": "8"}}  # type: ignore[dict-item]
    reconciler._add_schema_owner("ns/schema-1", newer, refs[0])
    assert len(scans) == 2
