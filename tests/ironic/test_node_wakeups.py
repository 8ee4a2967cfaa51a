"""Which node changes wake the host owning the node (``NodeChange.actionable``)."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.nodecache import NodeChange
from bmo.ironic.provisioner import IronicProvisionerFactory
from bmo.ironic.views import NodeView
from tests.ironic.conftest import API, FakeClock, node_json

U1 = "11111111-1111-4111-8111-111111111111"


def view(**fields: Any) -> NodeView:
    return NodeView.from_json(node_json(U1, name="ns~host", **fields))


INSPECTING = {"provision_state": "inspecting", "target_provision_state": "manageable"}
INSPECT_WAIT = {"provision_state": "inspect wait", "target_provision_state": "manageable"}
MANAGEABLE = {"provision_state": "manageable", "target_provision_state": None}


@pytest.mark.parametrize(
    ("before", "after", "wakes"),
    [
        pytest.param(INSPECTING, INSPECT_WAIT, False, id="busy to busy"),
        pytest.param(INSPECT_WAIT, MANAGEABLE, True, id="comes to rest"),
        pytest.param(MANAGEABLE, INSPECTING, False, id="starts work (bmo asked)"),
        pytest.param(
            INSPECTING,
            {**INSPECT_WAIT, "power_state": "power on"},
            False,
            id="powered by Ironic's task",
        ),
        pytest.param(
            {**MANAGEABLE, "power_state": "power off"},
            {**MANAGEABLE, "power_state": "power on"},
            True,
            id="power changed at rest",
        ),
        pytest.param(
            INSPECTING, {**INSPECT_WAIT, "last_error": "timed out"}, True, id="error recorded"
        ),
        pytest.param(INSPECTING, {**INSPECT_WAIT, "maintenance": True}, True, id="maintenance"),
        pytest.param(
            {"provision_state": "inspect failed", "target_provision_state": None},
            MANAGEABLE,
            True,
            id="rest to rest",
        ),
    ],
)
def test_a_host_is_woken_when_its_node_may_need_it(
    before: dict[str, Any], after: dict[str, Any], wakes: bool
) -> None:
    assert NodeChange(view(**before), view(**after)).actionable is wakes


def test_appearing_and_vanishing_nodes_always_wake() -> None:
    assert NodeChange(None, view(**INSPECTING)).actionable
    assert NodeChange(view(**INSPECTING), None).actionable


def test_the_factory_wakes_hosts_only_for_actionable_changes(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    mock_ironic.get(
        f"{API}/nodes",
        [
            {"json": {"nodes": [node_json(U1, name="ns~host", **INSPECTING)]}},
            {"json": {"nodes": [node_json(U1, name="ns~host", **INSPECT_WAIT)]}},
            {"json": {"nodes": [node_json(U1, name="ns~host", **MANAGEABLE)]}},
        ],
    )
    mock_ironic.get(f"{API}/ports", json={"ports": []})
    factory = IronicProvisionerFactory(client, client.config, node_cache=True)
    woken: list[tuple[str, str]] = []
    assert factory.watch_hosts(lambda namespace, name: woken.append((namespace, name)))
    cache = client.attached_cache
    assert cache is not None
    cache.poll()
    assert woken == [("ns", "host")], "first sync: the node appears"
    woken.clear()
    clock.advance(1)
    cache.poll()
    assert woken == [], "still inspecting"
    clock.advance(1)
    cache.poll()
    assert woken == [("ns", "host")], "inspection over"
