"""The Ironic node cache, and the BIOS settings cache keyed on what it lists, against a real
Ironic (fake-hardware), counted by the test proxy."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from bmo.api.bmc import Credentials
from bmo.api.constants import ProvisioningState
from bmo.api.host import Image
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.nodecache import NodeChange
from bmo.ironic.provisioner import IronicProvisionerFactory
from bmo.ironic.views import NodeView
from bmo.provisioner import FirmwareSettingsResult, HostData, ManagementAccessData, ProvisionResult
from bmo.provisioner.types import AdoptData
from testenv.ironic_proxy import IronicProxy, ProxiedRequest
from tests.fixtures.ironic import IronicFixture, unique_name

pytestmark = pytest.mark.ironic

DEADLINE = 60.0
BIOS_TEMPLATE = "/v1/nodes/*/bios"


@pytest.fixture
def proxy(fresh_ironic: IronicFixture) -> Iterator[IronicProxy]:
    with IronicProxy(fresh_ironic.url) as running:
        yield running


@pytest.fixture
def client(fresh_ironic: IronicFixture, proxy: IronicProxy) -> IronicClient:
    env = {**fresh_ironic.process.env(), "IRONIC_ENDPOINT": f"{proxy.url}/v1/"}
    return IronicClient(IronicConfig.from_env(env))


def test_a_provision_state_change_wakes_the_host(
    fresh_ironic: IronicFixture, client: IronicClient
) -> None:
    factory = IronicProvisionerFactory(client, client.config, node_cache=True)
    woken: list[tuple[str, str]] = []
    event = threading.Event()

    def wake(namespace: str, name: str) -> None:
        woken.append((namespace, name))
        event.set()

    factory.watch_hosts(wake)
    host = unique_name("host")
    node = client.create_node(name=f"ns~{host}", driver="fake-hardware")
    cache = client.attached_cache
    assert cache is not None
    cache.start()
    try:
        assert event.wait(DEADLINE), "the first sync announces the node"
        # Wait for a poll that has seen our node at rest, then change its state in Ironic.
        end = time.monotonic() + DEADLINE
        while cache.lookup(node.uuid) is None:
            assert time.monotonic() < end, "the cache never served the node"
            time.sleep(0.05)
        woken.clear()
        event.clear()
        fresh_ironic.connection().baremetal.set_node_provision_state(node.uuid, "manage")
        assert event.wait(DEADLINE), "no wake-up after the provision state changed"
        assert woken[0] == ("ns", host)
    finally:
        factory.close()


def test_hosts_at_rest_cost_one_list_per_interval_not_one_read_per_host(
    fresh_ironic: IronicFixture, client: IronicClient, proxy: IronicProxy
) -> None:
    count, interval, window = 10, 2.0, 6.0
    sdk = fresh_ironic.connection().baremetal
    uuids = [
        sdk.create_node(name=f"ns~{unique_name('rest')}", driver="fake-hardware").id
        for _ in range(count)
    ]
    cache = client.node_cache(fast_interval=0.2, slow_interval=interval).start()
    try:
        end = time.monotonic() + DEADLINE
        while cache.nodes() is None or cache.interval() != interval:
            assert time.monotonic() < end, "the cache never came to rest"
            time.sleep(0.05)
        since = proxy.now()
        stop = time.monotonic() + window
        reads = 0
        # Every host reconciles ten times a second: each reads its node.
        while time.monotonic() < stop:
            for uuid in uuids:
                node = client.get_node(uuid)
                assert node is not None and node.provision_state == "enroll"
                reads += 1
            time.sleep(0.1)
        seen = proxy.requests(since=since)
    finally:
        cache.stop()
    per_node = [r for r in seen if r.node is not None]
    lists = [
        r for r in seen if r.method == "GET" and r.path.split("?")[0].rstrip("/") == "/v1/nodes"
    ]
    port_lists = [r for r in seen if r.method == "GET" and r.template == "/v1/ports"]
    assert reads >= count * 10
    assert per_node == [], "no host read its node from Ironic"
    assert len(lists) <= window / interval + 1, [r.path for r in seen]
    # Each poll lists the ports once, after the nodes (one poll may straddle either edge).
    assert abs(len(port_lists) - len(lists)) <= 1, [r.path for r in seen]
    assert all("node_uuid=" not in r.query for r in port_lists)
    assert len(seen) == len(lists) + len(port_lists)


def test_between_full_lists_polls_list_only_the_nodes_ironic_changed(
    fresh_ironic: IronicFixture, client: IronicClient, proxy: IronicProxy
) -> None:
    """Ironic sorts nodes by ``updated_at`` and stamps it on a provision-state change, a
    power change and a PATCH alike, so a change list sees each of them; a node at rest is
    not in it."""
    sdk = fresh_ironic.connection().baremetal
    moving, resting = (
        sdk.create_node(name=f"ns~{unique_name('chg')}", driver="fake-hardware").id
        for _ in range(2)
    )
    cache = client.node_cache(fast_interval=0.2, slow_interval=DEADLINE * 10)
    cache.poll()
    since = proxy.now()

    def served(check: str, predicate: Callable[[NodeView], bool]) -> None:
        end = time.monotonic() + DEADLINE
        while True:
            cache.poll()
            node = cache.lookup(moving)
            if node is not None and predicate(node):
                return
            assert time.monotonic() < end, f"the cache never served the node {check}"
            time.sleep(0.2)

    sdk.set_node_provision_state(moving, "manage")
    served("manageable", lambda n: n.provision_state == "manageable")
    sdk.set_node_power_state(moving, "power on")
    served("powered on", lambda n: n.power_state == "power on")
    sdk.patch_node(moving, [{"op": "add", "path": "/extra/x", "value": "1"}])
    sdk.set_node_maintenance(moving, reason="by hand")
    served("in maintenance", lambda n: n.maintenance)

    seen = proxy.requests(since=since)
    full = [r for r in seen if r.method == "GET" and r.path.rstrip("/") == "/v1/nodes"]
    changes = [r for r in seen if r.method == "GET" and r.path == "/v1/nodes/detail"]
    assert full == [], "no full list within the slow interval"
    assert changes and all("sort_key=updated_at" in r.query for r in changes)
    resting_node = cache.lookup(resting)
    assert resting_node is not None and resting_node.provision_state == "enroll"


def test_registration_at_rest_lists_no_ports_and_recreates_one_deleted_out_of_band(
    fresh_ironic: IronicFixture, client: IronicClient, proxy: IronicProxy
) -> None:
    """Registration runs every reconcile and checks the host's ports (``register.go
    ensurePort``); with the cache that check costs no request, and a port removed behind
    bmo's back is put back once a poll has seen it gone."""
    cache = client.node_cache(fast_interval=0.2, slow_interval=2.0)
    factory = IronicProvisionerFactory(
        client, client.config, allow_development=True, node_cache=True
    )
    mac = "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
    host = HostData(
        namespace="ns",
        name=unique_name("ports"),
        uid=str(uuid.uuid4()),
        bmc_address="fake://127.0.0.1",
        bmc_credentials=Credentials("admin", "pw-" + secrets.token_hex(4)),
        boot_mac_address=mac,
    )
    data = ManagementAccessData(boot_mode="UEFI")

    def reconcile() -> ProvisionResult:
        nonlocal host
        result, node_uuid = factory.new(host, lambda reason, message: None).register(
            data, False, False
        )
        assert not result.error_message, result.error_message
        host = dataclasses.replace(host, provisioner_id=node_uuid)
        return result

    def ironic_macs(node_uuid: str) -> list[str]:
        return [p.address for p in fresh_ironic.connection().baremetal.ports(node_id=node_uuid)]

    try:
        end = time.monotonic() + DEADLINE
        while reconcile().dirty:  # enroll, port, manage, until manageable
            assert time.monotonic() < end, "registration never finished"
            time.sleep(0.1)
        node_uuid = host.provisioner_id
        assert ironic_macs(node_uuid) == [mac]
        # At rest once a poll that started after bmo's last write has seen node and port.
        while cache.lookup(node_uuid) is None or [
            p.address for p in cache.ports(node_uuid) or ()
        ] != [mac]:
            assert time.monotonic() < end, "the cache never served the node and its ports"
            time.sleep(0.05)

        since = proxy.now()
        for _ in range(20):  # twenty reconciles at rest
            assert reconcile() == ProvisionResult()
            assert [p.address for p in client.list_ports(node_uuid)] == [mac]
        seen = proxy.requests(since=since)
        per_node_ports = [r for r in seen if r.template == "/v1/ports" and "node_uuid=" in r.query]
        assert per_node_ports == [], "the ports of a cached node come from the poll"
        assert [r for r in seen if r.node is not None] == [], "nor is the node read"

        # Someone deletes the port in Ironic: the next poll shows the node without it and
        # the next registration puts it back.
        sdk = fresh_ironic.connection().baremetal
        for port in sdk.ports(node_id=node_uuid):
            sdk.delete_port(port.id)
        polls = cache.polls
        while ironic_macs(node_uuid) != [mac]:
            assert time.monotonic() < end, "the deleted port was never re-created"
            reconcile()
            time.sleep(0.1)
        assert cache.polls > polls, "re-created from a poll that saw it gone"
        (recreated,) = sdk.ports(node_id=node_uuid, details=True)
        assert recreated.is_pxe_enabled is True
    finally:
        factory.close()


