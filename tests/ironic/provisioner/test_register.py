"""``register`` per Ironic state, against requests-mock (``register.go Register``)."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock

from bmo.api.bmc import Credentials
from bmo.api.hardware import NIC, HardwareDetails
from bmo.api.host import Image
from bmo.ironic.client import IronicClient
from bmo.ironic.provisioner import IronicProvisionerFactory
from bmo.ironic.retry import RetryPolicy
from bmo.provisioner import (
    ManagementAccessData,
    ProvisionResult,
)
from bmo.provisioner.deferral import actions_deferred
from tests.ironic.conftest import (
    API,
    FakeClock,
    Sleeps,
    count,
    ironic_error,
    make_config,
    node_json,
    version_doc,
)
from tests.ironic.provisioner.helpers import (
    MAC,
    NODE,
    PASSWORD,
    PROVISION,
    UUID,
    Events,
    bodies,
    host,
    make,
    serve,
)

OS_IMAGE = Image(url="http://192.0.2.9/os.qcow2", checksum="a" * 64, checksum_type="sha256")


@pytest.mark.parametrize(
    ("changes", "data", "message"),
    [
        (
            {"bmc_address": "ipmi://[fe80::1"},
            ManagementAccessData(),
            "failed to parse BMC address information",
        ),
        (
            {"bmc_address": "ipmi://192.0.2.1"},
            ManagementAccessData(boot_mode="UEFISecureBoot"),
            "BMC driver ipmi does not support secure boot",
        ),
        (
            {"bmc_address": "libvirt://192.0.2.1", "boot_mac_address": ""},
            ManagementAccessData(),
            "BMC driver libvirt requires a BootMACAddress value",
        ),
        (
            {"bmc_address": "redfish://192.0.2.1/redfish/v1/Systems/1", "boot_mac_address": ""},
            ManagementAccessData(inspection_mode="disabled"),
            "BMC driver redfish requires a BootMACAddress value",
        ),
        (
            {"bmc_address": "ipmi://192.0.2.1"},
            ManagementAccessData(inspection_mode="fast"),
            "BMC driver ipmi does not support fast (out-of-band) inspection",
        ),
        (
            {"bmc_credentials": Credentials("", "pw")},
            ManagementAccessData(),
            "Validation error with BMC credentials: "
            "Missing BMC connection detail 'username' in credentials",
        ),
        (
            {"bmc_address": "nosuch://192.0.2.1"},
            ManagementAccessData(),
            "Unknown BMC type 'nosuch' for address nosuch://192.0.2.1",
        ),
    ],
)
def test_register_prechecks_make_no_ironic_node_calls(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
    changes: dict[str, Any],
    data: ManagementAccessData,
    message: str,
) -> None:
    result, _ = make(client, events, **changes).register(data, True, False)
    assert message in result.error_message
    assert not any("/nodes" in r.path for r in mock_ironic.request_history)
    assert PASSWORD not in result.error_message


def test_register_refuses_provisioning_network_driver_when_disabled(
    clock: FakeClock, sleeps: Sleeps, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    config = make_config(provisioning_network_disabled=True)
    client = IronicClient(config, clock=clock, retry_policy=RetryPolicy(sleep=sleeps))
    prov = IronicProvisionerFactory(client, config).new(
        host(bmc_address="redfish://192.0.2.1/redfish/v1/Systems/1"), events
    )
    result, _ = prov.register(ManagementAccessData(), True, False)
    assert result.error_message == "BMC driver redfish requires a provisioning network"
    # Virtual media needs no provisioning network.
    prov = IronicProvisionerFactory(client, config).new(
        host(bmc_address="redfish-virtualmedia://192.0.2.1/redfish/v1/Systems/1"), events
    )
    mock_ironic.get(NODE, json=node_json(UUID, provision_state="verifying"))
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="verifying"))
    mock_ironic.get(API + "/ports", json={"ports": [{"uuid": "p", "address": MAC}]})
    result, node_id = prov.register(ManagementAccessData(), False, False)
    assert not result.error_message and node_id == UUID


def test_register_refuses_disable_power_off_on_old_ironic(
    clock: FakeClock, sleeps: Sleeps, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(API + "/", json=version_doc(max_version="1.94"))
    client = IronicClient(make_config(), clock=clock, retry_policy=RetryPolicy(sleep=sleeps))
    result, _ = make(client, events).register(
        ManagementAccessData(disable_power_off=True), True, False
    )
    assert result.error_message == (
        "current ironic version does not support DisablePowerOff, refusing to manage node"
    )


def test_register_creates_node_with_payload_and_port(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(API + "/nodes/ns~host", **ironic_error(404, "no"))
    mock_ironic.get(API + "/nodes/host", **ironic_error(404, "no"))
    mock_ironic.get(NODE, **ironic_error(404, "no"))
    mock_ironic.get(API + "/ports", json={"ports": []})
    created = node_json(UUID, name="ns~host", provision_state="enroll")
    mock_ironic.post(API + "/nodes", json=created, status_code=201)
    mock_ironic.post(
        API + "/ports",
        json={"uuid": "p1", "address": MAC, "node_uuid": UUID, "pxe_enabled": True},
        status_code=201,
    )
    mock_ironic.put(PROVISION, status_code=202)
    prov = make(
        client,
        events,
        bmc_address="redfish+http://192.0.2.1:8000/redfish/v1/Systems/1",
        provisioner_id="",
    )
    data = ManagementAccessData(
        boot_mode="UEFI",
        cpu_architecture="x86_64",
        current_image=Image(url="http://x/live.iso", format="live-iso"),
        hardware_data=HardwareDetails(nics=(NIC(mac="52:54:00:00:00:02", pxe=False),)),
    )
    result, node_id = prov.register(data, True, False)
    assert node_id == UUID and result.dirty
    (body,) = bodies(mock_ironic, "POST", API + "/nodes")
    assert body["name"] == "ns~host"
    assert body["driver"] == "redfish"
    assert body["driver_info"]["redfish_address"] == "http://192.0.2.1:8000"
    assert body["driver_info"]["redfish_system_id"] == "/redfish/v1/Systems/1"
    assert body["inspect_interface"] == "agent"
    assert body["deploy_interface"] == "ramdisk"
    assert body["boot_interface"] == "ipxe"
    assert body["disable_power_off"] is False
    assert body["properties"] == {"capabilities": "boot_mode:uefi", "cpu_arch": "x86_64"}
    assert body["automated_clean"] is True
    ports = bodies(mock_ironic, "POST", API + "/ports")
    assert sorted((p["address"], p["pxe_enabled"]) for p in ports) == [
        ("52:54:00:00:00:02", False),
        (MAC, True),
    ]
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "manage"}]
    assert events == [("Registered", "Registered new host")]


def test_register_fast_inspection_creates_node_with_out_of_band_inspect(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(API + "/nodes/ns~host", **ironic_error(404, "no"))
    mock_ironic.get(API + "/nodes/host", **ironic_error(404, "no"))
    mock_ironic.get(API + "/ports", json={"ports": []})
    created = node_json(UUID, name="ns~host", provision_state="enroll")
    mock_ironic.post(API + "/nodes", json=created, status_code=201)
    mock_ironic.post(API + "/ports", json={"uuid": "p1", "address": MAC}, status_code=201)
    mock_ironic.put(PROVISION, status_code=202)
    prov = make(
        client, events, bmc_address="redfish://192.0.2.1/redfish/v1/Systems/1", provisioner_id=""
    )
    prov.register(ManagementAccessData(inspection_mode="fast"), True, False)
    (body,) = bodies(mock_ironic, "POST", API + "/nodes")
    assert body["inspect_interface"] == "redfish"


def test_register_enroll_with_last_error_is_registration_error(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    error = f"Failed to get power state: bad password {PASSWORD}"
    serve(mock_ironic, provision_state="enroll", last_error=error, disable_power_off=False)
    mock_ironic.get(API + "/ports", json={"ports": [{"uuid": "p", "address": MAC}]})
    mock_ironic.put(PROVISION, status_code=202)
    result, _ = make(client, events).register(ManagementAccessData(), False, False)
    assert result.error_message == "Failed to get power state: bad password <redacted>"
    # New credentials (or a restart) try managing again.
    result, _ = make(client, events).register(ManagementAccessData(), False, True)
    assert result.dirty and bodies(mock_ironic, "PUT", PROVISION) == [{"target": "manage"}]


def test_register_mac_conflict(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(NODE, **ironic_error(404, "no"))
    mock_ironic.get(API + "/nodes/ns~host", **ironic_error(404, "no"))
    mock_ironic.get(API + "/nodes/host", **ironic_error(404, "no"))
    other = "2c3a1d7e-0000-4000-8000-000000000001"
    mock_ironic.get(
        API + "/ports", json={"ports": [{"uuid": "p", "address": MAC, "node_uuid": other}]}
    )
    mock_ironic.get(f"{API}/nodes/{other}", json=node_json(other, name="other~node"))
    result, _ = make(client, events).register(ManagementAccessData(), False, False)
    assert result.error_message == f"MAC address {MAC} conflicts with existing node other~node"


def test_register_unchanged_manageable_node_sends_no_patch(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(
        mock_ironic,
        provision_state="manageable",
        driver_info={},
        automated_clean=True,
        disable_power_off=False,
        properties={"capabilities": "cpu_vt:true,boot_mode:uefi"},
    )
    mock_ironic.get(API + "/ports", json={"ports": [{"uuid": "p", "address": MAC}]})
    result, node_id = make(client, events).register(
        ManagementAccessData(automated_cleaning_mode="metadata"), False, False
    )
    assert (result, node_id) == (ProvisionResult(), UUID)
    assert count(mock_ironic, "PATCH", f"/v1/nodes/{UUID}") == 0


@pytest.mark.parametrize("cleaning", ["metadata", "disabled"])
def test_a_node_as_enrolled_needs_no_patch_once_manageable(
    mock_ironic: requests_mock.Mocker,
    events: Events,
    clock: FakeClock,
    sleeps: Sleeps,
    cleaning: str,
) -> None:
    """The POST carries what ``configureNode`` would set on the manageable node (deploy
    image, ``automated_clean``), so registration costs Ironic no PATCH."""
    config = make_config(
        deploy_kernel_url="http://192.0.2.9/ipa.kernel",
        deploy_ramdisk_url="http://192.0.2.9/ipa.initramfs",
    )
    client = IronicClient(config, clock=clock, retry_policy=RetryPolicy(sleep=sleeps))
    mock_ironic.get(API + "/nodes/ns~host", **ironic_error(404, "no"))
    mock_ironic.get(API + "/nodes/host", **ironic_error(404, "no"))
    mock_ironic.get(NODE, **ironic_error(404, "no"))
    mock_ironic.get(API + "/ports", json={"ports": []})
    mock_ironic.post(
        API + "/nodes", json=node_json(UUID, provision_state="enroll"), status_code=201
    )
    mock_ironic.post(API + "/ports", json={"uuid": "p1", "address": MAC}, status_code=201)
    mock_ironic.put(PROVISION, status_code=202)
    data = ManagementAccessData(automated_cleaning_mode=cleaning, cpu_architecture="x86_64")
    prov = IronicProvisionerFactory(client, config, allow_development=True, rng=lambda: 0.0)
    prov.new(host(provisioner_id=""), events).register(data, True, False)
    (body,) = bodies(mock_ironic, "POST", API + "/nodes")
    assert body["driver_info"]["deploy_kernel"] == "http://192.0.2.9/ipa.kernel"
    assert body["driver_info"]["deploy_ramdisk"] == "http://192.0.2.9/ipa.initramfs"
    assert body["automated_clean"] is (cleaning != "disabled")

    # Ironic stores the body; the node comes back manageable with it.
    stored = {k: v for k, v in body.items() if not k.endswith("_interface")}
    stored["driver_info"] = {
        k: "******" if "password" in k else v for k, v in body["driver_info"].items()
    }
    serve(mock_ironic, **stored, provision_state="manageable")
    mock_ironic.get(API + "/ports", json={"ports": [{"uuid": "p1", "address": MAC}]})
    result, _ = prov.new(host(), events).register(data, False, False)
    assert result == ProvisionResult()
    assert count(mock_ironic, "PATCH", f"/v1/nodes/{UUID}") == 0


def test_registration_of_a_later_step_is_not_deferred(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    """Registration runs before every state's handler and converges the node's fields and
    ports, so a chained step does it at once instead of spending a pass (and a status
    write) on it: the inspected NIC's port, and the image of a provisioned host (its node
    re-created after a wipe must describe the disk before it is adopted)."""
    serve(mock_ironic, provision_state="manageable", automated_clean=True)
    mock_ironic.get(API + "/ports", json={"ports": [{"uuid": "p", "address": MAC}]})
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="manageable"))
    mock_ironic.post(
        API + "/ports", json={"uuid": "p2", "address": "52:54:00:00:00:02"}, status_code=201
    )
    data = ManagementAccessData(
        automated_cleaning_mode="metadata",
        state="provisioned",
        current_image=OS_IMAGE,
        hardware_data=HardwareDetails(nics=(NIC(mac="52:54:00:00:00:02", pxe=False),)),
    )
    with actions_deferred() as acted:
        result, _ = make(client, events).register(data, False, False)
    assert result == ProvisionResult()
    patches = [op for body in bodies(mock_ironic, "PATCH", NODE) for op in body]
    assert {
        "op": "add",
        "path": "/instance_info/image_source",
        "value": "http://192.0.2.9/os.qcow2",
    } in patches
    assert [p["address"] for p in bodies(mock_ironic, "POST", API + "/ports")] == [
        "52:54:00:00:00:02"
    ]
    assert acted.converging == 0, "nothing the host's status reads back"


@pytest.mark.parametrize(
    ("state", "node_state", "writes_image"),
    [
        ("provisioning", "manageable", False),
        ("provisioning", "available", False),
        ("provisioning", "deploy failed", True),
        ("provisioned", "manageable", True),
        ("externally provisioned", "manageable", True),
    ],
)
def test_a_provisioning_hosts_image_is_left_to_the_deploy(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
    state: str,
    node_state: str,
    writes_image: bool,
) -> None:
    """Until its node deploys, a provisioning host's image goes out with the deploy's own
    update (one PATCH before ``active``); once on the disk (or failed there), registration
    keeps it on the node as upstream's ``configureNode`` does."""
    serve(mock_ironic, provision_state=node_state, automated_clean=True, driver_info={})
    mock_ironic.get(API + "/ports", json={"ports": [{"uuid": "p", "address": MAC}]})
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state=node_state))
    data = ManagementAccessData(
        automated_cleaning_mode="metadata", state=state, current_image=OS_IMAGE
    )
    make(client, events).register(data, False, False)
    paths = [op["path"] for body in bodies(mock_ironic, "PATCH", NODE) for op in body]
    assert ("/instance_info/image_source" in paths) is writes_image


def test_register_new_credentials_replace_driver_info(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(
        mock_ironic,
        provision_state="manageable",
        driver="ipmi",
        driver_info={"ipmi_address": "192.0.2.1", "ipmi_password": "******"},
        automated_clean=True,
        disable_power_off=False,
        properties={"capabilities": "boot_mode:uefi"},
    )
    mock_ironic.get(API + "/ports", json={"ports": [{"uuid": "p", "address": MAC}]})
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="manageable"))
    prov = make(client, events, bmc_address="ipmi://192.0.2.1")
    prov.register(ManagementAccessData(automated_cleaning_mode="metadata"), True, False)
    patches = bodies(mock_ironic, "PATCH", NODE)
    replaced = [op for ops in patches for op in ops if op["path"] == "/driver_info"]
    assert replaced and replaced[0]["value"]["ipmi_password"] == PASSWORD
