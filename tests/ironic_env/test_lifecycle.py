"""A fake-hardware node walked through the provisioning states bmo relies on."""

from __future__ import annotations

import openstack.exceptions
import pytest

from tests.fixtures.ironic import IronicFixture, unique_name

pytestmark = pytest.mark.ironic

WAIT = 60


def test_fake_node_enroll_to_active_and_back(ironic: IronicFixture) -> None:
    conn = ironic.connection()
    node = conn.baremetal.create_node(name=unique_name("lifecycle"), driver="fake-hardware")
    try:
        assert node.provision_state == "enroll"
        port = conn.baremetal.create_port(node_id=node.id, address="52:54:00:aa:bb:01")
        assert port.node_id == node.id

        node = conn.baremetal.set_node_provision_state(node, "manage", wait=True, timeout=WAIT)
        assert node.provision_state == "manageable"

        node = conn.baremetal.set_node_provision_state(node, "provide", wait=True, timeout=WAIT)
        assert node.provision_state == "available"

        conn.baremetal.patch_node(
            node,
            [
                {
                    "op": "add",
                    "path": "/instance_info/image_source",
                    "value": "http://127.0.0.1/image.qcow2",
                }
            ],
        )
        node = conn.baremetal.set_node_provision_state(node, "active", wait=True, timeout=WAIT)
        assert node.provision_state == "active"
        assert conn.baremetal.get_node(node.id).instance_info["image_source"].endswith(".qcow2")

        node = conn.baremetal.set_node_provision_state(node, "deleted", wait=True, timeout=WAIT)
        assert node.provision_state == "available"
        assert not conn.baremetal.get_node(node.id).instance_info.get("image_source")
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.baremetal.get_node(node.id)
