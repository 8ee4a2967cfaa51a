"""Helpers for bmo.ironic tests: a requests-mock'ed Ironic and a client wired to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests_mock

from bmo.ironic.client import IronicClient
from bmo.ironic.config import BasicAuth, IronicConfig
from bmo.ironic.retry import RetryPolicy

ROOT = "http://127.0.0.1:6385"
API = ROOT + "/v1"


def version_doc(max_version: str = "1.115", min_version: str = "1.1") -> dict[str, Any]:
    """What Ironic's ``GET /v1/`` answers (trimmed)."""
    link = [{"href": API + "/", "rel": "self"}]
    return {
        "id": "v1",
        "links": link,
        "media_types": [{"base": "application/json"}],
        "version": {
            "id": "v1",
            "links": link,
            "status": "CURRENT",
            "min_version": min_version,
            "version": max_version,
        },
    }


def ironic_error(status: int, fault: str) -> dict[str, Any]:
    """Ironic's error shape: the inner document is a JSON *string*."""
    return {
        "status_code": status,
        "json": {
            "error_message": json.dumps(
                {"faultstring": fault, "faultcode": "Client", "debuginfo": None}
            )
        },
    }


LOCKED = ironic_error(
    409,
    "Node 1be26c0b-03f2-4d2e-ae87-c02d7f33c123 is locked by host ironic-local, please retry "
    "after the current operation is completed.",
)
BUSY = ironic_error(
    503, "Requested action cannot be performed due to lack of free conductor workers."
)


def node_json(uuid: str = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": uuid,
        "name": "ns~host",
        "provision_state": "enroll",
        "target_provision_state": None,
        "power_state": None,
        "driver": "fake-hardware",
        "driver_info": {"ipmi_password": "******"},
        "instance_info": {},
        "properties": {},
        "maintenance": False,
    }
    body.update(fields)
    return body


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sleeps:
    """Records tenacity's sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def mock_ironic() -> Iterator[requests_mock.Mocker]:
    """requests-mock with the version document and one driver registered. The change list
    (``GET /v1/nodes/detail``) is refused as an Ironic that cannot sort by ``updated_at``
    would refuse it: a node cache then makes a full list every poll, which is what most
    tests mock. Tests of change lists register their own answer."""
    with requests_mock.Mocker() as mocker:
        mocker.get(API + "/", json=version_doc())
        mocker.get(API + "/drivers", json={"drivers": [{"name": "fake-hardware"}]})
        mocker.get(API + "/nodes/detail", **ironic_error(400, "not mocked"))
        yield mocker


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_config(**overrides: Any) -> IronicConfig:
    values: dict[str, Any] = {
        "endpoint": ROOT,
        "auth": BasicAuth("admin", "s3cret-pw"),
        "cache_ttl": 5.0,
    }
    values.update(overrides)
    return IronicConfig(**values)


@pytest.fixture
def client(clock: FakeClock, sleeps: Sleeps, mock_ironic: requests_mock.Mocker) -> IronicClient:
    return IronicClient(make_config(), clock=clock, retry_policy=RetryPolicy(sleep=sleeps))


def count(mocker: requests_mock.Mocker, method: str, path: str) -> int:
    return sum(
        1
        for r in mocker.request_history
        if r.method == method and r.path.rstrip("/") == path.rstrip("/")
    )
