"""IronicClient against requests-mock: error paths a real Ironic will not produce on demand."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.errors import (
    Conflict,
    InvalidRequest,
    IronicTimeout,
    IronicUnavailable,
    MACConflict,
    NodeLocked,
    NotReady,
    PortNodeMissing,
    Unauthorized,
)
from bmo.ironic.microversion import choose_microversion
from bmo.ironic.retry import RetryPolicy
from bmo.ironic.updates import PatchOp
from bmo.provisioner.deferral import ActionDeferred, actions_deferred
from tests.ironic.conftest import (
    API,
    BUSY,
    LOCKED,
    FakeClock,
    Sleeps,
    count,
    ironic_error,
    make_config,
    node_json,
    version_doc,
)

UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
NODE = f"{API}/nodes/{UUID}"
MV_HEADER = "X-OpenStack-Ironic-API-Version"


# ------------------------------------------------------------------ microversion, readiness


@pytest.mark.parametrize(
    ("min_version", "max_version", "chosen"),
    [
        ("1.1", "1.115", "1.110"),
        ("1.1", "1.110", "1.110"),
        ("1.1", "1.109", "1.109"),
        ("1.1", "1.108", "1.95"),
        ("1.1", "1.95", "1.95"),
        ("1.1", "1.94", "1.93"),
        ("1.1", "1.92", "1.89"),
        ("1.1", "1.89", "1.89"),
    ],
)
def test_choose_microversion(min_version: str, max_version: str, chosen: str) -> None:
    assert choose_microversion(min_version, max_version) == chosen


@pytest.mark.parametrize("max_version", ["1.88", "1.9", "2.0", "0.200"])
def test_choose_microversion_rejects_old_or_foreign_apis(max_version: str) -> None:
    with pytest.raises(NotReady, match=r"ironic API 1\.89 or newer is required"):
        choose_microversion("1.1", max_version)


def test_microversion_negotiated_once_and_sent_on_every_request(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(NODE, json=node_json())
    mock_ironic.put(NODE + "/maintenance", status_code=202)
    assert client.get_node(UUID) is not None
    versions_after_first = count(mock_ironic, "GET", "/v1/")
    client.get_node(UUID)
    client.set_maintenance(UUID, "because")
    assert client.microversion == "1.110"
    assert count(mock_ironic, "GET", "/v1/") == versions_after_first
    api_calls = [r for r in mock_ironic.request_history if r.path.startswith("/v1/nodes")]
    assert len(api_calls) == 3
    assert {r.headers[MV_HEADER] for r in api_calls} == {"1.110"}
    assert api_calls[-1].json() == {"reason": "because"}


def test_version_too_old_is_not_ready(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(API + "/", json=version_doc(max_version="1.81"))
    assert client.ready() is False
    with pytest.raises(NotReady, match=r"1\.89 or newer is required"):
        client.ensure_ready()
    with pytest.raises(NotReady):
        client.get_node(UUID)


def test_no_drivers_is_not_ready(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    mock_ironic.get(API + "/drivers", json={"drivers": []})
    with pytest.raises(NotReady, match="no drivers"):
        client.ensure_ready()


def test_unreachable_ironic_is_not_ready(
    client: IronicClient, mock_ironic: requests_mock.Mocker, sleeps: Sleeps
) -> None:
    mock_ironic.get(API + "/", exc=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(NotReady, match="cannot reach Ironic") as info:
        client.ensure_ready()
    assert isinstance(info.value.__cause__, IronicUnavailable)
    assert len(sleeps.calls) == RetryPolicy().attempts - 1


def test_readiness_is_cached_for_the_ttl(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    assert client.ready() is True
    versions, drivers = count(mock_ironic, "GET", "/v1/"), count(mock_ironic, "GET", "/v1/drivers")
    assert drivers == 1
    clock.advance(4.9)
    for _ in range(5):
        assert client.ready() is True
    assert count(mock_ironic, "GET", "/v1/drivers") == drivers
    assert count(mock_ironic, "GET", "/v1/") == versions

    mock_ironic.get(API + "/drivers", json={"drivers": []})
    clock.advance(0.2)  # past the 5 s TTL
    assert client.ready() is False
    assert count(mock_ironic, "GET", "/v1/drivers") == drivers + 1
    # The version document was read 5 s ago by a good check: only the drivers are listed.
    assert count(mock_ironic, "GET", "/v1/") == versions
    # The negative result is cached too.
    mock_ironic.get(API + "/drivers", json={"drivers": [{"name": "fake-hardware"}]})
    assert client.ready() is False
    clock.advance(5)
    assert client.ready() is True
    # After a failed check the version is read again.
    assert count(mock_ironic, "GET", "/v1/") == versions + 1


def test_zero_ttl_disables_the_cache(
    mock_ironic: requests_mock.Mocker, clock: FakeClock, sleeps: Sleeps
) -> None:
    client = IronicClient(
        make_config(cache_ttl=0.0), clock=clock, retry_policy=RetryPolicy(sleep=sleeps)
    )
    for _ in range(3):
        assert client.ready() is True
    assert count(mock_ironic, "GET", "/v1/drivers") == 3


def test_readiness_reads_the_version_once_a_minute_and_the_drivers_every_ttl(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock
) -> None:
    assert client.ready() is True
    # The first check read the version document (keystoneauth's one-time endpoint discovery
    # reads it too).
    versions = count(mock_ironic, "GET", "/v1/")
    assert versions >= 1
    # A host reconciling every second for the rest of the minute, the readiness TTL 5 s.
    for _ in range(59):
        clock.advance(1.0)
        assert client.ready() is True
    assert count(mock_ironic, "GET", "/v1/") == versions, "one version read a minute"
    assert count(mock_ironic, "GET", "/v1/drivers") == 60 // 5, "one drivers list per TTL"
    # Sixty seconds after the last version read, the next check reads it again.
    clock.advance(1.0)
    assert client.ready() is True
    assert count(mock_ironic, "GET", "/v1/") == versions + 1
    assert count(mock_ironic, "GET", "/v1/drivers") == 60 // 5 + 1


def test_a_failed_readiness_check_reads_the_version_next_time(
    client: IronicClient, mock_ironic: requests_mock.Mocker, clock: FakeClock, sleeps: Sleeps
) -> None:
    assert client.ready() is True
    versions = count(mock_ironic, "GET", "/v1/")
    clock.advance(5)
    assert client.ready() is True
    assert count(mock_ironic, "GET", "/v1/") == versions
    mock_ironic.get(API + "/drivers", exc=requests.exceptions.ConnectionError("refused"))
    clock.advance(5)
    assert client.ready() is False
    assert count(mock_ironic, "GET", "/v1/") == versions
    mock_ironic.get(API + "/drivers", json={"drivers": [{"name": "fake-hardware"}]})
    clock.advance(5)
    assert client.ready() is True
    assert count(mock_ironic, "GET", "/v1/") == versions + 1, "a failed check: version read"
    clock.advance(5)
    assert client.ready() is True
    assert count(mock_ironic, "GET", "/v1/") == versions + 1


def test_readiness_repins_when_ironic_changes_version(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert client.microversion == "1.110"
    mock_ironic.get(API + "/", json=version_doc(max_version="1.100"))
    clock.advance(60)  # the version document is due again
    with caplog.at_level("WARNING", logger="bmo.ironic.client"):
        assert client.ready() is True
    assert client.microversion == "1.95"
    assert "ironic microversion changed 1.110 -> 1.95" in caplog.text


def test_ironic_replaced_between_version_reads_is_repinned_after_one_failed_check(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An older Ironic answers 406 to the pinned microversion: the drivers-only check fails,
    and the next one reads the version document and re-pins."""
    assert client.ready() is True
    assert client.microversion == "1.110"
    versions = count(mock_ironic, "GET", "/v1/")
    mock_ironic.get(API + "/", json=version_doc(max_version="1.100"))
    mock_ironic.get(
        API + "/drivers",
        request_headers={MV_HEADER: "1.110"},
        **ironic_error(406, "Version 1.110 was requested but the maximum is 1.100."),
    )
    clock.advance(5)
    assert client.ready() is False
    assert count(mock_ironic, "GET", "/v1/") == versions
    clock.advance(5)
    with caplog.at_level("WARNING", logger="bmo.ironic.client"):
        assert client.ready() is True
    assert client.microversion == "1.95"
    assert "ironic microversion changed 1.110 -> 1.95" in caplog.text


