"""``get_firmware_settings``, ``get_firmware_components`` and ``service`` per Ironic state,
against requests-mock (``ironic.go GetFirmwareSettings``/``GetFirmwareComponents``,
``servicing.go Service``).

requests-mock because these are the answers a real Ironic will not give on demand: a node
in ``service failed`` (with and without maintenance), ``service wait`` while the user
withdraws the change, a ``no-firmware`` node, and the exact request bodies. The real-Ironic
paths are in ``tests/ironic_env/test_firmware_redfish.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests_mock

from bmo.api.firmware import SettingSchema
from bmo.ironic.bioscache import BIOS_CACHE_MAX_AGE
from bmo.ironic.client import IronicClient
from bmo.provisioner import FirmwareUpdateUnsupported, ProvisionerError, ServicingData
from bmo.provisioner.types import FirmwareComponentUpdate
from tests.ironic.conftest import FakeClock, count
from tests.ironic.provisioner.helpers import NODE, PROVISION, UUID, Events, bodies, make, serve

BIOS = NODE + "/bios"
FIRMWARE = NODE + "/firmware"

SETTINGS = ServicingData(
    target_firmware_settings={"ProcTurboMode": "Disabled", "NumCores": 8},
    actual_firmware_settings={"ProcTurboMode": "Enabled", "NumCores": "4"},
    has_firmware_settings_spec=True,
    triggered_by_settings=True,
)
WITHDRAWN = ServicingData(triggered_by_settings=True)


def test_firmware_settings_with_schema(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable")
    mock_ironic.get(
        BIOS,
        json={
            "bios": [
                {
                    "name": "ProcTurboMode",
                    "value": "Enabled",
                    "attribute_type": "Enumeration",
                    "allowable_values": ["Enabled", "Disabled"],
                    "lower_bound": None,
                    "upper_bound": None,
                    "min_length": None,
                    "max_length": None,
                    "read_only": False,
                    "reset_required": True,
                    "unique": None,
                },
                {
                    "name": "NumCores",
                    "value": "4",
                    "attribute_type": "Integer",
                    "allowable_values": None,
                    "lower_bound": 1,
                    "upper_bound": 16,
                    "read_only": False,
                },
                {"name": "Empty", "value": None},
            ]
        },
    )
    result = make(client, events).get_firmware_settings(include_schema=True)
    assert dict(result.settings) == {"ProcTurboMode": "Enabled", "NumCores": "4", "Empty": ""}
    assert result.schema is not None
    assert result.schema["ProcTurboMode"] == SettingSchema(
        attribute_type="Enumeration",
        allowable_values=("Enabled", "Disabled"),
        read_only=False,
    )
    assert result.schema["NumCores"].lower_bound == 1
    assert result.schema["NumCores"].upper_bound == 16
    (request,) = [r for r in mock_ironic.request_history if r.path.endswith("/bios")]
    assert request.qs == {"detail": ["true"]}


def test_firmware_settings_without_schema_skips_detail(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active")
    mock_ironic.get(BIOS, json={"bios": [{"name": "A", "value": "1"}]})
    result = make(client, events).get_firmware_settings(include_schema=False)
    assert dict(result.settings) == {"A": "1"} and result.schema is None
    (request,) = [r for r in mock_ironic.request_history if r.path.endswith("/bios")]
    assert request.qs == {}


# ------------------------------------------------------------------ BIOS settings cache

T1 = "2026-01-02T03:04:05.123456+00:00"
T2 = "2026-01-02T04:05:06.654321+00:00"
#: A provisioned node at rest, as a single-node GET shows it.
AT_REST = {"provision_state": "active", "updated_at": T1, "provision_updated_at": T1}


def bios_reads(mock: requests_mock.Mocker) -> list[dict[str, list[str]]]:
    """The query of every ``GET /v1/nodes/{id}/bios`` sent so far."""
    return [r.qs for r in mock.request_history if r.method == "GET" and r.path.endswith("/bios")]


def test_bios_settings_of_an_unchanged_node_are_read_once(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    """The HostFirmwareSettings controller asks every 5 minutes, a new provisioner each time
    (``hostfirmwaresettings_controller.go Reconcile``); Ironic is asked once."""
    serve(mock_ironic, **AT_REST)
    mock_ironic.get(BIOS, json={"bios": [{"name": "A", "value": "1", "read_only": True}]})
    first = make(client, events).get_firmware_settings(include_schema=True)
    second = make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 1
    assert second == first
    assert dict(second.settings) == {"A": "1"}
    assert second.schema is not None and second.schema["A"].read_only is True


@pytest.mark.parametrize(
    "changed",
    [{"updated_at": T2}, {"provision_updated_at": T2}],
    ids=["updated_at", "provision_updated_at"],
)
def test_bios_settings_read_again_once_the_node_changed(
    changed: dict[str, str],
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
) -> None:
    serve(mock_ironic, **AT_REST)
    mock_ironic.get(BIOS, json={"bios": [{"name": "A", "value": "1"}]})
    make(client, events).get_firmware_settings(include_schema=True)
    serve(mock_ironic, **{**AT_REST, **changed})
    mock_ironic.get(BIOS, json={"bios": [{"name": "A", "value": "2"}]})
    result = make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 2
    assert dict(result.settings) == {"A": "2"}
    # ... and kept under the new timestamps.
    make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 2


@pytest.mark.parametrize(
    ("state", "target"),
    [
        ("cleaning", "available"),
        ("clean wait", "manageable"),
        ("verifying", "manageable"),
        ("servicing", "active"),
        ("active", "deleted"),  # a request accepted, the task not started yet
        ("manageable", "available"),
        ("clean hold", "available"),
    ],
)
def test_bios_settings_of_a_node_in_a_task_are_always_read(
    state: str,
    target: str,
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
) -> None:
    """Ironic rewrites the settings inside verify, clean and service tasks."""
    serve(mock_ironic, **{**AT_REST, "provision_state": state, "target_provision_state": target})
    mock_ironic.get(BIOS, json={"bios": [{"name": "A", "value": "1"}]})
    for _ in range(3):
        make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 3
    assert len(client.bios_cache) == 0, "nothing kept from a node in a task"


def test_bios_settings_of_a_node_never_moved_are_always_read(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    """A node just enrolled has no ``provision_updated_at`` to notice its first verify by."""
    serve(mock_ironic, provision_state="enroll", updated_at=None, provision_updated_at=None)
    mock_ironic.get(BIOS, json={"bios": []})
    make(client, events).get_firmware_settings(include_schema=True)
    make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 2


def test_bios_settings_are_read_again_after_the_maximum_age(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events, clock: FakeClock
) -> None:
    serve(mock_ironic, **AT_REST)
    mock_ironic.get(BIOS, json={"bios": [{"name": "A", "value": "1"}]})
    make(client, events).get_firmware_settings(include_schema=True)
    clock.advance(BIOS_CACHE_MAX_AGE - 1)
    make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 1
    clock.advance(1)
    make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 2
    # The new read restarts the clock.
    clock.advance(BIOS_CACHE_MAX_AGE - 1)
    make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 2


def test_bios_settings_with_schema_are_read_after_a_read_without(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, **AT_REST)
    mock_ironic.get(BIOS, json={"bios": [{"name": "A", "value": "1", "attribute_type": "String"}]})
    plain = make(client, events).get_firmware_settings(include_schema=False)
    assert plain.schema is None
    detailed = make(client, events).get_firmware_settings(include_schema=True)
    assert detailed.schema is not None and detailed.schema["A"].attribute_type == "String"
    assert bios_reads(mock_ironic) == [{}, {"detail": ["true"]}]
    # The detailed read answers both kinds from now on.
    assert make(client, events).get_firmware_settings(include_schema=False) == plain
    assert make(client, events).get_firmware_settings(include_schema=True) == detailed
    assert len(bios_reads(mock_ironic)) == 2


def test_a_deleted_node_leaves_no_bios_settings_behind(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, **AT_REST)
    mock_ironic.get(BIOS, json={"bios": [{"name": "A", "value": "1"}]})
    mock_ironic.delete(NODE, status_code=204)
    make(client, events).get_firmware_settings(include_schema=True)
    assert len(client.bios_cache) == 1
    client.delete_node(UUID)
    assert len(client.bios_cache) == 0
    make(client, events).get_firmware_settings(include_schema=True)
    assert len(bios_reads(mock_ironic)) == 2


def test_firmware_components_keep_bios_bmc_and_nics(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", firmware_interface="redfish")
    mock_ironic.get(
        FIRMWARE,
        json={
            "firmware": [
                {
                    "component": "bios",
                    "initial_version": "1.0",
                    "current_version": "1.1",
                    "last_version_flashed": "1.1",
                    "updated_at": "2026-01-02T03:04:05+00:00",
                },
                {"component": "bmc", "initial_version": "2.0", "current_version": "2.0"},
                {"component": "nic:NIC.1", "initial_version": "3", "current_version": "3"},
                {"component": "cpld", "initial_version": "9", "current_version": "9"},
            ]
        },
    )
    components = make(client, events).get_firmware_components()
    assert [c.component for c in components] == ["bios", "bmc", "nic:NIC.1"]
    assert components[0].current_version == "1.1"
    assert components[0].updated_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert components[1].updated_at is None and components[1].last_version_flashed == ""


def test_firmware_components_unsupported_without_firmware_interface(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", firmware_interface="no-firmware")
    with pytest.raises(FirmwareUpdateUnsupported, match="no-firmware"):
        make(client, events).get_firmware_components()
    assert count(mock_ironic, "GET", f"/v1/nodes/{UUID}/firmware") == 0


def test_service_active_starts_servicing_with_typed_steps(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active")
    mock_ironic.put(PROVISION, status_code=202)
    data = ServicingData(
        target_firmware_settings=SETTINGS.target_firmware_settings,
        actual_firmware_settings=SETTINGS.actual_firmware_settings,
        target_firmware_components=(FirmwareComponentUpdate("bmc", "http://127.0.0.1/bmc.bin"),),
    )
    result, started = make(client, events).service(data, True, False)
    assert started and result.dirty
    (body,) = bodies(mock_ironic, "PUT", PROVISION)
    assert body == {
        "target": "service",
        "service_steps": [
            {
                "interface": "bios",
                "step": "apply_configuration",
                "args": {
                    "settings": [
                        {"name": "NumCores", "value": 8},
                        {"name": "ProcTurboMode", "value": "Disabled"},
                    ]
                },
            },
            {
                "interface": "firmware",
                "step": "update",
                "args": {"settings": [{"component": "bmc", "url": "http://127.0.0.1/bmc.bin"}]},
            },
        ],
    }


def test_service_active_without_changes_is_done(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active")
    result, started = make(client, events).service(ServicingData(), False, False)
    assert (result.dirty, result.error_message, started) == (False, "", False)
    result, started = make(client, events).service(ServicingData(), True, False)
    assert (result.dirty, started) == (False, True)
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/provision") == 0


@pytest.mark.parametrize("state", ["servicing", "service wait"])
def test_service_in_progress_waits(
    state: str, client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state=state)
    result, started = make(client, events).service(SETTINGS, True, False)
    assert result.dirty and result.requeue_after == 10 and not started


def test_service_wait_aborted_when_withdrawn(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="service wait")
    mock_ironic.put(PROVISION, status_code=202)
    result, started = make(client, events).service(WITHDRAWN, False, False)
    assert started and result.dirty
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "abort"}]


def test_servicing_withdrawn_waits_for_service_wait(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    """Ironic refuses ``abort`` while a step runs (``servicing``): wait instead."""
    serve(mock_ironic, provision_state="servicing")
    result, started = make(client, events).service(WITHDRAWN, False, False)
    assert result.dirty and result.requeue_after == 10 and not started
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/provision") == 0


def test_service_failed_records_error_then_restarts(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(
        mock_ironic,
        provision_state="service failed",
        last_error="BIOS step failed",
        maintenance=True,
    )
    mock_ironic.delete(NODE + "/maintenance", status_code=202)
    mock_ironic.put(PROVISION, status_code=202)
    result, started = make(client, events).service(SETTINGS, True, False)
    assert (result.error_message, started) == ("BIOS step failed", False)
    # restart_on_failure: maintenance first ...
    result, _ = make(client, events).service(SETTINGS, True, True)
    assert result.dirty and count(mock_ironic, "DELETE", f"/v1/nodes/{UUID}/maintenance") == 1
    # ... then servicing again with the same steps.
    serve(mock_ironic, provision_state="service failed", last_error="BIOS step failed")
    result, started = make(client, events).service(SETTINGS, True, True)
    assert started and result.dirty
    (body,) = bodies(mock_ironic, "PUT", PROVISION)
    assert body["target"] == "service"


def test_service_failed_and_withdrawn_aborts(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="service failed", maintenance=True)
    mock_ironic.delete(NODE + "/maintenance", status_code=202)
    mock_ironic.put(PROVISION, status_code=202)
    result, started = make(client, events).service(WITHDRAWN, False, False)
    assert result.dirty and not started
    assert count(mock_ironic, "DELETE", f"/v1/nodes/{UUID}/maintenance") == 1
    serve(mock_ironic, provision_state="service failed")
    result, started = make(client, events).service(WITHDRAWN, False, False)
    assert started and bodies(mock_ironic, "PUT", PROVISION) == [{"target": "abort"}]


def test_service_unexpected_state_is_transient(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable")
    with pytest.raises(ProvisionerError, match="unexpected ironic node state manageable"):
        make(client, events).service(SETTINGS, True, False)


def test_should_abort_rules() -> None:
    both = ServicingData(triggered_by_settings=True, triggered_by_components=True)
    assert both.should_abort()
    assert not ServicingData(
        triggered_by_settings=True, triggered_by_components=True, has_firmware_settings_spec=True
    ).should_abort()
    assert not ServicingData(
        triggered_by_components=True, has_firmware_components_spec=True
    ).should_abort()
    assert ServicingData(triggered_by_components=True).should_abort()
    assert not ServicingData().should_abort()
