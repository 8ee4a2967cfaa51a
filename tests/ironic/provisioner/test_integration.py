"""The Ironic provisioner against the real Ironic (and sushy-tools) of ``testenv/ironic/``.

The provisioner is driven the way the host state machine drives it: the same verb is called
again while it reports ``dirty``, honouring ``requeue_after`` (scaled down) until a deadline.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from bmo.api.bmc import Credentials
from bmo.api.constants import ProvisioningState
from bmo.api.hardware import HardwareDetails
from bmo.api.host import Image, RootDeviceHints
from bmo.api.profiles import get_profile
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.provisioner import IronicProvisioner, IronicProvisionerFactory, node_name
from bmo.ironic.views import NodeView
from bmo.provisioner import (
    AdoptData,
    HostData,
    InspectData,
    ManagementAccessData,
    NeedsRegistration,
    PrepareData,
    ProvisionData,
    ProvisionerBusy,
    ProvisionResult,
)
from testenv.fake_agent import build_inventory, post_inventory
from testenv.ironic import SushyEmulator
from tests.fixtures.ironic import IronicFixture, unique_name

pytestmark = pytest.mark.ironic

DEADLINE = 90.0
#: requeue_after is scaled by this and capped, so a 10 s wait polls every 0.5 s.
SCALE = 0.05
MAX_POLL = 0.5
PASSWORD = "pw-" + secrets.token_hex(8)
IMAGE = Image(
    url="http://127.0.0.1/images/host.qcow2",
    checksum="5d41402abc4b2a76b9719d911017c592",
    format="qcow2",
)

T = TypeVar("T")


def random_mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


class StaticHostConfig:
    def __init__(self, user: str | None, network: str | None, meta: str | None) -> None:
        self._user, self._network, self._meta = user, network, meta

    def user_data(self) -> str | None:
        return self._user

    def network_data(self) -> str | None:
        return self._network

    def meta_data(self) -> str | None:
        return self._meta


class Driver:
    """Plays the state machine's part: a fresh provisioner per call, the id kept in status."""

    def __init__(self, client: IronicClient, config: IronicConfig, host: HostData) -> None:
        self.client = client
        self.factory = IronicProvisionerFactory(
            client, config, allow_development=True, rng=lambda: 0.0
        )
        self.host = host
        self.events: list[tuple[str, str]] = []

    def prov(self) -> IronicProvisioner:
        return self.factory.new(self.host, lambda r, m: self.events.append((r, m)))

    def reasons(self) -> list[str]:
        return [reason for reason, _ in self.events]

    def node(self) -> NodeView:
        node = self.client.get_node(self.host.provisioner_id)
        assert node is not None, f"no node {self.host.provisioner_id}"
        return node

    def until(self, what: str, call: Callable[[IronicProvisioner], tuple[ProvisionResult, T]]) -> T:
        """Call until the result is clean; an error message fails the test."""
        end = time.monotonic() + DEADLINE
        last: ProvisionResult | None = None
        while time.monotonic() < end:
            try:
                result, value = call(self.prov())
            except ProvisionerBusy as exc:
                time.sleep(min(exc.retry_after * SCALE, MAX_POLL))
                continue
            assert not result.error_message, f"{what}: {result.error_message}"
            if not result.dirty:
                return value
            last = result
            time.sleep(min(result.requeue_after * SCALE, MAX_POLL) or 0.05)
        node = self.client.get_node(self.host.provisioner_id)
        pytest.fail(f"{what} did not finish in {DEADLINE}s; last {last}, node {node!r}")

    def until_error(self, what: str, call: Callable[[IronicProvisioner], ProvisionResult]) -> str:
        end = time.monotonic() + DEADLINE * 2
        while time.monotonic() < end:
            result = call(self.prov())
            if result.error_message:
                return result.error_message
            time.sleep(min(result.requeue_after * SCALE, MAX_POLL) or 0.05)
        pytest.fail(f"{what} never reported an error")

    def register(self, data: ManagementAccessData | None = None) -> str:
        data = data or ManagementAccessData(boot_mode="UEFI", automated_cleaning_mode="metadata")
        first = [True]

        def call(prov: IronicProvisioner) -> tuple[ProvisionResult, str]:
            result, provisioner_id = prov.register(data, first[0], False)
            first[0] = False
            if provisioner_id and provisioner_id != self.host.provisioner_id:
                self.host = dataclasses.replace(self.host, provisioner_id=provisioner_id)
            return result, provisioner_id

        return self.until("register", call)


