"""Agent inspection completed by testenv/fake_agent, as a ramdisk would."""

from __future__ import annotations

import pytest
import requests

from testenv.fake_agent import FakeAgentError, FakeHardware, post_inventory
from tests.fixtures.ironic import IronicFixture, unique_name

pytestmark = pytest.mark.ironic

HEADERS = {"X-OpenStack-Ironic-API-Version": "1.110"}


def test_posted_inventory_finishes_inspection(ironic: IronicFixture) -> None:
    conn = ironic.connection()
    mac = "52:54:00:cc:dd:01"
    name = unique_name("agent-inspect")
    node = conn.baremetal.create_node(name=name, driver="fake-hardware", inspect_interface="agent")
    try:
        conn.baremetal.create_port(node_id=node.id, address=mac)
        conn.baremetal.set_node_provision_state(node, "manage", wait=True, timeout=60)
        conn.baremetal.set_node_provision_state(node, "inspect")
        node = conn.baremetal.wait_for_nodes_provision_state([node], "inspect wait", timeout=60)[0]
        assert node.provision_state == "inspect wait"

        hardware = FakeHardware(cpu_count=4, memory_mb=8192, disk_size_bytes=80 * 1024**3)
        post_inventory(ironic.url, name, mac, hardware)

        node = conn.baremetal.wait_for_nodes_provision_state([node], "manageable", timeout=60)[0]
        assert node.provision_state == "manageable", node.last_error
        assert conn.baremetal.get_node(node.id).properties["cpu_arch"] == "x86_64"

        response = requests.get(
            f"{ironic.url}/v1/nodes/{node.id}/inventory",
            headers=HEADERS,
            auth=ironic.credentials,
            timeout=10,
        )
        assert response.status_code == 200
        inventory = response.json()["inventory"]
        assert inventory["cpu"]["count"] == 4
        assert inventory["memory"]["physical_mb"] == 8192
        assert inventory["interfaces"][0]["mac_address"] == mac
        assert inventory["hostname"] == name
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)


def test_inventory_for_an_unknown_mac_is_refused(ironic: IronicFixture) -> None:
    with pytest.raises(FakeAgentError) as info:
        post_inventory(ironic.url, "nobody", "52:54:00:ff:ff:fe", timeout=30)
    assert info.value.status == 404
