"""The operator end to end: the Kubernetes API emulator, the BareMetalHost controller and
the real Ironic (``fake-hardware`` nodes through bmo's development ``fake://`` BMC scheme),
with the polling fake agent answering inspection as an IPA ramdisk would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.api.constants import BMH_FINALIZER
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.provisioner import IronicProvisionerFactory
from testenv.fake_agent import FakeAgent
from testenv.ironic import FakeSystem, SushyEmulator
from tests.fixtures.ironic import IronicFixture, require_ironic_venv
from tests.integration.operator import (
    Hosts,
    RunningOperator,
    create_secret,
    events_for,
    host_body,
    running_operator,
    wait_for,
)

pytestmark = [pytest.mark.ironic, pytest.mark.slow]

DEADLINE = 90.0
#: Ironic's waits (10 s and more) are capped so a host moves as soon as Ironic has.
REQUEUE_CAP = 0.5
#: The sushy fake driver applies a power change 1-11 s late, on purpose.
REDFISH_DEADLINE = 120.0
BMC_CREDENTIALS = ("bmc-admin", "right-horse-battery")
IMAGE = {"url": "http://127.0.0.1:9/images/host.qcow2", "checksum": "0123456789abcdef"}


@pytest.fixture
def ironic_config(ironic: IronicFixture, tmp_path: Path) -> IronicConfig:
    """What ``bmo run`` builds from IRONIC_ENDPOINT and METAL3_AUTH_ROOT_DIR."""
    environ = {"IRONIC_ENDPOINT": ironic.url, "METAL3_AUTH_ROOT_DIR": str(tmp_path / "auth")}
    if ironic.credentials is not None:
        auth = tmp_path / "auth" / "ironic"
        auth.mkdir(parents=True)
        username, password = ironic.credentials
        (auth / "username").write_text(username)
        (auth / "password").write_text(password)
    return IronicConfig.from_env(environ)


@pytest.fixture
def agent(ironic: IronicFixture) -> Iterator[FakeAgent]:
    agent = FakeAgent(ironic.url, ironic.credentials, interval=0.3).start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def hosts(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Hosts:
    return Hosts(kube_api_client, kube_namespace)


@pytest.fixture
def operator(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    ironic: IronicFixture,
    ironic_config: IronicConfig,
    agent: FakeAgent,
    hosts: Hosts,
) -> Iterator[RunningOperator]:
    factory = IronicProvisionerFactory(
        IronicClient(ironic_config), ironic_config, allow_development=True
    )
    try:
        with running_operator(
            kube_api_client,
            kube_namespace,
            factory,
            development_drivers=True,
            max_requeue_after=REQUEUE_CAP,
        ) as running:
            yield running
    finally:
        conn = ironic.connection()
        for node in conn.baremetal.nodes(fields=["uuid", "name"]):
            if (node.name or "").startswith(f"{kube_namespace}~"):
                conn.baremetal.set_node_maintenance(node.id)
                conn.baremetal.delete_node(node.id, ignore_missing=True)
        for item in hosts.api.list_namespaced_custom_object(  # type: ignore[union-attr]
            "metal3.io", "v1alpha1", kube_namespace, "baremetalhosts"
        )["items"]:
            hosts.force_remove(item["metadata"]["name"])


def fake_host(name: str, **spec: Any) -> dict[str, Any]:
    mac = "52:54:00:" + ":".join(f"{b:02x}" for b in name.encode()[-3:].rjust(3, b"\0"))
    return host_body(name, address="fake://127.0.0.1", mac=mac, **spec)


def ironic_node(ironic: IronicFixture, namespace: str, name: str) -> Any:
    conn = ironic.connection()
    for node in conn.baremetal.nodes(details=True):
        if node.name == f"{namespace}~{name}":
            return node
    return None


def test_host_lifecycle_on_ironic(
    operator: RunningOperator,
    hosts: Hosts,
    ironic: IronicFixture,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    hosts.create(fake_host("node-a"))
    host = hosts.wait_state("node-a", "available", timeout=DEADLINE)
    node_id = host["status"]["provisioning"]["ID"]
    assert node_id
    node = ironic_node(ironic, kube_namespace, "node-a")
    assert node is not None and node.id == node_id
    assert node.driver == "fake-hardware"
    assert node.provision_state == "manageable"
    assert host["status"]["hardware"]["nics"], "inspection data from the fake agent"

    hosts.patch("node-a", {"spec": {"image": IMAGE}})
    host = hosts.wait_state("node-a", "provisioned", timeout=DEADLINE)
    node = ironic_node(ironic, kube_namespace, "node-a")
    assert node.provision_state == "active"
    info = node.instance_info
    assert info["image_source"] == IMAGE["url"]
    assert info["image_checksum"] == IMAGE["checksum"]
    assert "image_os_hash_algo" not in info
    assert info["capabilities"] == {}
    assert info["root_device"] == {"name": "s== /dev/sda"}
    assert node.instance_id == host["metadata"]["uid"]

    hosts.patch("node-a", {"spec": {"online": False}})
    wait_for(
        lambda: hosts.status("node-a").get("poweredOn") is False,
        timeout=DEADLINE,
        what="poweredOn false",
    )
    wait_for(
        lambda: ironic_node(ironic, kube_namespace, "node-a").power_state == "power off",
        timeout=DEADLINE,
        what="Ironic node powered off",
    )

    hosts.patch("node-a", {"spec": {"image": None, "online": True}})
    hosts.wait_state("node-a", "available", timeout=DEADLINE)

    hosts.delete("node-a")
    hosts.wait_gone("node-a", timeout=DEADLINE)
    assert ironic_node(ironic, kube_namespace, "node-a") is None


def test_externally_provisioned_host_is_adopted_not_deployed(
    operator: RunningOperator,
    hosts: Hosts,
    ironic: IronicFixture,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    hosts.create(fake_host("node-b", externallyProvisioned=True, image=IMAGE))
    host = hosts.wait_state("node-b", "externally provisioned", timeout=DEADLINE)
    assert BMH_FINALIZER in host["metadata"]["finalizers"]
    # Adopted (manageable -> adopting -> active), which never writes a disk.
    node = wait_for(
        lambda: (
            (n := ironic_node(ironic, kube_namespace, "node-b"))
            and n.provision_state == "active"
            and n
        ),
        timeout=DEADLINE,
        what="Ironic node adopted",
    )
    assert node.id == host["status"]["provisioning"]["ID"]
    assert not host["status"]["provisioning"]["image"].get("url")
    # Events are published after the status write, by the event writer's own thread.
    reasons = wait_for(
        lambda: (
            (r := {e["reason"] for e in events_for(kube_api_client, kube_namespace, "node-b")})
            and "Registered" in r
            and r
        ),
        timeout=DEADLINE,
        what="the Registered event",
    )
    assert not reasons & {"ProvisioningStarted", "ProvisioningComplete", "InspectionStarted"}

    hosts.delete("node-b")
    hosts.wait_gone("node-b", timeout=DEADLINE)
    assert ironic_node(ironic, kube_namespace, "node-b") is None


@pytest.fixture(scope="module")
def guarded_bmc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SushyEmulator]:
    """A Redfish BMC (sushy-tools) that checks its password, with one powered-off system."""
    require_ironic_venv()
    system = FakeSystem(uuid=str(uuid.uuid4()), name="guarded-0", mac="52:54:00:aa:bb:01")
    bmc = SushyEmulator(
        tmp_path_factory.mktemp("guarded-bmc"), systems=[system], credentials=BMC_CREDENTIALS
    )
    bmc.start()
    try:
        yield bmc
    finally:
        bmc.stop()


def test_redfish_host_wrong_password_then_fixed_then_power(
    operator: RunningOperator,
    hosts: Hosts,
    guarded_bmc: SushyEmulator,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """Through a real Redfish BMC: a wrong password is a registration error naming the
    failure; fixing the Secret recovers the host; ``online`` really powers the system."""
    (system,) = guarded_bmc.systems
    core = k8s.CoreV1Api(kube_api_client)
    user, right = BMC_CREDENTIALS
    create_secret(kube_api_client, kube_namespace, "redfish-bmc", username=user, password="nope")
    address = f"redfish+http://127.0.0.1:{guarded_bmc.port}{guarded_bmc.system_path(system.uuid)}"
    hosts.create(
        host_body(
            "rf-0",
            address=address,
            credentials="redfish-bmc",
            mac=system.mac,
            inspectionMode="disabled",
            automatedCleaningMode="disabled",
        )
    )
    failed = wait_for(
        lambda: (s := hosts.status("rf-0")).get("errorType") == "registration error" and s,
        timeout=REDFISH_DEADLINE,
        what="registration error for the wrong password",
    )
    assert failed["operationalStatus"] == "error"
    assert failed["errorMessage"], "the error says what Ironic saw"
    assert "nope" not in failed["errorMessage"]
    # Events are published after the status write, by the event writer's own thread.
    wait_for(
        lambda: (
            "RegistrationError"
            in {e["reason"] for e in events_for(kube_api_client, kube_namespace, "rf-0")}
        ),
        timeout=DEADLINE,
        what="the RegistrationError event",
    )

    core.patch_namespaced_secret("redfish-bmc", kube_namespace, {"stringData": {"password": right}})
    host = hosts.wait_state("rf-0", "available", timeout=REDFISH_DEADLINE)
    assert host["status"]["operationalStatus"] == "OK"
    assert host["status"]["goodCredentials"]["credentials"]["name"] == "redfish-bmc"

    # online: true (the spec) powers the system on at the BMC itself.
    wait_for(
        lambda: guarded_bmc.power_state(system.uuid) == "On",
        timeout=REDFISH_DEADLINE,
        what="the Redfish system powered on",
    )
    hosts.patch("rf-0", {"spec": {"online": False}})
    wait_for(
        lambda: (
            guarded_bmc.power_state(system.uuid) == "Off"
            and hosts.status("rf-0").get("poweredOn") is False
        ),
        timeout=REDFISH_DEADLINE,
        what="the Redfish system powered off and poweredOn false",
    )
    hosts.delete("rf-0")
    hosts.wait_gone("rf-0", timeout=REDFISH_DEADLINE)