def fake_host(mac: str, **changes: object) -> HostData:
    host = HostData(
        namespace="bmo-test",
        name=unique_name("prov"),
        uid=str(uuid.uuid4()),
        bmc_address="fake://127.0.0.1",
        bmc_credentials=Credentials("admin", PASSWORD),
        boot_mac_address=mac,
    )
    return dataclasses.replace(host, **changes)  # type: ignore[arg-type]


@pytest.fixture
def config(ironic: IronicFixture) -> IronicConfig:
    return IronicConfig.from_env(ironic.process.env())


@pytest.fixture
def client(config: IronicConfig) -> IronicClient:
    return IronicClient(config)


@pytest.fixture
def created(client: IronicClient) -> Iterator[list[str]]:
    """Node names to remove after the test, whatever state they ended in."""
    names: list[str] = []
    yield names
    for name in names:
        node = client.get_node(name)
        if node is None:
            continue
        if node.provision_state not in ("enroll", "manageable", "available"):
            client.set_maintenance(node.uuid, "test cleanup")
        client.delete_node(node.uuid)


def inspect_until_details(driver: Driver, mac: str, ironic_url: str) -> HardwareDetails:
    data = InspectData(boot_mode="UEFI")
    result, started, details = driver.prov().inspect_hardware(data, False, False, False)
    assert started is True and details is None, result
    assert driver.node().inspect_interface == "agent"
    end = time.monotonic() + DEADLINE
    while driver.node().provision_state != "inspect wait":
        assert time.monotonic() < end, driver.node()
        time.sleep(0.1)
    post_inventory(ironic_url, node_name(driver.host.namespace, driver.host.name), mac)

    def call(prov: IronicProvisioner) -> tuple[ProvisionResult, HardwareDetails | None]:
        result, _, found = prov.inspect_hardware(data, False, False, False)
        return result, found

    found = driver.until("inspect", call)
    assert found is not None
    return found


def provision(driver: Driver, data: ProvisionData) -> None:
    driver.until("provision", lambda prov: (prov.provision(data, False), None))


