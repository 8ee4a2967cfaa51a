"""Firmware settings end to end: the Kubernetes API emulator, the BareMetalHost,
HostFirmwareSettings and HostFirmwareComponents controllers, the real Ironic (``redfish``
driver) and the project's sushy-tools emulator with a BIOS (``testenv/ironic/
sushy_launcher.py``), and the admission webhook with its FirmwareSchema lookup fed from the
operator's cache, as ``bmo run`` wires it.

A Redfish host's BIOS settings are read into its HostFirmwareSettings, the shared
FirmwareSchema is created from Ironic's registry, an invalid change is refused by the webhook
with the controller's message, and a valid change is applied by manual cleaning in
``preparing`` and shows in ``status.settings``.
"""

from __future__ import annotations

import http.client
import json
import secrets
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.api.firmware import SettingSchema
from bmo.api.firmware_rules import validate_setting
from bmo.commands.run import firmware_schema_lookup
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.provisioner import IronicProvisionerFactory
from bmo.runtime.manager import Manager
from bmo.webhook import HOSTFIRMWARESETTINGS_PATH, WebhookConfig, WebhookServer
from testenv.ironic import FakeSystem, SushyEmulator
from tests.controllers.firmware_operator import Objects, condition, firmware_operator
from tests.fixtures.ironic import IronicFixture, require_ironic_venv
from tests.integration.operator import Hosts, create_secret, host_body, wait_for
from tests.webhook.certs import TestCA, install

pytestmark = [pytest.mark.ironic, pytest.mark.sushy, pytest.mark.slow]

#: A BIOS step reboots the emulated system, whose power changes land 1-11 s late by design.
DEADLINE = 240.0
REQUEUE_CAP = 0.5


@pytest.fixture(scope="module")
def bios_bmc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SushyEmulator]:
    """A Redfish BMC of this module's own (its BIOS changes must not leak elsewhere)."""
    require_ironic_venv()
    system = FakeSystem(
        uuid=str(uuid.uuid4()),
        name="fw-0",
        mac="52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3)),
    )
    bmc = SushyEmulator(Path(tmp_path_factory.mktemp("sushy-fw")), port=0, systems=[system])
    bmc.start()
    try:
        yield bmc
    finally:
        bmc.stop()


@pytest.fixture
def ironic_config(ironic: IronicFixture, tmp_path: Path) -> IronicConfig:
    environ = {"IRONIC_ENDPOINT": ironic.url, "METAL3_AUTH_ROOT_DIR": str(tmp_path / "auth")}
    if ironic.credentials is not None:
        auth = tmp_path / "auth" / "ironic"
        auth.mkdir(parents=True)
        username, password = ironic.credentials
        (auth / "username").write_text(username)
        (auth / "password").write_text(password)
    return IronicConfig.from_env(environ)


@pytest.fixture
def hosts(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Hosts:
    return Hosts(kube_api_client, kube_namespace)


@pytest.fixture
def operator(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    ironic: IronicFixture,
    ironic_config: IronicConfig,
    hosts: Hosts,
) -> Iterator[Manager]:
    factory = IronicProvisionerFactory(
        IronicClient(ironic_config), ironic_config, allow_development=True
    )
    try:
        with firmware_operator(
            kube_api_client, kube_namespace, factory, max_requeue_after=REQUEUE_CAP
        ) as manager:
            yield manager
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


@pytest.fixture
def webhook(operator: Manager, tmp_path: Path) -> Iterator[tuple[WebhookServer, ssl.SSLContext]]:
    """The webhook as ``bmo run`` wires it: the FirmwareSchema lookup reads the cache."""
    ca = TestCA()
    install(ca.issue(), tmp_path / "certs")
    server = WebhookServer(
        WebhookConfig(host="127.0.0.1", port=0, cert_dir=str(tmp_path / "certs")),
        schema_lookup=firmware_schema_lookup(operator),
    )
    server.start()
    try:
        yield server, ssl.create_default_context(cadata=ca.pem.decode())
    finally:
        server.stop()


def admission(
    webhook: tuple[WebhookServer, ssl.SSLContext], old: dict[str, Any], new: dict[str, Any]
) -> dict[str, Any]:
    """What the API server would ask the webhook for this UPDATE, and the answer."""
    server, context = webhook
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "metal3.io", "version": "v1alpha1", "kind": "HostFirmwareSettings"},
            "resource": {
                "group": "metal3.io",
                "version": "v1alpha1",
                "resource": "hostfirmwaresettings",
            },
            "operation": "UPDATE",
            "namespace": new["metadata"]["namespace"],
            "name": new["metadata"]["name"],
            "object": new,
            "oldObject": old,
        },
    }
    connection = http.client.HTTPSConnection(server.host, server.port, context=context, timeout=10)
    try:
        connection.request(
            "POST",
            HOSTFIRMWARESETTINGS_PATH,
            body=json.dumps(review).encode(),
            headers={"Content-Type": "application/json"},
        )
        answer = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    response: dict[str, Any] = answer["response"]
    return response


