"""``delete``/``detach`` per Ironic state, against requests-mock (``ironic.go Delete``,
``Detach``)."""

from __future__ import annotations

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.provisioner import (
    ProvisionResult,
)
from tests.ironic.conftest import (
    API,
    count,
    ironic_error,
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


@pytest.mark.parametrize(
    ("state", "force", "expect"),
    [
        ("active", False, "maintenance"),
        ("wait call-back", True, "abort"),
        ("wait call-back", False, "wait"),
        ("clean wait", True, "abort"),
        ("deploying", True, "wait"),
        ("manageable", False, "delete"),
        ("enroll", False, "delete"),
    ],
)
def test_delete_and_detach_per_state(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
    state: str,
    force: bool,
    expect: str,
) -> None:
    serve(mock_ironic, provision_state=state)
    mock_ironic.put(PROVISION, status_code=202)
    mock_ironic.put(NODE + "/maintenance", status_code=202)
    mock_ironic.delete(NODE, status_code=204)
    result = make(client, events).detach(force)
    assert result.dirty and not result.error_message
    puts = bodies(mock_ironic, "PUT", PROVISION)
    maintenance = bodies(mock_ironic, "PUT", NODE + "/maintenance")
    deleted = count(mock_ironic, "DELETE", f"/v1/nodes/{UUID}")
    observed = {
        "maintenance": maintenance == [{"reason": "forcing deletion in baremetal-operator"}],
        "abort": puts == [{"target": "abort"}],
        "delete": deleted == 1,
        "wait": not puts and not maintenance and not deleted,
    }
    assert [name for name, seen in observed.items() if seen] == [expect]


def test_delete_of_missing_node_is_done(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(NODE, **ironic_error(404, "no"))
    mock_ironic.get(API + "/nodes/ns~host", **ironic_error(404, "no"))
    assert make(client, events).delete() == ProvisionResult()


def test_delete_removes_stale_instance_uuid(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="available", instance_uuid="abc")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="available"))
    mock_ironic.delete(NODE, status_code=204)
    make(client, events).delete()
    assert bodies(mock_ironic, "PATCH", NODE) == [[{"op": "remove", "path": "/instance_uuid"}]]
