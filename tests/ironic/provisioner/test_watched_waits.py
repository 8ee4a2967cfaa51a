"""Waits for Ironic's progress when the node cache wakes each host on its node's change
(``IronicProvisionerFactory.watch_hosts``): they stretch to ``WATCHED_WAIT_DELAY``; waits
on a locked node, and hosts nobody watches, keep the Go provisioner's 3/10 s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.provisioner import IronicProvisionerFactory
from bmo.ironic.provisioner.core import LONG_DELAY, SHORT_DELAY, WATCHED_WAIT_DELAY
from bmo.provisioner import InspectData, ProvisionResult
from tests.ironic.conftest import API, LOCKED, node_json
from tests.ironic.provisioner.helpers import (
    POWER,
    UUID,
    Events,
    host,
    make_config,
    serve,
)


@pytest.fixture
def factory(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> Iterator[IronicProvisionerFactory]:
    # The cache's list fails, so every read goes to Ironic's node endpoint, which each test
    # serves: these tests are about the waits, not the cache.
    mock_ironic.get(f"{API}/nodes", status_code=400, json={"error_message": "not here"})
    made = IronicProvisionerFactory(
        client, make_config(), allow_development=True, rng=lambda: 0.0, node_cache=True
    )
    yield made
    made.close()


def inspect_wait(factory: IronicProvisionerFactory, events: Events) -> ProvisionResult:
    result, _, _ = factory.new(host(), events).inspect_hardware(InspectData(), False, False, False)
    return result


def test_a_watched_host_waits_for_ironic_progress_as_a_safety_net_only(
    factory: IronicProvisionerFactory, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect wait")
    assert inspect_wait(factory, events).requeue_after == LONG_DELAY, "nobody watches yet"
    assert factory.watch_hosts(lambda namespace, name: None)
    assert inspect_wait(factory, events) == ProvisionResult(
        dirty=True, requeue_after=WATCHED_WAIT_DELAY
    )
    serve(
        mock_ironic,
        provision_state="active",
        power_state="power off",
        target_power_state="power on",
    )
    result = factory.new(host(), events).power_on(False)
    assert result.requeue_after == WATCHED_WAIT_DELAY, "a power change in flight: watched too"


def test_a_locked_node_is_retried_soon_even_when_watched(
    factory: IronicProvisionerFactory, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    """A lock's release changes nothing the node cache compares: no wake-up would come."""
    assert factory.watch_hosts(lambda namespace, name: None)
    mock_ironic.get(
        f"{API}/nodes/{UUID}",
        json=node_json(UUID, provision_state="active", power_state="power off"),
    )
    mock_ironic.put(POWER, **LOCKED)
    assert factory.new(host(), events).power_on(False) == ProvisionResult(
        dirty=True, requeue_after=SHORT_DELAY
    )


def test_after_a_provision_state_request_a_watched_host_waits_for_the_wake_up(
    factory: IronicProvisionerFactory, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    """Upstream reads the node again at once (``operationContinuing(0)``) and finds it busy;
    a watched host is woken when it comes to rest instead."""
    serve(mock_ironic, provision_state="manageable")
    mock_ironic.put(f"{API}/nodes/{UUID}/states/provision", status_code=202)
    mock_ironic.patch(f"{API}/nodes/{UUID}", json=node_json(UUID, provision_state="manageable"))
    assert inspect_wait(factory, events) == ProvisionResult(dirty=True, requeue_after=0.0)
    assert factory.watch_hosts(lambda namespace, name: None)
    assert inspect_wait(factory, events) == ProvisionResult(
        dirty=True, requeue_after=WATCHED_WAIT_DELAY
    )
