"""BIOS settings, firmware components and servicing through the real Ironic's ``redfish``
driver against the project's extended sushy-tools emulator (``testenv/ironic/
sushy_launcher.py`` gives the fake systems a BIOS, its registry and a BiosVersion).

Driven through bmo's :class:`IronicProvisioner` verbs the way the state machine drives them
(``ironic.go GetFirmwareSettings``/``GetFirmwareComponents``/``Prepare``,
``servicing.go Service``). The failure paths Ironic will not produce on demand are in
``tests/ironic/provisioner/test_firmware.py`` (requests-mock).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from bmo.api.bmc import Credentials
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.provisioner import IronicProvisioner, IronicProvisionerFactory
from bmo.provisioner import (
    FirmwareComponentUpdate,
    FirmwareSettingsResult,
    HostData,
    ManagementAccessData,
    PrepareData,
    ProvisionerBusy,
    ProvisionResult,
    ServicingData,
)
from testenv.ironic import FakeSystem, SushyEmulator
from tests.fixtures.ironic import IronicFixture, require_ironic_venv, unique_name

pytestmark = [pytest.mark.ironic, pytest.mark.sushy, pytest.mark.slow]

#: A BIOS step reboots the emulated system, whose power changes land 1-11 s late by design.
DEADLINE = 180.0
POLL = 0.5
T = TypeVar("T")


@pytest.fixture(scope="module")
def bios_sushy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SushyEmulator]:
    """An emulator of this module's own, so BIOS changes never leak into other tests."""
    require_ironic_venv()
    system = FakeSystem(
        uuid=str(uuid.uuid4()),
        name="bios-0",
        mac="52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3)),
    )
    emulator = SushyEmulator(Path(tmp_path_factory.mktemp("sushy-bios")), port=0, systems=[system])
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def client(ironic: IronicFixture) -> IronicClient:
    return IronicClient(IronicConfig.from_env(ironic.process.env()))


class Host:
    """Plays the state machine's part: a fresh provisioner per call, the node id kept."""

    def __init__(self, client: IronicClient, data: HostData) -> None:
        self.client = client
        self.factory = IronicProvisionerFactory(
            client, client.config, allow_development=True, rng=lambda: 0.0
        )
        self.data = data

    def prov(self) -> IronicProvisioner:
        return self.factory.new(self.data, lambda reason, message: None)

    def until(self, what: str, call: Callable[[IronicProvisioner], tuple[ProvisionResult, T]]) -> T:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            try:
                result, value = call(self.prov())
            except ProvisionerBusy:
                time.sleep(POLL)
                continue
            assert not result.error_message, f"{what}: {result.error_message}"
            if not result.dirty:
                return value
            time.sleep(POLL)
        node = self.client.get_node(self.data.provisioner_id)
        pytest.fail(f"{what} did not finish in {DEADLINE}s; node {node!r}")

    def register(self) -> None:
        data = ManagementAccessData(boot_mode="UEFI", automated_cleaning_mode="disabled")

        def call(prov: IronicProvisioner) -> tuple[ProvisionResult, str]:
            result, node_id = prov.register(data, False, False)
            if node_id and node_id != self.data.provisioner_id:
                self.data = dataclasses.replace(self.data, provisioner_id=node_id)
            return result, node_id

        self.until("register", call)

    def settings(self) -> FirmwareSettingsResult:
        """Ironic caches the BIOS after verify/cleaning: wait until it has some."""
        end = time.monotonic() + DEADLINE
        while True:
            result = self.prov().get_firmware_settings(include_schema=True)
            if result.settings or time.monotonic() > end:
                return result
            time.sleep(POLL)


@pytest.fixture
def host(ironic: IronicFixture, bios_sushy: SushyEmulator, client: IronicClient) -> Iterator[Host]:
    system = bios_sushy.systems[0]
    data = HostData(
        namespace="bmo-test",
        name=unique_name("bios"),
        uid=str(uuid.uuid4()),
        bmc_address="redfish+" + bios_sushy.url + bios_sushy.system_path(system.uuid),
        bmc_credentials=Credentials("admin", "pw-" + secrets.token_hex(6)),
        boot_mac_address=system.mac,
    )
    host = Host(client, data)
    host.register()
    try:
        yield host
    finally:
        node = client.get_node(host.data.provisioner_id)
        if node is not None:
            if node.provision_state not in ("enroll", "manageable", "available"):
                client.set_maintenance(node.uuid, "test cleanup")
            client.delete_node(node.uuid)