# ------------------------------------------------------------------ retries and errors


def test_node_locked_then_ok_retries_once(
    client: IronicClient, mock_ironic: requests_mock.Mocker, sleeps: Sleeps
) -> None:
    mock_ironic.put(NODE + "/states/power", [LOCKED, {"status_code": 202}])
    client.set_power_state(UUID, "power on")
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/power") == 2
    assert len(sleeps.calls) == 1
    assert 0 < sleeps.calls[0] <= 2 * RetryPolicy().initial_wait


def test_node_locked_persisting_raises_node_locked(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.put(NODE + "/states/provision", **LOCKED)
    with pytest.raises(NodeLocked, match="is locked by host") as info:
        client.set_provision_state(UUID, "manage")
    assert info.value.status_code == 409
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/provision") == 4


def test_503_retries_then_unavailable(
    client: IronicClient, mock_ironic: requests_mock.Mocker, sleeps: Sleeps
) -> None:
    mock_ironic.get(NODE, **BUSY)
    with pytest.raises(IronicUnavailable, match="lack of free conductor workers") as info:
        client.get_node(UUID)
    assert info.value.status_code == 503
    assert count(mock_ironic, "GET", f"/v1/nodes/{UUID}") == RetryPolicy().attempts
    waits = sleeps.calls
    assert len(waits) == RetryPolicy().attempts - 1
    assert sum(waits) <= RetryPolicy().max_total
    assert waits[0] < waits[-1]  # exponential


def test_400_is_not_retried(
    client: IronicClient, mock_ironic: requests_mock.Mocker, sleeps: Sleeps
) -> None:
    mock_ironic.patch(NODE, **ironic_error(400, "Invalid patch: /foo is not a node field"))
    with pytest.raises(InvalidRequest, match="/foo is not a node field"):
        client.update_node(UUID, [PatchOp("add", "/foo", 1)])
    assert count(mock_ironic, "PATCH", f"/v1/nodes/{UUID}") == 1
    assert sleeps.calls == []


def test_500_is_unavailable_but_not_retried(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(NODE, **ironic_error(500, "boom"))
    with pytest.raises(IronicUnavailable):
        client.get_node(UUID)
    assert count(mock_ironic, "GET", f"/v1/nodes/{UUID}") == 1


def test_connection_error_is_retried(
    client: IronicClient, mock_ironic: requests_mock.Mocker, sleeps: Sleeps
) -> None:
    mock_ironic.get(
        NODE,
        [
            {"exc": requests.exceptions.ConnectionError("Connection reset by peer")},
            {"json": node_json()},
        ],
    )
    node = client.get_node(UUID)
    assert node is not None
    assert node.uuid == UUID
    assert len(sleeps.calls) == 1


def test_timeout_is_not_retried(
    client: IronicClient, mock_ironic: requests_mock.Mocker, sleeps: Sleeps
) -> None:
    mock_ironic.get(NODE, exc=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(IronicTimeout):
        client.get_node(UUID)
    assert count(mock_ironic, "GET", f"/v1/nodes/{UUID}") == 1
    assert sleeps.calls == []


def test_unauthorized_message_has_no_credentials(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(NODE, **ironic_error(401, "Unauthorized"))
    with pytest.raises(Unauthorized) as info:
        client.get_node(UUID)
    assert mock_ironic.last_request.headers["Authorization"].startswith("Basic ")
    text = str(info.value) + repr(info.value)
    assert "s3cret-pw" not in text
    assert mock_ironic.last_request.headers["Authorization"] not in text


def test_conflict_on_first_create_is_a_conflict(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.post(
        API + "/nodes", **ironic_error(409, "A node with name ns~host already exists.")
    )
    with pytest.raises(Conflict, match="already exists") as info:
        client.create_node(name="ns~host", driver="fake-hardware")
    assert not isinstance(info.value, NodeLocked)
    assert count(mock_ironic, "POST", "/v1/nodes") == 1


def test_retried_create_answering_already_exists_is_success(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.post(
        API + "/nodes",
        [
            {"exc": requests.exceptions.ConnectionError("Connection reset by peer")},
            ironic_error(409, "A node with name ns~host already exists."),
        ],
    )
    mock_ironic.get(API + "/nodes/ns~host", json=node_json())
    node = client.create_node(
        name="ns~host",
        driver="fake-hardware",
        interfaces={"boot_interface": "ipxe", "raid_interface": ""},
        disable_power_off=True,
    )
    assert node.uuid == UUID
    posts = [r for r in mock_ironic.request_history if r.method == "POST"]
    assert len(posts) == 2
    body = posts[0].json()
    assert body["boot_interface"] == "ipxe"
    assert "raid_interface" not in body
    assert body["disable_power_off"] is True


def test_retried_port_create_answering_already_exists_is_success(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mac = "52:54:00:aa:bb:cc"
    mock_ironic.post(
        API + "/ports",
        [
            {"exc": requests.exceptions.ConnectionError("reset")},
            ironic_error(409, f"A port with MAC address {mac} already exists."),
        ],
    )
    mock_ironic.get(
        API + "/ports",
        json={"ports": [{"uuid": "p1", "address": mac, "node_uuid": UUID, "pxe_enabled": True}]},
    )
    port = client.create_port(UUID, mac, pxe_enabled=True)
    assert port.uuid == "p1"
    assert port.node_uuid == UUID


def test_retried_port_create_for_another_nodes_mac_stays_a_conflict(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mac = "52:54:00:aa:bb:cc"
    mock_ironic.post(
        API + "/ports",
        [{"exc": requests.exceptions.ConnectionError("reset")}, ironic_error(409, "exists")],
    )
    mock_ironic.get(
        API + "/ports",
        json={"ports": [{"uuid": "p1", "address": mac, "node_uuid": "other", "pxe_enabled": True}]},
    )
    with pytest.raises(Conflict):
        client.create_port(UUID, mac)


# ------------------------------------------------------------------ node operations


def test_get_node_404_is_none(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    mock_ironic.get(NODE, **ironic_error(404, f"Node {UUID} could not be found."))
    assert client.get_node(UUID) is None


def test_node_view_hides_driver_info(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(
        NODE,
        json=node_json(
            driver_info={"redfish_password": "pw-value-123", "redfish_address": "http://x"},
            health="OK",
            disable_power_off=True,
            reservation="conductor-1",
        ),
    )
    node = client.get_node(UUID)
    assert node is not None
    assert "pw-value-123" not in repr(node)
    assert node.redacted_driver_info()["redfish_password"] != "pw-value-123"
    assert node.redacted_driver_info()["redfish_address"] == "http://x"
    assert (node.health, node.disable_power_off, node.reservation) == ("OK", True, "conductor-1")
    with pytest.raises(TypeError):
        node.driver_info["x"] = 1  # type: ignore[index]


def test_find_node_order(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    missing = ironic_error(404, "not found")
    mock_ironic.get(API + "/nodes/u-1", **missing)
    mock_ironic.get(API + "/nodes/ns~host", **missing)
    mock_ironic.get(API + "/nodes/host", json=node_json(name="host"))
    node = client.find_node(uuid="u-1", name="ns~host", legacy_name="host", boot_mac="aa")
    assert node is not None
    assert node.name == "host"
    paths = [r.path for r in mock_ironic.request_history if r.path.startswith("/v1/nodes")]
    assert paths == ["/v1/nodes/u-1", "/v1/nodes/ns~host", "/v1/nodes/host"]


def test_find_node_skips_legacy_names_with_tilde(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(API + "/nodes/ns~host", **ironic_error(404, "not found"))
    assert client.find_node(name="ns~host", legacy_name="a~b") is None
    assert count(mock_ironic, "GET", "/v1/nodes/a~b") == 0
    assert count(mock_ironic, "GET", "/v1/ports") == 0  # no MAC, no port lookup


def test_find_node_by_mac(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    mac = "52:54:00:00:00:01"
    mock_ironic.get(API + "/nodes/ns~host", **ironic_error(404, "not found"))
    mock_ironic.get(
        API + "/ports", json={"ports": [{"uuid": "p", "address": mac, "node_uuid": UUID}]}
    )
    mock_ironic.get(NODE, json=node_json(name=None))
    node = client.find_node(name="ns~host", boot_mac=mac)
    assert node is not None
    assert node.uuid == UUID
    port_query = next(r for r in mock_ironic.request_history if r.path == "/v1/ports")
    assert port_query.qs["address"] == [mac]

    mock_ironic.get(NODE, json=node_json(name="other~host"))
    with pytest.raises(MACConflict) as info:
        client.find_node(name="ns~host", boot_mac=mac)
    assert str(info.value) == f"MAC address {mac} conflicts with existing node other~host"

    mock_ironic.get(NODE, **ironic_error(404, "not found"))
    with pytest.raises(PortNodeMissing):
        client.find_node(name="ns~host", boot_mac=mac)


def test_delete_missing_node_is_fine(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.delete(NODE, **ironic_error(404, "not found"))
    client.delete_node(UUID)
    assert count(mock_ironic, "DELETE", f"/v1/nodes/{UUID}") == 1


def test_delete_locked_node_retries(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.delete(NODE, [LOCKED, {"status_code": 204}])
    client.delete_node(UUID)
    assert count(mock_ironic, "DELETE", f"/v1/nodes/{UUID}") == 2


def test_update_node_sends_json_patch(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.patch(NODE, json=node_json(instance_info={"image_source": "http://i"}))
    node = client.update_node(
        UUID,
        [PatchOp("add", "/instance_info/image_source", "http://i"), PatchOp("remove", "/fault")],
    )
    assert node.instance_info == {"image_source": "http://i"}
    assert mock_ironic.last_request.json() == [
        {"op": "add", "path": "/instance_info/image_source", "value": "http://i"},
        {"op": "remove", "path": "/fault"},
    ]


def test_update_node_without_ops_sends_no_patch(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.get(NODE, json=node_json())
    assert client.update_node(UUID, []).uuid == UUID
    assert count(mock_ironic, "PATCH", f"/v1/nodes/{UUID}") == 0


def test_provision_state_body(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    mock_ironic.put(NODE + "/states/provision", status_code=202)
    client.set_provision_state(
        UUID,
        "active",
        config_drive={"user_data": "#cloud-config", "meta_data": {"uuid": "x"}},
        deploy_steps=[{"interface": "deploy", "step": "write_image", "priority": 80, "args": {}}],
    )
    body = mock_ironic.last_request.json()
    assert body["target"] == "active"
    assert body["configdrive"] == {"user_data": "#cloud-config", "meta_data": {"uuid": "x"}}
    assert body["deploy_steps"][0]["step"] == "write_image"

    client.set_provision_state(UUID, "clean", clean_steps=[{"interface": "raid", "step": "x"}])
    assert mock_ironic.last_request.json() == {
        "target": "clean",
        "clean_steps": [{"interface": "raid", "step": "x"}],
    }


def test_soft_power_off_passes_server_timeout(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    mock_ironic.put(NODE + "/states/power", status_code=202)
    client.set_power_state(UUID, "soft power off", timeout=180)
    assert mock_ironic.last_request.json() == {"target": "soft power off", "timeout": 180}


def test_inventory(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    mock_ironic.get(NODE + "/inventory", **ironic_error(404, "no inventory"))
    assert client.get_inventory(UUID) is None
    mock_ironic.get(
        NODE + "/inventory", json={"inventory": {"cpu": {"count": 2}}, "plugin_data": {}}
    )
    assert client.get_inventory(UUID) == {"inventory": {"cpu": {"count": 2}}, "plugin_data": {}}


def test_list_nodes_follows_pages(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    first = {
        "nodes": [{"uuid": "a", "provision_state": "cleaning"}],
        "next": API + "/nodes?marker=a",
    }
    second = {"nodes": [{"uuid": "b", "provision_state": "available"}]}
    mock_ironic.get(API + "/nodes", [{"json": first}, {"json": second}])
    nodes = client.list_nodes(fields=("name", "provision_state", "boot_interface"))
    assert [(n.uuid, n.provision_state) for n in nodes] == [("a", "cleaning"), ("b", "available")]
    queries = [r.qs for r in mock_ironic.request_history if r.path == "/v1/nodes"]
    assert queries[0]["fields"] == ["name,provision_state,boot_interface,uuid"]
    assert "marker" not in queries[0]
    assert queries[1]["marker"] == ["a"]


def test_validate(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    mock_ironic.get(
        NODE + "/validate",
        json={"power": {"result": True}, "deploy": {"result": False, "reason": "no image"}},
    )
    results = client.validate(UUID)
    assert results["power"].result is True
    assert results["deploy"].result is False
    assert results["deploy"].reason == "no image"


def test_raid_config_body(client: IronicClient, mock_ironic: requests_mock.Mocker) -> None:
    mock_ironic.put(NODE + "/states/raid", status_code=204)
    config = {"logical_disks": [{"size_gb": "MAX", "raid_level": "1", "is_root_volume": True}]}
    client.set_raid_config(UUID, config)
    assert json.loads(mock_ironic.last_request.text) == config


def test_down_ironic_on_first_call_is_tried_a_bounded_number_of_times(
    client: IronicClient, mock_ironic: requests_mock.Mocker, sleeps: Sleeps
) -> None:
    mock_ironic.get(API + "/", exc=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(IronicUnavailable, match="cannot reach Ironic"):
        client.get_node(UUID)
    assert count(mock_ironic, "GET", "/v1/") == RetryPolicy().attempts
    assert count(mock_ironic, "GET", f"/v1/nodes/{UUID}") == 0
    # Once Ironic is back, the same client negotiates and works.
    mock_ironic.get(API + "/", json=version_doc())
    mock_ironic.get(NODE, json=node_json())
    assert client.get_node(UUID) is not None
    assert client.microversion == "1.110"


def test_concurrent_first_use_negotiates_once(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: client.microversion, range(16)))
    assert set(results) == {"1.110"}
    assert count(mock_ironic, "GET", "/v1/") == 1


# ------------------------------------------------------------------ deferred actions


def test_deferred_actions_send_nothing_but_reads_go_on(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    """A chained state-machine step runs with actions deferred: it may read the node, but
    every call that would change Ironic stops before a request leaves (the reconciler saves
    the host's status first and runs the step again)."""
    mock_ironic.get(NODE, json=node_json())
    mock_ironic.put(NODE + "/states/provision", status_code=202)
    mock_ironic.put(NODE + "/maintenance", status_code=202)
    mock_ironic.patch(NODE, json=node_json())
    with actions_deferred():
        assert client.get_node(UUID) is not None
        with pytest.raises(ActionDeferred, match="set provision state"):
            client.set_provision_state(UUID, "manage")
        with pytest.raises(ActionDeferred):
            client.set_maintenance(UUID, "because")
        with pytest.raises(ActionDeferred):
            client.update_node(UUID, [PatchOp("add", "/extra/x", "y")])
        with pytest.raises(ActionDeferred):
            client.create_port(UUID, "00:00:5e:00:53:01")
    writes = [r for r in mock_ironic.request_history if r.method != "GET"]
    assert writes == []
    client.set_maintenance(UUID, "because")  # outside the block: sent
    assert count(mock_ironic, "PUT", "/v1/nodes/" + UUID + "/maintenance") == 1


def test_registrations_convergence_is_sent_while_actions_are_deferred_but_not_counted(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    """Registration keeps the node's configuration and ports in line on every pass, so a
    later step may do it; the host's status does not read it back, so it is not counted."""
    mock_ironic.patch(NODE, json=node_json())
    mock_ironic.post(
        API + "/ports",
        json={"uuid": "p1", "address": "00:00:5e:00:53:01", "node_uuid": UUID},
        status_code=201,
    )
    with actions_deferred() as acted:
        client.update_node(UUID, [PatchOp("add", "/extra/x", "y")], converges=True)
        client.create_port(UUID, "00:00:5e:00:53:01", converges=True)
        with pytest.raises(ActionDeferred):
            client.update_node(UUID, [PatchOp("add", "/extra/x", "z")])
    assert count(mock_ironic, "PATCH", "/v1/nodes/" + UUID) == 1
    assert count(mock_ironic, "POST", "/v1/ports") == 1
    assert acted.converging == 0


def test_a_power_change_is_sent_while_actions_are_deferred_and_counted(
    client: IronicClient, mock_ironic: requests_mock.Mocker
) -> None:
    """Every pass converges on ``spec.online``, so a power change is never deferred: the
    reconciler counts it and reads the result back in the same pass."""
    mock_ironic.put(NODE + "/states/power", status_code=202)
    with actions_deferred() as acted:
        client.set_power_state(UUID, "power on")
    assert count(mock_ironic, "PUT", "/v1/nodes/" + UUID + "/states/power") == 1
    assert acted.converging == 1
