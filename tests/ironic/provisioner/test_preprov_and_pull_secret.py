"""The PreprovisioningImage and private-image parts of the Ironic provisioner, against the
real Ironic of ``testenv/ironic/`` (fake-hardware): what registration writes into
``driver_info`` from a built image (upstream ``pkg/provisioner/ironic/ironic.go
setDeployImage``), the per-architecture default images carried through it, and the
``instance_info.image_pull_secret`` of an ``oci://`` deployment, each read back from Ironic.
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from bmo.api.constants import ProvisioningState
from bmo.api.deployimages import DeployImageSettings
from bmo.api.host import Image
from bmo.api.profiles import get_profile
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.provisioner import IronicProvisionerFactory, node_name
from bmo.provisioner import (
    ManagementAccessData,
    NeedsPreprovisioningImage,
    PreprovisioningImage,
    ProvisionData,
)
from testenv.ironic import SushyEmulator
from tests.fixtures.ironic import IronicFixture
from tests.ironic.provisioner.test_integration import Driver, fake_host, random_mac

pytestmark = pytest.mark.ironic

KERNEL = "http://127.0.0.1:8080/images/ppi.kernel"
RAMDISK = "http://127.0.0.1:8080/images/ppi.initramfs"
ISO = "http://127.0.0.1:8080/images/ppi.iso"


@pytest.fixture
def config(ironic: IronicFixture) -> IronicConfig:
    return IronicConfig.from_env(ironic.process.env(), preprov_image_builder=True)


@pytest.fixture
def client(config: IronicConfig) -> IronicClient:
    return IronicClient(config)


@pytest.fixture
def driver(client: IronicClient, config: IronicConfig) -> Iterator[Driver]:
    driver = Driver(client, config, fake_host(random_mac()))
    driver.factory = IronicProvisionerFactory(
        client, config, allow_development=True, rng=lambda: 0.0, preprov_image_builder=True
    )
    yield driver
    node = client.get_node(node_name(driver.host.namespace, driver.host.name))
    if node is not None:
        if node.provision_state not in ("enroll", "manageable", "available"):
            client.set_maintenance(node.uuid, "test cleanup")
        client.delete_node(node.uuid)


def inspecting(image: PreprovisioningImage | None, arch: str = "") -> ManagementAccessData:
    return ManagementAccessData(
        boot_mode="UEFI",
        automated_cleaning_mode="metadata",
        state=ProvisioningState.INSPECTING,
        preprovisioning_image=image,
        cpu_architecture=arch,
    )


def test_formats_follow_the_driver(driver: Driver) -> None:
    # fake-hardware boots no virtual media: initrd only.
    assert driver.prov().preprovisioning_image_formats() == ("initrd",)


def test_initrd_image_is_written_to_driver_info(driver: Driver) -> None:
    driver.register()
    with pytest.raises(NeedsPreprovisioningImage):
        driver.prov().register(inspecting(None), False, False)
    assert driver.node().driver_info.get("deploy_ramdisk") is None

    image = PreprovisioningImage(
        image_url=RAMDISK, format="initrd", kernel_url=KERNEL, extra_kernel_params="console=ttyS0"
    )
    driver.register(inspecting(image))
    info = driver.node().driver_info
    assert info["deploy_kernel"] == KERNEL
    assert info["deploy_ramdisk"] == RAMDISK
    assert info["kernel_append_params"] == "%default% console=ttyS0"
    assert "deploy_iso" not in info

    # A rebuilt image without extra parameters removes them again.
    plain = PreprovisioningImage(image_url=RAMDISK, format="initrd", kernel_url=KERNEL)
    driver.register(inspecting(plain))
    assert "kernel_append_params" not in driver.node().driver_info


def test_iso_image_is_not_acceptable_to_a_driver_without_virtual_media(driver: Driver) -> None:
    driver.register()
    image = PreprovisioningImage(image_url=ISO, format="iso")
    with pytest.raises(NeedsPreprovisioningImage):
        driver.prov().register(inspecting(image), False, False)
    assert "deploy_iso" not in driver.node().driver_info


def test_per_architecture_default_images_through_registration(driver: Driver) -> None:
    deploy = DeployImageSettings.from_environ(
        {
            "DEPLOY_KERNEL_URL": KERNEL,
            "DEPLOY_RAMDISK_URL": RAMDISK,
            "DEPLOY_KERNEL_URL_AARCH64": "http://127.0.0.1:8080/images/arm.kernel",
            "DEPLOY_RAMDISK_BY_ARCH": "aarch64:http://127.0.0.1:8080/images/arm.initramfs",
        }
    )
    built = deploy.build_image("initrd", "aarch64")
    image = PreprovisioningImage(
        image_url=built.image_url, format="initrd", kernel_url=built.kernel_url
    )
    driver.register()
    driver.register(inspecting(image, arch="aarch64"))
    node = driver.node()
    assert node.driver_info["deploy_kernel"] == "http://127.0.0.1:8080/images/arm.kernel"
    assert node.driver_info["deploy_ramdisk"] == "http://127.0.0.1:8080/images/arm.initramfs"
    assert node.properties["cpu_arch"] == "aarch64"


def stored_instance_info(ironic: IronicFixture, node_uuid: str) -> dict[str, Any]:
    """``instance_info`` as Ironic's database holds it: the API masks the pull secret."""
    with closing(sqlite3.connect(ironic.state_dir / "ironic.sqlite", timeout=10)) as db:
        row = db.execute("SELECT instance_info FROM nodes WHERE uuid = ?", (node_uuid,)).fetchone()
    assert row is not None
    info: dict[str, Any] = json.loads(row[0])
    return info


