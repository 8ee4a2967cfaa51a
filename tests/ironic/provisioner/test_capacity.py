"""``has_capacity``, ``get_health``, ``has_power_failure``, against requests-mock
(``ironic.go HasCapacity``, ``loadBusyHosts``, ``GetHealth``, ``HasPowerFailure``)."""

from __future__ import annotations

from typing import Any

import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.provisioner import IronicProvisionerFactory
from bmo.ironic.retry import RetryPolicy
from tests.ironic.conftest import (
    API,
    FakeClock,
    Sleeps,
    make_config,
)
from tests.ironic.provisioner.helpers import (
    Events,
    host,
    make,
    serve,
)


def _nodes(*items: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "nodes": [
            {"uuid": f"u{i}", "name": name, "provision_state": state, "boot_interface": boot}
            for i, (name, state, boot) in enumerate(items)
        ]
    }


def test_capacity_counts_busy_pxe_nodes(
    clock: FakeClock, sleeps: Sleeps, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    config = make_config(provisioning_limit=2)
    client = IronicClient(config, clock=clock, retry_policy=RetryPolicy(sleep=sleeps))
    mock_ironic.get(
        API + "/nodes",
        json=_nodes(
            ("a~1", "deploying", "ipxe"),
            ("a~2", "clean wait", "pxe"),
            ("a~3", "inspect wait", "redfish-virtual-media"),
            ("a~4", "active", "ipxe"),
        ),
    )
    factory = IronicProvisionerFactory(client, config, allow_development=True)
    assert factory.new(host(), events).has_capacity() is False
    assert factory.new(host(namespace="a", name="2"), events).has_capacity() is True
    lists = [r for r in mock_ironic.request_history if r.path == "/v1/nodes"]
    assert lists[0].qs["fields"] == ["uuid,name,provision_state,boot_interface"]
    virtual_media = host(bmc_address="redfish-virtualmedia://192.0.2.1/redfish/v1/Systems/1")
    assert factory.new(virtual_media, events).has_capacity() is True
    assert len([r for r in mock_ironic.request_history if r.path == "/v1/nodes"]) == 2


def test_health_and_power_failure(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, health="Warning", fault="power failure")
    prov = make(client, events)
    assert prov.get_health() == "Warning"
    assert prov.has_power_failure() is True
    serve(mock_ironic, health=None, fault=None)
    prov = make(client, events)
    assert (prov.get_health(), prov.has_power_failure()) == ("", False)
