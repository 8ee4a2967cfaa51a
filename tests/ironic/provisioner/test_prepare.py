"""``prepare`` per Ironic state, against requests-mock (``ironic.go Prepare``)."""

from __future__ import annotations

import requests_mock

from bmo.ironic.client import IronicClient
from bmo.provisioner import (
    PrepareData,
)
from tests.ironic.conftest import (
    count,
)
from tests.ironic.provisioner.helpers import (
    NODE,
    PROVISION,
    UUID,
    Events,
    bodies,
    make,
    serve,
)


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