def test_bios_settings_and_registry_are_read(host: Host) -> None:
    assert host.prov()._get_node().provision_state == "manageable"
    result = host.settings()
    assert result.settings["ProcTurboMode"] == "Enabled"
    assert result.settings["NumCores"] == "10"
    assert result.schema is not None
    turbo = result.schema["ProcTurboMode"]
    assert turbo.attribute_type == "Enumeration"
    assert set(turbo.allowable_values) == {"Enabled", "Disabled"}
    assert turbo.read_only is False
    cores = result.schema["NumCores"]
    assert (cores.attribute_type, cores.lower_bound, cores.upper_bound) == ("Integer", 10, 20)
    assert cores.read_only is True
    assert result.schema["SerialNumber"].unique is True
    assert result.schema["SerialNumber"].max_length == 16
    assert result.schema["SysPassword"].attribute_type == "Password"


def test_firmware_components_are_listed(host: Host) -> None:
    components = {c.component: c for c in host.prov().get_firmware_components()}
    assert set(components) == {"bios", "bmc"}
    assert components["bios"].current_version == "1.0.0"
    assert components["bmc"].current_version


def test_prepare_applies_a_bios_setting(host: Host) -> None:
    """Manual cleaning with ``bios.apply_configuration`` only: Ironic runs it out of band
    (every step has ``requires_ramdisk=False``), so no agent is needed."""
    before = host.settings()
    assert before.settings["ProcTurboMode"] == "Enabled"
    data = PrepareData(
        target_firmware_settings={"ProcTurboMode": "Disabled", "NumCores": 10},
        actual_firmware_settings=before.settings,
    )
    result, started = host.prov().prepare(data, True, False)
    assert started and result.dirty and not result.error_message
    # The state machine calls again without "unprepared" once cleaning started.
    host.until("prepare", lambda prov: prov.prepare(data, False, False))
    assert host.prov()._get_node().provision_state == "manageable"
    after = host.prov().get_firmware_settings(include_schema=False)
    assert after.settings["ProcTurboMode"] == "Disabled"
    assert after.settings["NumCores"] == "10"


def test_service_of_an_active_node_applies_a_bios_setting(
    host: Host, ironic: IronicFixture
) -> None:
    """An adopted (``active``) node is serviced with the BIOS step; it stays ``active``."""
    conn = ironic.connection()
    node_id = host.data.provisioner_id
    conn.baremetal.update_node(
        node_id,
        deploy_interface="ramdisk",
        boot_interface="redfish-virtual-media",
        instance_info={"boot_iso": "http://127.0.0.1/unused.iso"},
    )
    conn.baremetal.set_node_provision_state(node_id, "adopt", wait=True, timeout=90)
    assert host.prov()._get_node().provision_state == "active"
    current = host.settings().settings
    want = "Enabled" if current["ProcTurboMode"] == "Disabled" else "Disabled"
    data = ServicingData(
        target_firmware_settings={"ProcTurboMode": want},
        actual_firmware_settings=current,
        has_firmware_settings_spec=True,
        triggered_by_settings=True,
    )
    result, started = host.prov().service(data, True, False)
    assert started and result.dirty and not result.error_message
    host.until("service", lambda prov: prov.service(data, False, False))
    assert host.prov()._get_node().provision_state == "active"
    assert host.prov().get_firmware_settings(include_schema=False).settings["ProcTurboMode"] == want


def test_service_firmware_update_bumps_the_bios_version(host: Host, ironic: IronicFixture) -> None:
    """``firmware.update`` as a service step (out of band). The emulator's SimpleUpdate never
    downloads the URL; it bumps ``BiosVersion`` (1.0.0 → 1.1.0)."""
    conn = ironic.connection()
    node_id = host.data.provisioner_id
    conn.baremetal.update_node(
        node_id,
        deploy_interface="ramdisk",
        boot_interface="redfish-virtual-media",
        instance_info={"boot_iso": "http://127.0.0.1/unused.iso"},
    )
    conn.baremetal.set_node_provision_state(node_id, "adopt", wait=True, timeout=90)
    before = {c.component: c for c in host.prov().get_firmware_components()}
    data = ServicingData(
        target_firmware_components=(
            FirmwareComponentUpdate("bios", "http://127.0.0.1:9/bios-1.1.0.bin"),
        ),
        has_firmware_components_spec=True,
        triggered_by_components=True,
    )
    result, started = host.prov().service(data, True, False)
    assert started and result.dirty and not result.error_message
    host.until("service", lambda prov: prov.service(data, False, False))
    assert host.prov()._get_node().provision_state == "active"
    after = {c.component: c for c in host.prov().get_firmware_components()}
    assert after["bios"].current_version != before["bios"].current_version
    assert after["bios"].current_version == "1.1.0"
