"""Shared helpers for the IronicProvisioner tests against requests-mock: the failures and
races a real Ironic will not produce on demand (deploy/inspect/clean/adopt failures, 409,
503...)."""

from __future__ import annotations

from typing import Any

import requests_mock

from bmo.api.bmc import Credentials
from bmo.api.host import Image
from bmo.api.profiles import get_profile
from bmo.ironic.client import IronicClient
from bmo.ironic.provisioner import IronicProvisioner, IronicProvisionerFactory
from bmo.provisioner import (
    HostData,
    ProvisionData,
)
from tests.ironic.conftest import (
    API,
    make_config,
    node_json,
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
