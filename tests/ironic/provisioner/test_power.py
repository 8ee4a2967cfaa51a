"""``power_on``/``power_off`` per Ironic state, against requests-mock (``ironic.go PowerOn``,
``PowerOff``, ``changePower``)."""

from __future__ import annotations

import requests_mock

from bmo.ironic.client import IronicClient
from bmo.provisioner import (
    ProvisionResult,
)
from tests.ironic.conftest import (
    LOCKED,
    count,
    ironic_error,
)
from tests.ironic.provisioner.helpers import (
    POWER,
    PROVISION,
    UUID,
    Events,
    bodies,
    make,
    serve,
)


def test_soft_power_off_falls_back_to_hard_on_400(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", power_state="power on")
    mock_ironic.put(
        POWER,
        [
            ironic_error(400, "soft power off is not supported"),
            {"status_code": 202},
        ],
    )
    result = make(client, events).power_off("soft", False)
    assert result.dirty
    assert bodies(mock_ironic, "PUT", POWER) == [
        {"target": "soft power off", "timeout": 180},
        {"target": "power off"},
    ]
    assert events == [("PowerOff", "Host powered off")]


def test_power_waits_while_provision_target_is_set(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(
        mock_ironic,
        provision_state="deploying",
        target_provision_state="active",
        power_state="power off",
    )
    assert make(client, events).power_on(False) == ProvisionResult(dirty=True, requeue_after=3.0)
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/power") == 0


def test_power_on_failure_and_force(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", power_state="power off", last_error="IPMI gone")
    mock_ironic.put(POWER, status_code=202)
    assert make(client, events).power_on(False).error_message == (
        "PowerOn operation failed: IPMI gone"
    )
    assert make(client, events).power_on(True).dirty
    assert bodies(mock_ironic, "PUT", POWER) == [{"target": "power on"}]


def test_power_off_with_disable_power_off_reboots(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", power_state="power on", disable_power_off=True)
    mock_ironic.put(POWER, status_code=202)
    make(client, events).power_off("hard", False)
    make(client, events).power_off("soft", False)
    assert bodies(mock_ironic, "PUT", POWER) == [
        {"target": "rebooting"},
        {"target": "soft rebooting", "timeout": 180},
    ]


def test_power_off_aborts_inspect_wait_first(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect wait", power_state="power on")
    mock_ironic.put(PROVISION, status_code=202)
    assert make(client, events).power_off("hard", False).dirty
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "abort"}]
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/power") == 0


def test_power_state_409_is_retried_later(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", power_state="power off")
    mock_ironic.put(POWER, **LOCKED)
    assert make(client, events).power_on(False) == ProvisionResult(dirty=True, requeue_after=3.0)
    assert events == []
