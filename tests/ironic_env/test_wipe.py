"""Ironic's database is transient: wiping it must leave a working, empty Ironic."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from tests.fixtures.ironic import IronicFixture, unique_name

pytestmark = pytest.mark.ironic

# Ironic's defaults for the paths testenv/ironic/ moves into the state dir.
DEFAULT_WRITE_PATHS = (Path("/tftpboot"), Path("/httpboot"), Path("/var/lib/ironic"))


def test_wipe_and_restart_leaves_no_nodes(fresh_ironic: IronicFixture) -> None:
    conn = fresh_ironic.connection()
    node = conn.baremetal.create_node(name=unique_name("wiped"), driver="fake-hardware")
    assert [n.id for n in conn.baremetal.nodes()] == [node.id]
    url, credentials = fresh_ironic.url, fresh_ironic.credentials

    fresh_ironic.wipe_and_restart()

    assert (fresh_ironic.url, fresh_ironic.credentials) == (url, credentials)
    assert list(conn.baremetal.nodes()) == []
    again = conn.baremetal.create_node(name=node.name, driver="fake-hardware")
    assert again.provision_state == "enroll"


def test_nothing_written_outside_the_state_dir(tmp_path: Path) -> None:
    """Checks what exists before and after a full provisioning run in an Ironic of its own."""
    from testenv.ironic import IronicProcess
    from tests.fixtures.ironic import require_ironic_venv

    require_ironic_venv()
    absent_before = [p for p in DEFAULT_WRITE_PATHS if not p.exists()]
    process = IronicProcess(state_dir=tmp_path / "state", auth="noauth")
    process.start()
    try:
        ironic = IronicFixture(process)
        conn = ironic.connection()
        node = conn.baremetal.create_node(name=unique_name("confined"), driver="fake-hardware")
        conn.baremetal.set_node_provision_state(node, "manage", wait=True, timeout=60)
        conn.baremetal.set_node_provision_state(node, "provide", wait=True, timeout=60)
        conn.baremetal.patch_node(
            node,
            [{"op": "add", "path": "/instance_info/image_source", "value": "http://127.0.0.1/i"}],
        )
        conn.baremetal.set_node_provision_state(node, "active", wait=True, timeout=60)
    finally:
        process.stop()

    assert [p for p in absent_before if p.exists()] == []
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(process.conf_path)
    state = process.state_dir
    for section in conf.sections():
        for key, value in conf.items(section):
            if value.startswith("/"):
                assert Path(value).is_relative_to(state), f"[{section}] {key} = {value}"
            if value.startswith("sqlite:///"):
                assert Path(value.removeprefix("sqlite:///")).is_relative_to(state)