def _host_of(node_uuid: str) -> HostData:
    return HostData(
        namespace="ns",
        name=unique_name("bios"),
        uid=str(uuid.uuid4()),
        bmc_address="fake://127.0.0.1",
        bmc_credentials=Credentials("admin", "pw-" + secrets.token_hex(4)),
        provisioner_id=node_uuid,
    )


def test_bios_settings_of_a_node_at_rest_are_read_once(
    fresh_ironic: IronicFixture, client: IronicClient, proxy: IronicProxy
) -> None:
    """What the HostFirmwareSettings controller costs per host at rest: its node comes from
    the node cache's list (``provision_updated_at`` is in its ``fields=``), its BIOS settings
    from the first read, until Ironic moves the node through a task (here cleaning, which
    re-caches them: ``conductor/cleaning.py do_node_clean``)."""
    sdk = fresh_ironic.connection().baremetal
    node_uuid = sdk.create_node(name=f"ns~{unique_name('bios')}", driver="fake-hardware").id
    sdk.set_node_provision_state(node_uuid, "manage", wait=True, timeout=DEADLINE)
    cache = client.node_cache(fast_interval=0.2, slow_interval=2.0)
    factory = IronicProvisionerFactory(client, client.config, node_cache=True)
    seen: dict[str, threading.Event] = {
        "manageable": threading.Event(),
        "available": threading.Event(),
    }

    def on_change(change: NodeChange) -> None:
        after = change.after
        if after is not None and after.uuid == node_uuid and after.provision_state in seen:
            seen[after.provision_state].set()

    cache.add_listener(on_change)
    host = _host_of(node_uuid)

    def settings() -> FirmwareSettingsResult:
        return factory.new(host, lambda reason, message: None).get_firmware_settings(True)

    try:
        settings()  # starts the node cache
        assert seen["manageable"].wait(DEADLINE), "the cache never listed the node"
        first = settings()
        since = proxy.now()
        for _ in range(10):  # ten reconciles at rest
            assert settings() == first
        at_rest = proxy.requests(since=since)
        assert [r.path for r in at_rest if r.template == BIOS_TEMPLATE] == []
        assert [r.path for r in at_rest if r.node is not None] == [], "nor is the node read"

        sdk.set_node_provision_state(node_uuid, "provide", wait=True, timeout=DEADLINE)
        assert seen["available"].wait(DEADLINE), "the cache never saw the node cleaned"
        since = proxy.now()
        for _ in range(3):
            settings()
        after_task = proxy.requests(since=since)
        assert len([r for r in after_task if r.template == BIOS_TEMPLATE]) == 1, [
            r.path for r in after_task
        ]
    finally:
        factory.close()