def test_fake_host_full_lifecycle(
    ironic: IronicFixture, client: IronicClient, config: IronicConfig, created: list[str]
) -> None:
    mac = random_mac()
    driver = Driver(client, config, fake_host(mac))
    name = node_name(driver.host.namespace, driver.host.name)
    created.append(name)

    # register: the node is created as ns~name with a PXE port, then managed.
    node_uuid = driver.register()
    node = driver.node()
    assert node.uuid == node_uuid and node.name == name
    assert node.driver == "fake-hardware"
    assert node.provision_state == "manageable"
    assert node.inspect_interface == "agent"
    assert node.automated_clean is True
    assert node.properties["capabilities"] == "boot_mode:uefi"
    ports = client.list_ports(node_uuid)
    assert [(p.address, p.pxe_enabled) for p in ports] == [(mac, True)]
    assert driver.reasons() == ["Registered"]
    # Registration runs every reconcile: an unchanged host sends no update.
    before = driver.node()
    result, same_id = driver.prov().register(ManagementAccessData(boot_mode="UEFI"), False, False)
    assert (result, same_id) == (ProvisionResult(), node_uuid)
    assert driver.node() == before

    # inspect with the fake agent's inventory.
    details = inspect_until_details(driver, mac, ironic.url)
    sent = build_inventory(mac, hostname=name)["inventory"]
    assert details.cpu.count == sent["cpu"]["count"] and details.cpu.arch == "x86_64"
    assert details.cpu.clock_megahertz == round(float(sent["cpu"]["frequency"]))
    assert details.ram_mebibytes == sent["memory"]["physical_mb"]
    assert [d.alternate_names[0] for d in details.storage] == [d["name"] for d in sent["disks"]]
    assert mac in {nic.mac for nic in details.nics}
    assert {"InspectionStarted", "InspectionComplete"} <= set(driver.reasons())

    # prepare: nothing to clean, the settings are "started" at once.
    result, started = driver.prov().prepare(
        PrepareData(root_device_hints=RootDeviceHints(device_name="/dev/sda")), True, False
    )
    assert (result, started) == (ProvisionResult(), True)

    # provision: manageable -> provide (automated clean) -> available -> active.
    host_config = StaticHostConfig("#cloud-config\n", "links: []\n", "role: worker\n")
    provision(
        driver,
        ProvisionData(
            image=IMAGE, hardware_profile=get_profile("unknown"), host_config=host_config
        ),
    )
    node = driver.node()
    assert node.provision_state == "active"
    assert node.instance_uuid == driver.host.uid
    assert node.instance_info["image_source"] == IMAGE.url
    assert node.instance_info["image_checksum"] == IMAGE.checksum
    assert node.instance_info["image_disk_format"] == "qcow2"
    assert node.instance_info["root_device"] == {"name": "s== /dev/sda"}
    assert f"Image provisioning started for {IMAGE.url}" in [m for _, m in driver.events]
    assert "ProvisioningComplete" in driver.reasons()

    # power: agent inspection left the machine off; fake power follows the requests.
    assert driver.prov().update_hardware_state().powered_on is False
    driver.until("power on", lambda prov: (prov.power_on(False), None))
    assert driver.prov().update_hardware_state().powered_on is True
    driver.until("soft power off", lambda prov: (prov.power_off("soft", False), None))
    assert driver.prov().update_hardware_state().powered_on is False
    driver.until("power on again", lambda prov: (prov.power_on(False), None))
    driver.until("hard power off", lambda prov: (prov.power_off("hard", False), None))
    assert driver.node().power_state == "power off"
    assert {"PowerOn", "PowerOff"} <= set(driver.reasons())

    # deprovision back to available, then delete.
    driver.until("deprovision", lambda prov: (prov.deprovision(False, "metadata"), None))
    assert driver.node().provision_state == "available"
    assert {"DeprovisioningStarted", "DeprovisioningComplete"} <= set(driver.reasons())
    driver.until("delete", lambda prov: (prov.delete(), None))
    assert client.get_node(node_uuid) is None
    assert all(PASSWORD not in message for _, message in driver.events)


def test_adopt_after_database_wipe(fresh_ironic: IronicFixture) -> None:
    config = IronicConfig.from_env(fresh_ironic.process.env())
    client = IronicClient(config)
    driver = Driver(client, config, fake_host(random_mac()))
    first_uuid = driver.register()
    provision(driver, ProvisionData(image=IMAGE, hardware_profile=get_profile("unknown")))
    assert driver.node().provision_state == "active"

    fresh_ironic.wipe_and_restart()
    assert client.get_node(first_uuid) is None
    provisioned = ManagementAccessData(
        boot_mode="UEFI",
        automated_cleaning_mode="metadata",
        state=ProvisioningState.PROVISIONED,
        current_image=IMAGE,
    )
    driver.events.clear()
    with pytest.raises(NeedsRegistration):
        driver.prov().adopt(AdoptData(state=ProvisioningState.PROVISIONED), False)
    second_uuid = driver.register(provisioned)
    assert second_uuid != first_uuid
    node = driver.node()
    assert node.name == node_name(driver.host.namespace, driver.host.name)
    assert node.instance_info["image_source"] == IMAGE.url
    driver.until(
        "adopt",
        lambda prov: (prov.adopt(AdoptData(state=ProvisioningState.PROVISIONED), False), None),
    )
    assert driver.node().provision_state == "active"
    assert "ProvisioningStarted" not in driver.reasons()
    driver.until("delete", lambda prov: (prov.delete(), None))


