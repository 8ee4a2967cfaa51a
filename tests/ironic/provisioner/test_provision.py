"""``provision``, ``adopt`` and ``deprovision`` per Ironic state, against requests-mock: the
failures a real Ironic will not produce on demand (``ironic.go Provision``, ``Adopt``,
``Deprovision``)."""

from __future__ import annotations

import pytest
import requests_mock

from bmo.api.host import CustomDeploy, Image
from bmo.ironic.client import IronicClient
from bmo.provisioner import (
    AdoptData,
    HostLocked,
    ProvisionerError,
    ProvisionResult,
)
from tests.ironic.conftest import (
    LOCKED,
    count,
    node_json,
)
from tests.ironic.provisioner.helpers import (
    IMAGE,
    NODE,
    PROVISION,
    UUID,
    Events,
    bodies,
    make,
    provision_data,
    serve,
)


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


def test_an_available_node_gets_its_image_and_deploy_fields_in_one_patch(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    """Registration leaves a provisioning host's image to this update: one PATCH carries the
    image and the deploy's own fields before ``active``."""
    serve(mock_ironic, provision_state="available", instance_info={})
    mock_ironic.patch(NODE, json=node_json(UUID, provision_state="available"))
    mock_ironic.get(NODE + "/validate", json={"boot": {"result": True}, "deploy": {"result": True}})
    mock_ironic.put(PROVISION, status_code=202)
    make(client, events).provision(provision_data(), False)
    (patch,) = bodies(mock_ironic, "PATCH", NODE)
    paths = {op["path"] for op in patch}
    assert {"/instance_info/image_source", "/instance_uuid"} <= paths
    assert [body["target"] for body in bodies(mock_ironic, "PUT", PROVISION)] == ["active"]


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