def test_bios_settings_of_a_node_read_by_uuid_are_read_once(
    fresh_ironic: IronicFixture, client: IronicClient, proxy: IronicProxy
) -> None:
    """Without the node cache every reconcile GETs the node (which carries ``updated_at``
    too); the BIOS settings are still read once."""
    sdk = fresh_ironic.connection().baremetal
    node_uuid = sdk.create_node(name=f"ns~{unique_name('bios')}", driver="fake-hardware").id
    sdk.set_node_provision_state(node_uuid, "manage", wait=True, timeout=DEADLINE)
    factory = IronicProvisionerFactory(client, client.config)
    host = _host_of(node_uuid)
    since = proxy.now()
    results = [
        factory.new(host, lambda reason, message: None).get_firmware_settings(True)
        for _ in range(3)
    ]
    seen = proxy.requests(since=since)
    assert results[1:] == results[:1] * 2
    assert len([r for r in seen if r.template == BIOS_TEMPLATE]) == 1, [r.path for r in seen]
    assert len([r for r in seen if r.method == "GET" and r.template == "/v1/nodes/*"]) == 3


def test_a_host_re_enrolled_after_a_wipe_reads_what_its_writes_answered(
    fresh_ironic: IronicFixture, client: IronicClient, proxy: IronicProxy
) -> None:
    """A provisioned host whose node Ironic lost (its UUID unknown to this fresh Ironic) is
    re-enrolled and adopted. Its node and ports come from the answers of bmo's own writes
    (the node cache's overlay): the port list is never read per node, and the node is read
    only after a provision-state request (202, no body), at most once per pass."""
    cache = client.node_cache(fast_interval=0.2, slow_interval=2.0)
    factory = IronicProvisionerFactory(
        client, client.config, allow_development=True, node_cache=True
    )
    mac = "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
    image = Image(url="http://127.0.0.1:9/images/host.qcow2", checksum="0123456789abcdef")
    host = HostData(
        namespace="ns",
        name=unique_name("wiped"),
        uid=str(uuid.uuid4()),
        bmc_address="fake://127.0.0.1",
        bmc_credentials=Credentials("admin", "pw-" + secrets.token_hex(4)),
        boot_mac_address=mac,
        provisioner_id=str(uuid.uuid4()),  # the node Ironic lost
    )
    state = ProvisioningState.PROVISIONED
    data = ManagementAccessData(boot_mode="UEFI", state=state, current_image=image)

    def reconcile() -> bool:
        """One pass as the host state machine makes it: register, then adopt; True once
        nothing is left to do."""
        nonlocal host
        provisioner = factory.new(host, lambda reason, message: None)
        result, node_uuid = provisioner.register(data, False, False)
        assert not result.error_message, result.error_message
        host = dataclasses.replace(host, provisioner_id=node_uuid)
        if result.dirty:
            return False
        adopted = provisioner.adopt(AdoptData(state=state), False)
        assert not adopted.error_message, adopted.error_message
        return not adopted.dirty

    try:
        factory.new(host, lambda reason, message: None)  # starts the node cache
        end = time.monotonic() + DEADLINE
        while not cache.knows_absent(host.provisioner_id):
            assert time.monotonic() < end, "the cache never listed the empty Ironic"
            time.sleep(0.05)
        since = proxy.now()
        passes: list[list[ProxiedRequest]] = []
        while True:
            before = proxy.now()
            done = reconcile()
            passes.append([r for r in proxy.requests(since=before) if not _polled(r)])
            if done:
                break
            assert time.monotonic() < end, "the host was never adopted"
            time.sleep(0.1)
        seen = [r for r in proxy.requests(since=since) if not _polled(r)]
    finally:
        factory.close()

    node = fresh_ironic.connection().baremetal.get_node(host.provisioner_id)
    assert node.provision_state == "active" and node.name == f"ns~{host.name}"
    assert node.instance_info["image_source"] == image.url
    first = [(r.method, r.template, r.target) for r in passes[0]]
    assert first == [
        ("GET", "/v1/ports", None),  # find_node by boot MAC (no node by UUID or name)
        ("POST", "/v1/nodes", None),
        ("POST", "/v1/ports", None),
        ("PUT", "/v1/nodes/*/states/provision", "manage"),
    ], [r.path for r in passes[0]]
    by_node = [r.query for r in seen if r.template == "/v1/ports" and "node_uuid=" in r.query]
    assert by_node == [], "the node's ports were known from bmo's own writes"
    writes = {("PATCH", "/v1/nodes/*"), ("PUT", "/v1/nodes/*/states/provision")}
    for requests in passes:
        reads = [r for r in requests if r.method == "GET" and r.template == "/v1/nodes/*"]
        assert len(reads) <= 1, [r.path for r in requests]
    assert sum(1 for r in seen if (r.method, r.template) in writes) == 3, [
        (r.method, r.path, r.target) for r in seen
    ]


