"""IronicProvisioner per Ironic state, against requests-mock: the failures and races a real
Ironic will not produce on demand (deploy/inspect/clean/adopt failures, 409, 503...)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import requests_mock

from bmo.api.bmc import Credentials
from bmo.api.hardware import NIC, HardwareDetails
from bmo.api.host import CustomDeploy, Image
from bmo.api.profiles import get_profile
from bmo.ironic.client import IronicClient
from bmo.ironic.provisioner import IronicProvisioner, IronicProvisionerFactory
from bmo.ironic.retry import RetryPolicy
from bmo.provisioner import (
    AdoptData,
    HostData,
    HostLocked,
    InspectData,
    ManagementAccessData,
    NeedsRegistration,
    PrepareData,
    ProvisionData,
    Provisioner,
    ProvisionerError,
    ProvisionerFactory,
    ProvisionerNotReady,
    ProvisionResult,
)
from tests.ironic.conftest import (
    API,
    BUSY,
    LOCKED,
    FakeClock,
    Sleeps,
    count,
    ironic_error,
    make_config,
    node_json,
    version_doc,
)

UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
NODE = f"{API}/nodes/{UUID}"
PROVISION = NODE + "/states/provision"
POWER = NODE + "/states/power"
PASSWORD = "hunter2-bmc-pw"
IMAGE = Image(url="http://127.0.0.1/img.qcow2", checksum="abc123", format="qcow2")
MAC = "52:54:00:12:34:56"


class Events(list[tuple[str, str]]):
    def __call__(self, reason: str, message: str) -> None:
        self.append((reason, message))

    @property
    def reasons(self) -> list[str]:
        return [reason for reason, _ in self]


def host(**changes: Any) -> HostData:
    values: dict[str, Any] = {
        "namespace": "ns",
        "name": "host",
        "uid": "0d8c0b6e-6d2a-4f9c-8f6e-2b1e4f0b9a11",
        "provisioner_id": UUID,
        "bmc_address": "fake://127.0.0.1",
        "bmc_credentials": Credentials("admin", PASSWORD),
        "boot_mac_address": MAC,
    }
    values.update(changes)
    return HostData(**values)


@pytest.fixture
def events() -> Events:
    return Events()


def make(
    client: IronicClient, events: Events, rng: float = 0.0, **host_changes: Any
) -> IronicProvisioner:
    factory = IronicProvisionerFactory(
        client, make_config(), allow_development=True, rng=lambda: rng
    )
    return factory.new(host(**host_changes), events)


def serve(mock: requests_mock.Mocker, **fields: Any) -> None:
    mock.get(NODE, json=node_json(UUID, **fields))


def bodies(mock: requests_mock.Mocker, method: str, url: str) -> list[Any]:
    path = url.replace("http://127.0.0.1:6385", "")
    return [r.json() for r in mock.request_history if r.method == method and r.path == path]


def provision_data(image: Image = IMAGE, **changes: Any) -> ProvisionData:
    return ProvisionData(image=image, hardware_profile=get_profile("unknown"), **changes)


# ------------------------------------------------------------------------------ factory


def test_factory_refuses_when_ironic_has_no_driver(
    clock: FakeClock, sleeps: Sleeps, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(API + "/drivers", json={"drivers": []})
    client = IronicClient(make_config(), clock=clock, retry_policy=RetryPolicy(sleep=sleeps))
    factory = IronicProvisionerFactory(client, make_config())
    with pytest.raises(ProvisionerNotReady, match="no drivers"):
        factory.new(host(), events)


def test_connection_refused_is_not_ready(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    prov = make(client, events)
    mock_ironic.get(NODE, exc=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(ProvisionerNotReady):
        prov.power_on(False)


def test_503_is_transient_not_registration(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(NODE, **BUSY)
    prov = make(client, events)
    with pytest.raises(ProvisionerError, match="503") as info:
        prov.provision(provision_data(), False)
    assert not isinstance(info.value, NeedsRegistration | ProvisionerNotReady)


def test_missing_node_needs_registration(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(NODE, **ironic_error(404, "Node not found"))
    with pytest.raises(NeedsRegistration):
        make(client, events).deprovision(False, "metadata")
    with pytest.raises(NeedsRegistration):
        make(client, events, provisioner_id="").inspect_hardware(InspectData(), False, False, False)


# ------------------------------------------------------------------------------ register


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
    assert "automated_clean" not in body
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


# ------------------------------------------------------------------------------ inspect


def test_inspect_failed_reports_then_restarts(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect failed", last_error="no agent")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="inspect failed"))
    mock_ironic.put(PROVISION, status_code=202)
    result, started, details = make(client, events).inspect_hardware(
        InspectData(), False, False, False
    )
    assert (result.error_message, started, details) == ("no agent", False, None)
    result, started, _ = make(client, events).inspect_hardware(InspectData(), True, False, False)
    assert started and result.dirty
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "inspect"}]
    assert events.reasons == ["InspectionStarted"]


def test_inspect_failed_without_message(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect failed", last_error=None)
    result, _, _ = make(client, events).inspect_hardware(InspectData(), False, False, False)
    assert result.error_message == "Inspection failed"


def test_inspect_aborted_by_us_restarts(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect failed", last_error="Inspection was aborted")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="inspect failed"))
    mock_ironic.put(PROVISION, status_code=202)
    result, started, _ = make(client, events).inspect_hardware(InspectData(), False, False, False)
    assert started and not result.error_message


@pytest.mark.parametrize(
    ("state", "force", "target", "delay"),
    [
        ("inspect wait", True, "abort", 0.0),
        ("inspect wait", False, None, 10.0),
        ("inspecting", False, None, 10.0),
        ("available", False, "manage", 0.0),
    ],
)
def test_inspect_waiting_states(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
    state: str,
    force: bool,
    target: str | None,
    delay: float,
) -> None:
    serve(mock_ironic, provision_state=state)
    mock_ironic.put(PROVISION, status_code=202)
    result, started, _ = make(client, events).inspect_hardware(InspectData(), False, False, force)
    assert result == ProvisionResult(dirty=True, requeue_after=delay) and not started
    sent = bodies(mock_ironic, "PUT", PROVISION)
    assert sent == ([{"target": target}] if target else [])


def test_inspect_fast_mode_uses_the_bmc_interface(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", inspect_interface="agent")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="manageable"))
    mock_ironic.put(PROVISION, status_code=202)
    prov = make(client, events, bmc_address="redfish://192.0.2.1/redfish/v1/Systems/1")
    prov.inspect_hardware(InspectData(inspection_mode="fast"), False, True, False)
    (ops,) = bodies(mock_ironic, "PATCH", NODE)
    assert {"op": "add", "path": "/inspect_interface", "value": "redfish"} in ops


# ------------------------------------------------------------------------------ prepare


def test_prepare_clean_failed(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="clean failed", last_error="RAID failed", maintenance=True)
    mock_ironic.delete(NODE + "/maintenance", status_code=202)
    result, started = make(client, events).prepare(PrepareData(), True, False)
    assert (result.error_message, started) == ("RAID failed", False)
    result, _ = make(client, events).prepare(PrepareData(), True, True)
    assert result.dirty and count(mock_ironic, "DELETE", f"/v1/nodes/{UUID}/maintenance") == 1


def test_prepare_bios_settings_start_manual_cleaning(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", raid_interface="redfish")
    mock_ironic.put(PROVISION, status_code=202)
    prov = make(client, events, bmc_address="redfish://192.0.2.1/redfish/v1/Systems/1")
    data = PrepareData(
        target_firmware_settings={"ProcVirtualization": "Enabled", "Same": "1"},
        actual_firmware_settings={"ProcVirtualization": "Disabled", "Same": "1"},
    )
    result, started = prov.prepare(data, True, False)
    assert started and result.dirty
    (body,) = bodies(mock_ironic, "PUT", PROVISION)
    assert body == {
        "target": "clean",
        "clean_steps": [
            {
                "interface": "bios",
                "step": "apply_configuration",
                "args": {"settings": [{"name": "ProcVirtualization", "value": "Enabled"}]},
            }
        ],
    }


# ------------------------------------------------------------------------------ provision


def test_deploy_failed_same_image_is_provisioning_error(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(
        mock_ironic,
        provision_state="deploy failed",
        last_error="Agent returned error for deploy step",
        instance_info={"image_source": IMAGE.url, "image_checksum": IMAGE.checksum},
    )
    result = make(client, events).provision(provision_data(), False)
    assert result.error_message == (
        f"Image provisioning failed (url: {IMAGE.url}, checksum: {IMAGE.checksum}): "
        "Agent returned error for deploy step"
    )


def test_deploy_failed_without_error_yet_retries_now(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(
        mock_ironic,
        provision_state="deploy failed",
        last_error=None,
        instance_info={"image_source": IMAGE.url, "image_checksum": IMAGE.checksum},
    )
    assert make(client, events).provision(provision_data(), False) == ProvisionResult(dirty=True)


def test_deploy_failed_with_new_image_redeploys(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(
        mock_ironic,
        provision_state="deploy failed",
        last_error="old failure",
        instance_info={"image_source": "http://127.0.0.1/old.qcow2", "image_checksum": "x"},
    )
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="deploy failed"))
    mock_ironic.get(NODE + "/validate", json={"boot": {"result": True}, "deploy": {"result": True}})
    mock_ironic.put(PROVISION, status_code=202)
    result = make(client, events).provision(provision_data(), False)
    assert result.dirty and not result.error_message
    (body,) = bodies(mock_ironic, "PUT", PROVISION)
    assert body["target"] == "active"
    assert body["configdrive"]["meta_data"]["local-hostname"] == "host"
    assert body["configdrive"]["meta_data"]["local_hostname"] == "host"
    assert events.reasons == ["ProvisioningStarted"]


def test_validation_failure_is_reported(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="available")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="available"))
    mock_ironic.get(
        NODE + "/validate",
        json={
            "boot": {"result": False, "reason": "no kernel"},
            "deploy": {"result": False, "reason": "no image"},
            "power": {"result": True},
        },
    )
    result = make(client, events).provision(provision_data(), False)
    assert result.error_message == "host validation error: no kernel; no image"
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/provision") == 0


def test_bad_checksum_fails_validation_without_ironic(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    result = make(client, events).provision(provision_data(Image(url="http://x/i.img")), False)
    assert result.error_message == "Validation failed: checksum is required for normal images"
    assert not any("/nodes" in r.path for r in mock_ironic.request_history)


def test_custom_deploy_sends_the_deploy_step(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="available")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="available"))
    mock_ironic.get(NODE + "/validate", json={"boot": {"result": True}, "deploy": {"result": True}})
    mock_ironic.put(PROVISION, status_code=202)
    data = provision_data(Image(), custom_deploy=CustomDeploy("install_coreos"))
    make(client, events).provision(data, False)
    (body,) = bodies(mock_ironic, "PUT", PROVISION)
    assert body["deploy_steps"] == [
        {"interface": "deploy", "step": "install_coreos", "args": {}, "priority": 80}
    ]
    (ops,) = bodies(mock_ironic, "PATCH", NODE)
    assert {"op": "add", "path": "/deploy_interface", "value": "custom-agent"} in ops


def test_config_drive_secret_error_is_recorded(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    class Missing:
        def user_data(self) -> str | None:
            raise LookupError("secret ns/userdata not found")

        def network_data(self) -> str | None:
            return None

        def meta_data(self) -> str | None:
            return None

    serve(mock_ironic, provision_state="available")
    result = make(client, events).provision(provision_data(host_config=Missing()), False)
    assert result.error_message == (
        "could not read the config drive data: secret ns/userdata not found"
    )


def test_node_locked_on_state_change_is_a_short_wait(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable")
    mock_ironic.put(PROVISION, **LOCKED)
    result = make(client, events, rng=1.0).provision(provision_data(), False)
    assert result == ProvisionResult(dirty=True, requeue_after=3.75)


def test_node_locked_on_update_raises_host_locked(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="available")
    mock_ironic.patch(NODE, **LOCKED)
    with pytest.raises(HostLocked) as info:
        make(client, events).provision(provision_data(), False)
    assert info.value.retry_after == 3.0


def test_force_reboot_in_wait_call_back_aborts_deploy(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="wait call-back")
    mock_ironic.put(PROVISION, status_code=202)
    assert make(client, events).provision(provision_data(), False).requeue_after == 10.0
    make(client, events).provision(provision_data(), True)
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "deleted"}]


# ------------------------------------------------------------------------------ adopt


def test_adopt_failed(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="adopt failed", last_error="no image_source")
    mock_ironic.put(PROVISION, status_code=202)
    result = make(client, events).adopt(AdoptData(state="provisioned"), False)
    assert result.error_message == "Host adoption failed: no image_source"
    assert make(client, events).adopt(AdoptData(state="provisioned"), True).dirty
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "adopt"}]


def test_adopt_skips_unprovisioned_node_while_deprovisioning(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="manageable", instance_info={})
    assert make(client, events).adopt(AdoptData(state="deprovisioning"), False) == ProvisionResult()
    with pytest.raises(ProvisionerError, match="invalid state for adopt: enroll"):
        serve(mock_ironic, provision_state="enroll")
        make(client, events).adopt(AdoptData(state="provisioned"), False)


# ------------------------------------------------------------------------------ deprovision


def test_deprovision_clean_failed_then_restart(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="clean failed", last_error="disk erase failed")
    mock_ironic.put(PROVISION, status_code=202)
    result = make(client, events).deprovision(False, "metadata")
    assert result.error_message == "Cleaning failed: disk erase failed"
    make(client, events).deprovision(True, "metadata")
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "manage"}]


def test_deprovision_syncs_automated_clean_first(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", automated_clean=True)
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="active", automated_clean=False))
    mock_ironic.put(PROVISION, status_code=202)
    assert make(client, events).deprovision(False, "disabled") == ProvisionResult(dirty=True)
    assert bodies(mock_ironic, "PATCH", NODE) == [
        [{"op": "add", "path": "/automated_clean", "value": False}]
    ]
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/provision") == 0
    serve(mock_ironic, provision_state="active", automated_clean=False)
    make(client, events).deprovision(False, "disabled")
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "deleted"}]
    assert events.reasons == ["DeprovisioningStarted"]


def test_deprovision_error_state(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="error", last_error=None)
    assert make(client, events).deprovision(False, "metadata").error_message == (
        "Deprovisioning failed"
    )


# ------------------------------------------------------------------------------ power


def test_soft_power_off_falls_back_to_hard_on_400(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", power_state="power on")
    mock_ironic.put(
        POWER,
        [
            ironic_error(400, "soft power off is not supported"),
            {"status_code": 202},
        ],
    )
    result = make(client, events).power_off("soft", False)
    assert result.dirty
    assert bodies(mock_ironic, "PUT", POWER) == [
        {"target": "soft power off", "timeout": 180},
        {"target": "power off"},
    ]
    assert events == [("PowerOff", "Host powered off")]


def test_power_waits_while_provision_target_is_set(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(
        mock_ironic,
        provision_state="deploying",
        target_provision_state="active",
        power_state="power off",
    )
    assert make(client, events).power_on(False) == ProvisionResult(dirty=True, requeue_after=3.0)
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/power") == 0


def test_power_on_failure_and_force(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", power_state="power off", last_error="IPMI gone")
    mock_ironic.put(POWER, status_code=202)
    assert make(client, events).power_on(False).error_message == (
        "PowerOn operation failed: IPMI gone"
    )
    assert make(client, events).power_on(True).dirty
    assert bodies(mock_ironic, "PUT", POWER) == [{"target": "power on"}]


def test_power_off_with_disable_power_off_reboots(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", power_state="power on", disable_power_off=True)
    mock_ironic.put(POWER, status_code=202)
    make(client, events).power_off("hard", False)
    make(client, events).power_off("soft", False)
    assert bodies(mock_ironic, "PUT", POWER) == [
        {"target": "rebooting"},
        {"target": "soft rebooting", "timeout": 180},
    ]


def test_power_off_aborts_inspect_wait_first(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="inspect wait", power_state="power on")
    mock_ironic.put(PROVISION, status_code=202)
    assert make(client, events).power_off("hard", False).dirty
    assert bodies(mock_ironic, "PUT", PROVISION) == [{"target": "abort"}]
    assert count(mock_ironic, "PUT", f"/v1/nodes/{UUID}/states/power") == 0


def test_power_state_409_is_retried_later(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="active", power_state="power off")
    mock_ironic.put(POWER, **LOCKED)
    assert make(client, events).power_on(False) == ProvisionResult(dirty=True, requeue_after=3.0)
    assert events == []


# ------------------------------------------------------------------------------ delete


@pytest.mark.parametrize(
    ("state", "force", "expect"),
    [
        ("active", False, "maintenance"),
        ("wait call-back", True, "abort"),
        ("wait call-back", False, "wait"),
        ("clean wait", True, "abort"),
        ("deploying", True, "wait"),
        ("manageable", False, "delete"),
        ("enroll", False, "delete"),
    ],
)
def test_delete_and_detach_per_state(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
    state: str,
    force: bool,
    expect: str,
) -> None:
    serve(mock_ironic, provision_state=state)
    mock_ironic.put(PROVISION, status_code=202)
    mock_ironic.put(NODE + "/maintenance", status_code=202)
    mock_ironic.delete(NODE, status_code=204)
    result = make(client, events).detach(force)
    assert result.dirty and not result.error_message
    puts = bodies(mock_ironic, "PUT", PROVISION)
    maintenance = bodies(mock_ironic, "PUT", NODE + "/maintenance")
    deleted = count(mock_ironic, "DELETE", f"/v1/nodes/{UUID}")
    observed = {
        "maintenance": maintenance == [{"reason": "forcing deletion in baremetal-operator"}],
        "abort": puts == [{"target": "abort"}],
        "delete": deleted == 1,
        "wait": not puts and not maintenance and not deleted,
    }
    assert [name for name, seen in observed.items() if seen] == [expect]


def test_delete_of_missing_node_is_done(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    mock_ironic.get(NODE, **ironic_error(404, "no"))
    mock_ironic.get(API + "/nodes/ns~host", **ironic_error(404, "no"))
    assert make(client, events).delete() == ProvisionResult()


def test_delete_removes_stale_instance_uuid(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, provision_state="available", instance_uuid="abc")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="available"))
    mock_ironic.delete(NODE, status_code=204)
    make(client, events).delete()
    assert bodies(mock_ironic, "PATCH", NODE) == [[{"op": "remove", "path": "/instance_uuid"}]]


# ------------------------------------------------------------------------------ capacity, health


def _nodes(*items: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "nodes": [
            {"uuid": f"u{i}", "name": name, "provision_state": state, "boot_interface": boot}
            for i, (name, state, boot) in enumerate(items)
        ]
    }


def test_capacity_counts_busy_pxe_nodes(
    clock: FakeClock, sleeps: Sleeps, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    config = make_config(provisioning_limit=2)
    client = IronicClient(config, clock=clock, retry_policy=RetryPolicy(sleep=sleeps))
    mock_ironic.get(
        API + "/nodes",
        json=_nodes(
            ("a~1", "deploying", "ipxe"),
            ("a~2", "clean wait", "pxe"),
            ("a~3", "inspect wait", "redfish-virtual-media"),
            ("a~4", "active", "ipxe"),
        ),
    )
    factory = IronicProvisionerFactory(client, config, allow_development=True)
    assert factory.new(host(), events).has_capacity() is False
    assert factory.new(host(namespace="a", name="2"), events).has_capacity() is True
    lists = [r for r in mock_ironic.request_history if r.path == "/v1/nodes"]
    assert lists[0].qs["fields"] == ["uuid,name,provision_state,boot_interface"]
    virtual_media = host(bmc_address="redfish-virtualmedia://192.0.2.1/redfish/v1/Systems/1")
    assert factory.new(virtual_media, events).has_capacity() is True
    assert len([r for r in mock_ironic.request_history if r.path == "/v1/nodes"]) == 2


def test_health_and_power_failure(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, health="Warning", fault="power failure")
    prov = make(client, events)
    assert prov.get_health() == "Warning"
    assert prov.has_power_failure() is True
    serve(mock_ironic, health=None, fault=None)
    prov = make(client, events)
    assert (prov.get_health(), prov.has_power_failure()) == ("", False)


def test_secrets_stay_out_of_repr_and_logs(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    serve(mock_ironic, provision_state="available")
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="available"))
    mock_ironic.get(NODE + "/validate", json={"boot": {"result": True}, "deploy": {"result": True}})
    mock_ironic.put(PROVISION, status_code=202)

    class Config:
        def user_data(self) -> str | None:
            return "#cloud-config\npassword: userdata-secret"

        def network_data(self) -> str | None:
            return None

        def meta_data(self) -> str | None:
            return None

    prov = make(client, events)
    prov.provision(provision_data(host_config=Config(), image_pull_secret="pull-secret"), False)
    (body,) = bodies(mock_ironic, "PUT", PROVISION)
    assert body["configdrive"]["user_data"].endswith("userdata-secret")
    text = caplog.text + repr(prov) + json.dumps(events)
    for secret in (PASSWORD, "userdata-secret", "pull-secret"):
        assert secret not in text


def test_implements_the_provisioner_protocol(client: IronicClient, events: Events) -> None:
    factory = IronicProvisionerFactory(client, make_config(), allow_development=True)
    assert isinstance(factory, ProvisionerFactory)
    assert isinstance(factory.new(host(), events), Provisioner)


def test_fake_scheme_needs_development_drivers(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    prov = IronicProvisionerFactory(client, make_config()).new(host(), events)
    result, _ = prov.register(ManagementAccessData(), True, False)
    assert result.error_message.startswith("BMC type 'fake' is for development only")
    assert not any("/nodes" in r.path for r in mock_ironic.request_history)
