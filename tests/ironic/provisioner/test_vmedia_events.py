"""Virtual media and BMC event subscriptions of the Ironic provisioner, against
requests-mock.

The vendor passthru is mocked because sushy-tools' fake driver has no EventService
(Ironic answers 500 "EventService/@odata.id is missing"); the vmedia cases here are the
ones a real Ironic will not produce on demand (an old microversion, a reserved node); the
happy path runs against the real Ironic in ``tests/ironic_env/test_vmedia.py``.
"""

from __future__ import annotations

import logging

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.retry import RetryPolicy
from bmo.provisioner import HostLocked, ProvisionerError
from tests.ironic.conftest import API, FakeClock, Sleeps, ironic_error, make_config, version_doc
from tests.ironic.provisioner.helpers import NODE, UUID, Events, make, serve

VMEDIA = NODE + "/vmedia"
PASSTHRU = NODE + "/vendor_passthru"
TOKEN = "Bearer s3cret-event-token"


def test_vmedia_get_reads_inserted(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic)
    mock_ironic.get(
        VMEDIA,
        json={"vmedia": [{"device_type": "cdrom", "image": "http://x/boot.iso", "inserted": True}]},
    )
    assert make(client, events).get_data_image_status() is True
    mock_ironic.get(VMEDIA, json={"vmedia": [{"device_type": "cdrom", "inserted": False}]})
    assert make(client, events).get_data_image_status() is False


def test_vmedia_get_on_a_reserved_node_is_busy(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic, reservation="conductor-1")
    with pytest.raises(HostLocked):
        make(client, events).get_data_image_status()
    assert not [r for r in mock_ironic.request_history if r.path.endswith("/vmedia")]


def test_vmedia_get_needs_1_93(clock: FakeClock, sleeps: Sleeps, events: Events) -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(API + "/", json=version_doc(max_version="1.92"))
        mocker.get(API + "/drivers", json={"drivers": [{"name": "fake-hardware"}]})
        old = IronicClient(make_config(), clock=clock, retry_policy=RetryPolicy(sleep=sleeps))
        with pytest.raises(ProvisionerError, match=r"needs version>=1\.93"):
            make(old, events).get_data_image_status()


def test_attach_and_detach_requests(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic)
    mock_ironic.post(VMEDIA, status_code=204)
    mock_ironic.delete(VMEDIA, status_code=204)
    prov = make(client, events)
    prov.attach_data_image("http://127.0.0.1/data.iso")
    prov.detach_data_image()
    [post] = [r for r in mock_ironic.request_history if r.method == "POST"]
    assert post.json() == {"device_type": "cdrom", "image_url": "http://127.0.0.1/data.iso"}
    [delete] = [r for r in mock_ironic.request_history if r.method == "DELETE"]
    assert delete.qs == {"device_types": ["cdrom"]}


def test_attach_failure_is_a_provisioner_error(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic)
    mock_ironic.post(VMEDIA, **ironic_error(400, "Unsupported or missing URL scheme: file"))
    with pytest.raises(ProvisionerError, match="Unsupported or missing URL scheme"):
        make(client, events).attach_data_image("file:///x.iso")


def test_create_subscription_body_and_id_headers_never_logged(
    client: IronicClient,
    mock_ironic: requests_mock.Mocker,
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    serve(mock_ironic)
    mock_ironic.post(
        PASSTHRU,
        json={"Id": "sub-7", "Destination": "http://127.0.0.1:9000/", "Protocol": "Redfish"},
    )
    subscription_id = make(client, events).add_bmc_event_subscription(
        "http://127.0.0.1:9000/", "ctx", [{"Authorization": TOKEN}]
    )
    assert subscription_id == "sub-7"
    [request] = [r for r in mock_ironic.request_history if r.method == "POST"]
    assert request.qs == {"method": ["create_subscription"]}
    assert request.json() == {
        "Destination": "http://127.0.0.1:9000/",
        "Protocol": "Redfish",
        "Context": "ctx",
        "HttpHeaders": [{"Authorization": TOKEN}],
    }
    assert TOKEN not in caplog.text


def test_create_subscription_without_context_or_headers_omits_them(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic)
    mock_ironic.post(PASSTHRU, json={"Id": "1"})
    make(client, events).add_bmc_event_subscription("http://127.0.0.1:9000/", "", [])
    [request] = [r for r in mock_ironic.request_history if r.method == "POST"]
    assert request.json() == {"Destination": "http://127.0.0.1:9000/", "Protocol": "Redfish"}


def test_create_subscription_failure(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic)
    mock_ironic.post(
        PASSTHRU, **ironic_error(400, "EventService/@odata.id is missing from /redfish/v1/")
    )
    with pytest.raises(ProvisionerError, match="failed to create subscription"):
        make(client, events).add_bmc_event_subscription("http://127.0.0.1:9000/", "", [])


def test_delete_subscription_request(
    client: IronicClient, mock_ironic: requests_mock.Mocker, events: Events
) -> None:
    serve(mock_ironic)
    mock_ironic.delete(PASSTHRU, status_code=200, text="")
    make(client, events).remove_bmc_event_subscription("sub-7")
    [request] = [r for r in mock_ironic.request_history if r.method == "DELETE"]
    assert request.qs == {"method": ["delete_subscription"]}
    assert request.json() == {"id": "sub-7"}
    assert request.path == f"/v1/nodes/{UUID}/vendor_passthru"