def test_missing_password_is_a_registration_error_without_a_node(
    client: IronicClient, config: IronicConfig
) -> None:
    driver = Driver(client, config, fake_host(random_mac(), bmc_credentials=Credentials("a", "")))
    result, provisioner_id = driver.prov().register(ManagementAccessData(), True, False)
    assert result.error_message == (
        "Validation error with BMC credentials: "
        "Missing BMC connection details 'password' in credentials"
    )
    assert provisioner_id == ""
    assert client.get_node(node_name(driver.host.namespace, driver.host.name)) is None


@pytest.mark.sushy
@pytest.mark.slow
def test_unknown_redfish_system_is_a_registration_error(
    sushy: SushyEmulator, client: IronicClient, config: IronicConfig, created: list[str]
) -> None:
    """A BMC that answers but has no such system: Ironic's verify fails, bmo reports it.

    (A BMC that does not answer at all fails the same way, only after sushy's connection
    retries: ~2.5 minutes against this Ironic, too slow for the suite.)
    """
    missing = str(uuid.uuid4())
    address = "redfish+" + sushy.url + sushy.system_path(missing)
    driver = Driver(client, config, fake_host(random_mac(), bmc_address=address))
    created.append(node_name(driver.host.namespace, driver.host.name))
    data = ManagementAccessData(boot_mode="UEFI")

    def call(prov: IronicProvisioner) -> ProvisionResult:
        result, provisioner_id = prov.register(data, False, False)
        if provisioner_id:
            driver.host = dataclasses.replace(driver.host, provisioner_id=provisioner_id)
        return result

    message = driver.until_error("register", call)
    assert missing in message, message
    assert PASSWORD not in message
    assert driver.node().provision_state == "enroll"


@pytest.mark.sushy
@pytest.mark.slow
def test_redfish_host_registers_and_powers(
    sushy: SushyEmulator, client: IronicClient, config: IronicConfig, created: list[str]
) -> None:
    system = sushy.systems[2]
    address = "redfish+" + sushy.url + sushy.system_path(system.uuid)
    driver = Driver(client, config, fake_host(system.mac, bmc_address=address))
    created.append(node_name(driver.host.namespace, driver.host.name))
    driver.register()
    node = driver.node()
    assert node.driver == "redfish"
    assert node.provision_state == "manageable"
    info = node.driver_info
    assert info["redfish_address"] == sushy.url
    assert info["redfish_system_id"] == sushy.system_path(system.uuid)
    assert info["redfish_password"] != PASSWORD  # Ironic masks it
    # The masked password is not mistaken for a change: registering again sends nothing.
    result, _ = driver.prov().register(ManagementAccessData(boot_mode="UEFI"), False, False)
    assert result == ProvisionResult() and driver.node() == node

    driver.until("power on", lambda prov: (prov.power_on(False), None))
    assert _await(lambda: sushy.power_state(system.uuid), "On") == "On"
    assert driver.prov().update_hardware_state().powered_on is True
    driver.until("power off", lambda prov: (prov.power_off("hard", False), None))
    assert _await(lambda: sushy.power_state(system.uuid), "Off") == "Off"
    driver.until("delete", lambda prov: (prov.delete(), None))


def _await(read: Callable[[], str], want: str) -> str:
    end = time.monotonic() + DEADLINE
    value = read()
    while value != want and time.monotonic() < end:
        time.sleep(0.5)
        value = read()
    return value