def test_oci_pull_secret_is_stored_in_instance_info(ironic: IronicFixture, driver: Driver) -> None:
    credential = base64.b64encode(f"robot:{secrets.token_hex(8)}".encode()).decode()
    image = Image(url="oci://registry.example.test/team/os:1.2")
    driver.register()
    data = ProvisionData(
        image=image, hardware_profile=get_profile("unknown"), image_pull_secret=credential
    )
    # fake-hardware deploys without fetching anything; what matters is what Ironic stores.
    driver.until("provision", lambda prov: (prov.provision(data, False), None))
    node = driver.node()
    assert node.instance_info["image_source"] == image.url
    # Ironic masks the credential in its API answers, and stores it as written.
    assert node.instance_info["image_pull_secret"] == "******"
    assert stored_instance_info(ironic, node.uuid)["image_pull_secret"] == credential
    assert all(credential not in message for _, message in driver.events)
    assert credential not in (node.last_error or "")


@pytest.mark.sushy
@pytest.mark.slow
def test_iso_image_becomes_deploy_iso_on_a_virtual_media_bmc(
    sushy: SushyEmulator, client: IronicClient, config: IronicConfig
) -> None:
    system = sushy.systems[2]
    address = "redfish-virtualmedia+" + sushy.url + sushy.system_path(system.uuid)
    driver = Driver(client, config, fake_host(system.mac, bmc_address=address))
    driver.factory = IronicProvisionerFactory(
        client, config, allow_development=True, rng=lambda: 0.0, preprov_image_builder=True
    )
    try:
        assert driver.prov().preprovisioning_image_formats() == ("iso", "initrd")
        driver.register()
        image = PreprovisioningImage(image_url=ISO, format="iso", extra_kernel_params="quiet")
        driver.register(inspecting(image))
        info = driver.node().driver_info
        assert info["deploy_iso"] == ISO
        # ISO images carry their own parameters; only initrd ones get kernel_append_params.
        assert "deploy_kernel" not in info
        assert "deploy_ramdisk" not in info
        assert "kernel_append_params" not in info
    finally:
        driver.until("delete", lambda prov: (prov.delete(), None))