def _polled(request: ProxiedRequest) -> bool:
    """One of the node cache's paged lists (every other list names a node or a MAC)."""
    paged = "limit=" in request.query
    return request.method == "GET" and request.template in ("/v1/nodes", "/v1/ports") and paged


def test_a_probe_at_rest_sees_a_change_and_a_wiped_database(
    fresh_ironic: IronicFixture, client: IronicClient, proxy: IronicProxy
) -> None:
    """Ironic's answer to the probe (its most recently changed node): nothing new at rest,
    a provision-state change, then no node at all after a wipe and restart; the poll that
    follows lists everything and sees every node gone."""
    sdk = fresh_ironic.connection().baremetal
    uuids = [
        sdk.create_node(name=f"ns~{unique_name('probe')}", driver="fake-hardware").id
        for _ in range(3)
    ]
    cache = client.node_cache(fast_interval=0.2, slow_interval=DEADLINE * 10)
    sdk.set_node_provision_state(uuids[0], "manage", wait=True, timeout=DEADLINE)
    cache.poll()
    since = proxy.now()
    assert cache.probe() is False, "nothing changed since the poll"
    (probe,) = proxy.requests(since=since)
    assert (probe.method, probe.path) == ("GET", "/v1/nodes/detail")
    assert "limit=1" in probe.query and "sort_key=updated_at" in probe.query

    sdk.set_node_provision_state(uuids[1], "manage", wait=True, timeout=DEADLINE)
    assert cache.probe() is True, "a provision-state change is newer than the mark"
    cache.poll()
    assert cache.probe() is False

    gone: list[NodeChange] = []
    cache.add_listener(lambda change: gone.append(change) if change.after is None else None)
    fresh_ironic.wipe_and_restart()
    assert cache.probe() is True, "an emptied Ironic has no newest node"
    cache.poll()
    assert cache.nodes() == []
    assert sorted(c.before.uuid for c in gone if c.before is not None) == sorted(uuids)
