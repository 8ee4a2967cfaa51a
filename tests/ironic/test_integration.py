"""IronicClient against the real Ironic of ``testenv/ironic/`` (fake-hardware nodes)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from bmo.ironic.capabilities import build_capabilities
from bmo.ironic.client import IronicClient
from bmo.ironic.config import BasicAuth, IronicConfig
from bmo.ironic.errors import Conflict, MACConflict, NotReady, Unauthorized
from bmo.ironic.updates import NodeUpdateBuilder
from bmo.ironic.views import NodeView
from tests.fixtures.ironic import IronicFixture, unique_name

pytestmark = pytest.mark.ironic

DEADLINE = 60.0


def random_mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def wait_for(client: IronicClient, uuid: str, check: Callable[[NodeView], bool]) -> NodeView:
    """Poll the node until ``check`` holds, failing after DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while True:
        node = client.get_node(uuid)
        assert node is not None
        if check(node):
            return node
        if time.monotonic() > end:
            pytest.fail(f"node {uuid} never satisfied the condition; last seen {node!r}")
        time.sleep(0.1)


@pytest.fixture
def client(ironic: IronicFixture) -> IronicClient:
    return IronicClient(IronicConfig.from_env(ironic.process.env()))


@pytest.fixture
def cleanup(client: IronicClient) -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    for uuid in created:
        node = client.get_node(uuid)
        if node is not None and node.provision_state not in ("enroll", "manageable", "available"):
            client.set_maintenance(uuid, "test cleanup")
        client.delete_node(uuid)


def test_config_from_the_fixture_environment(ironic: IronicFixture) -> None:
    config = IronicConfig.from_env(ironic.process.env())
    assert config.endpoint == ironic.url
    assert ironic.credentials is not None
    assert config.auth == BasicAuth(*ironic.credentials)
    assert ironic.credentials[1] not in repr(config)


def test_negotiates_1_110_and_is_ready(client: IronicClient) -> None:
    assert client.microversion == "1.110"
    assert client.ready() is True
    client.ensure_ready()


def test_wrong_password_is_unauthorized(ironic: IronicFixture, client: IronicClient) -> None:
    assert client.config.auth is not None
    bad = IronicClient(replace(client.config, auth=BasicAuth(client.config.auth.username, "nope")))
    # The version document is public, so negotiation works; the API itself refuses.
    assert bad.microversion == "1.110"
    with pytest.raises(Unauthorized) as info:
        bad.get_node("anything")
    assert info.value.status_code == 401
    assert "nope" not in str(info.value)
    assert bad.ready() is False
    with pytest.raises(NotReady, match="401"):
        bad.ensure_ready()


def test_node_lifecycle_through_the_client(client: IronicClient, cleanup: list[str]) -> None:
    name = "bmo-test~" + unique_name("client")
    mac = random_mac()
    node = client.create_node(
        name=name,
        driver="fake-hardware",
        driver_info={"fake_password": "hunter2-secret"},
        properties={"capabilities": build_capabilities("UEFI", "cpu_vt:true")},
        disable_power_off=False,
    )
    cleanup.append(node.uuid)
    assert node.name == name
    assert node.provision_state == "enroll"
    assert node.disable_power_off is False
    assert node.properties["capabilities"] == "cpu_vt:true,boot_mode:uefi"
    assert "hunter2-secret" not in repr(node)

    port = client.create_port(node.uuid, mac, pxe_enabled=True)
    assert port.node_uuid == node.uuid
    assert [p.address for p in client.list_ports(node.uuid)] == [mac]
    with pytest.raises(Conflict):
        client.create_port(node.uuid, mac)

    # Lookups in upstream's order (ironic.go findExistingHost): UUID, name, legacy name, MAC.
    assert client.find_node(uuid=node.uuid) == node
    assert client.find_node(uuid="a7a8ad8f-1d8a-4b7e-9b8e-3b4c0e9f0a11", name=name) == node
    assert client.find_node(name="ns~missing", legacy_name="missing") is None
    with pytest.raises(MACConflict, match=f"MAC address {mac} conflicts with existing node {name}"):
        client.find_node(name="ns~other", boot_mac=mac)

    # JSON-patch update; a second identical update sends nothing.
    ops = NodeUpdateBuilder(node.as_patch_base()).set_instance_info(
        {"image_source": "http://127.0.0.1/image.qcow2"}
    )
    node = client.update_node(node.uuid, ops.ops)
    assert node.instance_info["image_source"] == "http://127.0.0.1/image.qcow2"
    assert not NodeUpdateBuilder(node.as_patch_base()).set_instance_info(
        {"image_source": "http://127.0.0.1/image.qcow2"}
    )

    client.set_provision_state(node.uuid, "manage")
    node = wait_for(client, node.uuid, lambda n: n.provision_state == "manageable")
    client.set_provision_state(node.uuid, "provide")
    node = wait_for(client, node.uuid, lambda n: n.provision_state == "available")
    assert node.last_error is None

    client.set_power_state(node.uuid, "power on")
    wait_for(client, node.uuid, lambda n: n.power_state == "power on")
    client.set_power_state(node.uuid, "power off")
    wait_for(client, node.uuid, lambda n: n.power_state == "power off")

    client.set_maintenance(node.uuid, "testing")
    node = wait_for(client, node.uuid, lambda n: n.maintenance)
    assert node.maintenance_reason == "testing"
    client.unset_maintenance(node.uuid)
    assert wait_for(client, node.uuid, lambda n: not n.maintenance).maintenance_reason is None

    validation = client.validate(node.uuid)
    assert validation["power"].result is True
    assert client.get_inventory(node.uuid) is None  # fake inspection stores none

    listed = {n.uuid: n for n in client.list_nodes(fields=("uuid", "name", "provision_state"))}
    assert listed[node.uuid].provision_state == "available"
    assert listed[node.uuid].name == name

    client.delete_node(node.uuid)
    assert client.get_node(node.uuid) is None
    client.delete_node(node.uuid)  # already gone: fine


def test_find_by_mac_returns_an_unnamed_node(client: IronicClient, cleanup: list[str]) -> None:
    mac = random_mac()
    node = client.create_node(name=unique_name("unnamed"), driver="fake-hardware")
    cleanup.append(node.uuid)
    client.create_port(node.uuid, mac)
    node = client.update_node(node.uuid, NodeUpdateBuilder(None).set_top_level("name", None).ops)
    assert node.name is None
    found = client.find_node(name="ns~" + unique_name("x"), boot_mac=mac)
    assert found is not None
    assert found.uuid == node.uuid


def test_duplicate_name_is_a_conflict(client: IronicClient, cleanup: list[str]) -> None:
    name = unique_name("dup")
    cleanup.append(client.create_node(name=name, driver="fake-hardware").uuid)
    with pytest.raises(Conflict, match="already exists"):
        client.create_node(name=name, driver="fake-hardware")