def test_bios_settings_read_validated_and_applied(
    operator: Manager,
    webhook: tuple[WebhookServer, ssl.SSLContext],
    hosts: Hosts,
    bios_bmc: SushyEmulator,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    (system,) = bios_bmc.systems
    hfs_api = Objects(kube_api_client, kube_namespace, "hostfirmwaresettings")
    schemas = Objects(kube_api_client, kube_namespace, "firmwareschemas")
    create_secret(kube_api_client, kube_namespace, "fw-bmc", username="admin", password="pw")
    address = f"redfish+{bios_bmc.url}{bios_bmc.system_path(system.uuid)}"
    hosts.create(
        host_body(
            "fw-0",
            address=address,
            credentials="fw-bmc",
            mac=system.mac,
            inspectionMode="disabled",
            automatedCleaningMode="disabled",
        )
    )

    # Ironic's BIOS settings land in the status; Password settings never do.
    status = wait_for(
        lambda: (
            (s := (hfs_api.get("fw-0") or {}).get("status") or {})
            .get("settings", {})
            .get("ProcTurboMode")
            and s
        ),
        timeout=DEADLINE,
        what="status.settings from Ironic",
    )
    assert status["settings"]["ProcTurboMode"] == "Enabled"
    assert not [name for name in status["settings"] if "Password" in name]
    schema = schemas.get(status["schema"]["name"])
    assert schema is not None
    turbo = schema["spec"]["schema"]["ProcTurboMode"]
    assert turbo["attribute_type"] == "Enumeration"
    assert set(turbo["allowable_values"]) == {"Enabled", "Disabled"}
    assert "SysPassword" not in schema["spec"]["schema"]
    assert [r["kind"] for r in schema["metadata"]["ownerReferences"]] == ["HostFirmwareSettings"]
    hosts.wait_state("fw-0", "available", timeout=DEADLINE)

    # An invalid value is refused at admission, with the controller's message.
    current = hfs_api.get("fw-0")
    assert current is not None
    wait_for(
        lambda: firmware_schema_lookup(operator)(kube_namespace, status["schema"]["name"]),
        what="the FirmwareSchema in the operator's cache",
    )
    invalid = json.loads(json.dumps(current))
    invalid["spec"]["settings"] = {"ProcTurboMode": "Turbo"}
    answer = admission(webhook, current, invalid)
    assert answer["allowed"] is False
    expected = validate_setting(
        "ProcTurboMode",
        "Turbo",
        {"ProcTurboMode": SettingSchema.from_dict(turbo)},
    )
    assert answer["status"]["message"] == f"Invalid BIOS setting: {expected}"
    assert answer["status"]["code"] == 403
    valid = json.loads(json.dumps(current))
    valid["spec"]["settings"] = {"ProcTurboMode": "Disabled"}
    assert admission(webhook, current, valid)["allowed"] is True

    # A valid change: manual cleaning applies it, and the status shows Ironic's new value.
    hfs_api.replace_spec("fw-0", {"settings": {"ProcTurboMode": "Disabled"}})
    wait_for(
        lambda: (
            hosts.state("fw-0") == "preparing"
            or (hfs_api.get("fw-0") or {})["status"]["settings"]["ProcTurboMode"] == "Disabled"
        ),
        timeout=DEADLINE,
        what="preparing started",
    )
    wait_for(
        lambda: (hfs_api.get("fw-0") or {})["status"]["settings"]["ProcTurboMode"] == "Disabled",
        timeout=DEADLINE,
        what="status.settings shows the applied value",
    )
    wait_for(
        lambda: condition(hfs_api.get("fw-0"), "ChangeDetected").get("status") == "False",
        timeout=DEADLINE,
        what="ChangeDetected=False",
    )
    host = hosts.wait_state("fw-0", "available", timeout=DEADLINE)
    assert host["status"]["operationalStatus"] == "OK"
