"""The polling fake agent (testenv/fake_agent) against the real Ironic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from testenv.fake_agent import FakeAgent, FakeAgentError, build_inventory, hardware_for
from tests.fixtures.ironic import IronicFixture, unique_name

REPO = Path(__file__).resolve().parents[2]
HEADERS = {"X-OpenStack-Ironic-API-Version": "1.110"}
DEADLINE = 60.0


def _mac(seed: str) -> str:
    import hashlib

    digest = hashlib.sha256(seed.encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


@pytest.fixture
def agent_node(ironic: IronicFixture) -> Iterator[dict[str, Any]]:
    """A fake-hardware node with agent inspection, a port, in ``manageable``."""
    conn = ironic.connection()
    name = unique_name("fake-agent")
    mac = _mac(name)
    node = conn.baremetal.create_node(name=name, driver="fake-hardware", inspect_interface="agent")
    try:
        conn.baremetal.create_port(node_id=node.id, address=mac)
        conn.baremetal.set_node_provision_state(node, "manage", wait=True, timeout=DEADLINE)
        yield {"uuid": node.id, "name": name, "mac": mac, "conn": conn}
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)


def _inspect_until(node: dict[str, Any], state: str) -> Any:
    conn = node["conn"]
    conn.baremetal.set_node_provision_state(node["uuid"], "inspect")
    return conn.baremetal.wait_for_nodes_provision_state([node["uuid"]], state, timeout=DEADLINE)[0]


def _inventory(ironic: IronicFixture, uuid: str) -> dict[str, Any]:
    response = requests.get(
        f"{ironic.url}/v1/nodes/{uuid}/inventory",
        headers=HEADERS,
        auth=ironic.credentials,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    inventory: dict[str, Any] = response.json()["inventory"]
    return inventory


def _wait_for(predicate: Any, what: str, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -------------------------------------------------------------------------- without Ironic


def test_hardware_is_deterministic_per_name_and_varies_across_names() -> None:
    assert hardware_for("default~host-0") == hardware_for("default~host-0")
    fleet = {hardware_for(f"default~host-{i}") for i in range(20)}
    assert len({(h.cpu_count, h.memory_mb, len(h.extra_disks)) for h in fleet}) > 3


def test_inventory_boots_from_the_port_mac_and_lists_every_disk_and_nic() -> None:
    hardware = hardware_for("metal3~worker-7")
    body = build_inventory("52:54:00:AA:BB:CC", "worker-7", hardware)
    inventory = body["inventory"]
    assert inventory["boot"]["pxe_interface"] == "52:54:00:aa:bb:cc"
    assert inventory["interfaces"][0]["mac_address"] == "52:54:00:aa:bb:cc"
    assert len(inventory["interfaces"]) == 1 + len(hardware.extra_nics)
    assert len(inventory["disks"]) == 1 + len(hardware.extra_disks)
    assert all(not i["mac_address"].startswith("52:54:00") for i in inventory["interfaces"][1:])
    assert inventory["memory"]["physical_mb"] == hardware.memory_mb


def test_repr_never_shows_the_password() -> None:
    agent = FakeAgent("http://127.0.0.1:9", ("admin", "s3cret-pw"))
    assert "s3cret-pw" not in repr(agent)


def test_unreachable_ironic_is_kept_as_last_error_and_the_loop_survives() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        agent = FakeAgent(f"http://127.0.0.1:{port}", None, interval=0.05, timeout=2).start()
        try:
            _wait_for(lambda: agent.last_error is not None, "the agent's first error", 10)
            assert agent.running
        finally:
            agent.stop()
    assert "could not reach Ironic" in (agent.last_error or "")


# ----------------------------------------------------------------------------- with Ironic


@pytest.mark.ironic
def test_running_agent_inspects_a_waiting_node(
    ironic: IronicFixture, agent_node: dict[str, Any]
) -> None:
    agent = FakeAgent(ironic.url, ironic.credentials, interval=0.2).start()
    try:
        node = _inspect_until(agent_node, "manageable")
    finally:
        agent.stop()
    assert node.provision_state == "manageable", node.last_error
    expected = hardware_for(agent_node["name"])
    inventory = _inventory(ironic, agent_node["uuid"])
    assert inventory["cpu"]["count"] == expected.cpu_count
    assert inventory["memory"]["physical_mb"] == expected.memory_mb
    assert inventory["interfaces"][0]["mac_address"] == agent_node["mac"]
    assert inventory["boot"]["pxe_interface"] == agent_node["mac"]
    assert len(inventory["disks"]) == 1 + len(expected.extra_disks)
    assert agent_node["conn"].baremetal.get_node(agent_node["uuid"]).properties["cpu_arch"]
    assert [i.uuid for i in agent.inspections].count(agent_node["uuid"]) == 1
    assert agent.api_version == "1.110"


@pytest.mark.ironic
def test_each_inspection_is_answered_exactly_once(
    ironic: IronicFixture, agent_node: dict[str, Any]
) -> None:
    agent = FakeAgent(ironic.url, ironic.credentials)
    _inspect_until(agent_node, "inspect wait")
    first = [i for i in agent.poll_once() if i.uuid == agent_node["uuid"]]
    # Ironic processes the post asynchronously: the node is usually still waiting here.
    second = [i for i in agent.poll_once() if i.uuid == agent_node["uuid"]]
    assert len(first) == 1
    assert second == []
    conn = agent_node["conn"]
    conn.baremetal.wait_for_nodes_provision_state([agent_node["uuid"]], "manageable", timeout=60)
    assert [i for i in agent.poll_once() if i.uuid == agent_node["uuid"]] == []

    # A new inspection of the same node is a new conversation and is answered again.
    _inspect_until(agent_node, "inspect wait")
    third = [i for i in agent.poll_once() if i.uuid == agent_node["uuid"]]
    assert len(third) == 1
    conn.baremetal.wait_for_nodes_provision_state([agent_node["uuid"]], "manageable", timeout=60)


@pytest.mark.ironic
def test_nodes_with_fake_inspection_are_left_alone(ironic: IronicFixture) -> None:
    conn = ironic.connection()
    name = unique_name("fake-inspect")
    node = conn.baremetal.create_node(name=name, driver="fake-hardware")
    try:
        conn.baremetal.create_port(node_id=node.id, address=_mac(name))
        agent = FakeAgent(ironic.url, ironic.credentials)
        assert all(i.uuid != node.id for i in agent.poll_once())
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)


@pytest.mark.ironic
def test_wrong_credentials_are_reported_without_the_password(ironic: IronicFixture) -> None:
    agent = FakeAgent(ironic.url, ("admin", "not-the-password"))
    with pytest.raises(FakeAgentError) as info:
        agent.poll_once()
    assert info.value.status == 401
    assert "not-the-password" not in str(info.value)


@pytest.mark.ironic
def test_start_and_stop_leave_no_thread(ironic: IronicFixture) -> None:
    before = {t.ident for t in threading.enumerate()}
    agent = FakeAgent(ironic.url, ironic.credentials, interval=0.1).start()
    _wait_for(lambda: agent.api_version is not None, "version negotiation", 10)
    started = time.monotonic()
    agent.stop()
    assert time.monotonic() - started < 5
    assert not agent.running
    assert {t.ident for t in threading.enumerate() if t.name == "fake-agent"} <= before


@pytest.mark.ironic
def test_cli_inspects_and_exits_cleanly_on_sigterm(
    ironic: IronicFixture, agent_node: dict[str, Any]
) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "testenv.fake_agent",
            "--ironic-url",
            ironic.url,
            "--auth-dir",
            str(ironic.process.auth_dir),
            "--interval",
            "0.2",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        node = _inspect_until(agent_node, "manageable")
        assert node.provision_state == "manageable", node.last_error
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert f"posted the inventory of {agent_node['name']}" in output
    assert ironic.credentials is not None
    assert ironic.credentials[1] not in output
