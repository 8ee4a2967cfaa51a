"""``inspect_hardware`` per Ironic state, against requests-mock
(``inspecthardware.go InspectHardware``)."""

from __future__ import annotations

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.provisioner import (
    InspectData,
    ProvisionResult,
)
from tests.ironic.conftest import (
    node_json,
)
from tests.ironic.provisioner.helpers import (
    NODE,
    PROVISION,
    UUID,
    Events,
    bodies,
    make,
    serve,
)


def test_inspect_failed_reports_then_restarts(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect failed", last_error="no agent")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="inspect failed"))
    mock_ironic.put(PROVISION, status_code=202)
    result, started, details = make(client, events).inspect_hardware(
        InspectData(), False, False, False
    )
    assert (result.error_message, started, details) == ("no agent", False, None)
    result, started, _ = make(client, events).inspect_hardware(InspectData(), True, False, False)
    assert started and result.dirty
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "inspect"}]
    assert events.reasons == ["InspectionStarted"]


def test_inspect_failed_without_message(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect failed", last_error=None)
    result, _, _ = make(client, events).inspect_hardware(InspectData(), False, False, False)
    assert result.error_message == "Inspection failed"


def test_inspect_aborted_by_us_restarts(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect failed", last_error="Inspection was aborted")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="inspect failed"))
    mock_ironic.put(PROVISION, status_code=202)
    result, started, _ = make(client, events).inspect_hardware(InspectData(), False, False, False)
    assert started and not result.error_message


@pytest.mark.parametrize(
    ("state", "force", "target", "delay"),
    [
        ("inspect wait", True, "abort", 0.0),
        ("inspect wait", False, None, 10.0),
        ("inspecting", False, None, 10.0),
        ("available", False, "manage", 0.0),
    ],
)
def test_inspect_waiting_states(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
    state: str,
    force: bool,
    target: str | None,
    delay: float,
) -> None:
    serve(mock_ironic, provision_state=state)
    mock_ironic.put(PROVISION, status_code=202)
    result, started, _ = make(client, events).inspect_hardware(InspectData(), False, False, force)
    assert result == ProvisionResult(dirty=True, requeue_after=delay) and not started
    sent = bodies(mock_ironic, "PUT", PROVISION)
    assert sent == ([{"target": target}] if target else [])


def test_inspect_fast_mode_uses_the_bmc_interface(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", inspect_interface="agent")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="manageable"))
    mock_ironic.put(PROVISION, status_code=202)
    prov = make(client, events, bmc_address="redfish://192.0.2.1/redfish/v1/Systems/1")
    prov.inspect_hardware(InspectData(inspection_mode="fast"), False, True, False)
    (ops,) = bodies(mock_ironic, "PATCH", NODE)
    assert {"op": "add", "path": "/inspect_interface", "value": "redfish"} in ops


def test_a_node_never_inspected_is_inspected_without_asking_for_its_inventory(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", inspection_finished_at=None)
    inventory = mock_ironic.get(NODE + "/inventory", status_code=404)
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="manageable"))
    mock_ironic.put(PROVISION, status_code=202)
    result, started, details = make(client, events).inspect_hardware(
        InspectData(), False, False, False
    )
    assert started and result.dirty and details is None
    assert not inventory.called
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "inspect"}]


def test_an_inspected_node_reports_its_stored_inventory(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", inspection_finished_at="2026-12-06T10:00:00")
    stored = {"inventory": {"memory": {"physical_mb": 4096}, "hostname": "h1"}}
    mock_ironic.get(NODE + "/inventory", json=stored)
    result, started, details = make(client, events).inspect_hardware(
        InspectData(), False, False, False
    )
    assert not started and not result.dirty and details is not None
    assert (details.ram_mebibytes, details.hostname) == (4096, "h1")
    assert bodies(mock_ironic, "PUT", PROVISION) == []
    assert events.reasons == ["InspectionComplete"]


def test_an_inspected_node_whose_inventory_is_gone_is_inspected_again(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", inspection_finished_at="2026-12-06T10:00:00")
    mock_ironic.get(NODE + "/inventory", status_code=404)
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="manageable"))
    mock_ironic.put(PROVISION, status_code=202)
    _, started, details = make(client, events).inspect_hardware(InspectData(), False, False, False)
    assert started and details is None
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "inspect"}]
