"""Mapping SDK/keystoneauth/requests exceptions onto bmo.ironic.errors."""

from __future__ import annotations

import json

import pytest
import requests
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from bmo.ironic.errors import (
    Conflict,
    InvalidRequest,
    IronicError,
    IronicTimeout,
    IronicUnavailable,
    NodeLocked,
    NodeNotFound,
    NotReady,
    TransientError,
    Unauthorized,
    error_from_response,
    map_exception,
    translate_errors,
)


def response(status: int, body: object | None = None, reason: str = "") -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.reason = reason
    if body is not None:
        resp._content = json.dumps(body).encode()
        resp.headers["Content-Type"] = "application/json"
    else:
        resp._content = b""
    return resp


def wrapped(fault: str) -> dict[str, str]:
    return {"error_message": json.dumps({"faultstring": fault, "faultcode": "Client"})}


@pytest.mark.parametrize(
    ("status", "fault", "cls"),
    [
        (400, "Invalid input", InvalidRequest),
        (401, "Unauthorized", Unauthorized),
        (403, "Forbidden", Unauthorized),
        (404, "Node x could not be found.", NodeNotFound),
        (406, "Version 1.110 was requested but the minor version is not supported", NotReady),
        (409, "Node x is locked by host h, please retry after the current operation", NodeLocked),
        (409, "A node with name x already exists.", Conflict),
        (500, "Internal error", IronicUnavailable),
        (503, "lack of free conductor workers", IronicUnavailable),
        (418, "teapot", IronicError),
    ],
)
def test_status_mapping(status: int, fault: str, cls: type[IronicError]) -> None:
    error = error_from_response(response(status, wrapped(fault)), "do thing")
    assert type(error) is cls
    assert error.status_code == status
    assert str(error) == f"do thing: HTTP {status}: {fault}"


def test_transient_family() -> None:
    for cls in (IronicUnavailable, IronicTimeout, NotReady, NodeLocked):
        assert issubclass(cls, TransientError)
    for cls in (NodeNotFound, Conflict, InvalidRequest, Unauthorized):
        assert not issubclass(cls, TransientError)
    assert not issubclass(NodeLocked, Conflict)


def test_plain_and_missing_bodies() -> None:
    assert str(error_from_response(response(409, {"error_message": "plain text"}), "op")) == (
        "op: HTTP 409: plain text"
    )
    assert str(error_from_response(response(503, None, "Service Unavailable"), "op")) == (
        "op: HTTP 503: Service Unavailable"
    )
    long = error_from_response(response(400, wrapped("x" * 5000)), "op")
    assert len(str(long)) < 600


def test_sdk_http_exception_uses_the_response() -> None:
    resp = response(409, wrapped("Node n is locked by host h, please retry"), "Conflict")
    exc = sdk_exc.ConflictException(message="failed", response=resp, details="Conflict")
    mapped = map_exception(exc, "patch node n")
    assert isinstance(mapped, NodeLocked)
    assert "locked by host h" in str(mapped)


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (ksa_exc.ConnectFailure("Unable to establish connection"), IronicUnavailable),
        (ksa_exc.ConnectTimeout("Request timed out"), IronicTimeout),
        (ksa_exc.SSLError("certificate verify failed"), IronicUnavailable),
        (ksa_exc.DiscoveryFailure("no version document"), IronicUnavailable),
        (requests.exceptions.ConnectionError("reset"), IronicUnavailable),
        (requests.exceptions.ReadTimeout("read"), IronicTimeout),
        (ConnectionResetError(104, "Connection reset by peer"), IronicUnavailable),
        (sdk_exc.ResourceTimeout("waited"), IronicTimeout),
        (sdk_exc.SDKException("odd"), IronicError),
    ],
)
def test_transport_mapping(exc: Exception, cls: type[IronicError]) -> None:
    mapped = map_exception(exc, "op")
    assert type(mapped) is cls
    assert mapped.operation == "op"
    assert mapped.status_code is None


def test_programming_errors_are_not_mapped() -> None:
    assert map_exception(KeyError("x"), "op") is None
    with pytest.raises(KeyError), translate_errors("op"):
        raise KeyError("x")


def test_translate_errors_chains_the_original() -> None:
    original = ksa_exc.ConnectFailure("refused")
    with pytest.raises(IronicUnavailable) as info, translate_errors("get node n"):
        raise original
    assert info.value.__cause__ is original
    assert str(info.value).startswith("get node n: cannot reach Ironic")
