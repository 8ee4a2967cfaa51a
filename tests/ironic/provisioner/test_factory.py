"""The factory and what every verb shares: readiness, error translation, secrets, the
protocol (``bmo.ironic.provisioner`` ``__init__`` and ``core``), against requests-mock."""

from __future__ import annotations

import json

import pytest
import requests
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.provisioner import IronicProvisionerFactory
from bmo.ironic.retry import RetryPolicy
from bmo.provisioner import (
    InspectData,
    ManagementAccessData,
    NeedsRegistration,
    Provisioner,
    ProvisionerError,
    ProvisionerFactory,
    ProvisionerNotReady,
)
from tests.ironic.conftest import (
    API,
    BUSY,
    FakeClock,
    Sleeps,
    ironic_error,
    make_config,
    node_json,
)
from tests.ironic.provisioner.helpers import (
    NODE,
    PASSWORD,
    PROVISION,
    UUID,
    Events,
    bodies,
    host,
    make,
    provision_data,
    serve,
)


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
