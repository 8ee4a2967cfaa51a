"""The Kubernetes error boundary: every client or transport failure becomes one class."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes.client import ApiException

from bmo.runtime.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    Unreachable,
    from_object,
    is_conflict,
    is_gone,
    is_not_found,
    kube_errors,
    translate,
)


def api_error(status: int, reason: str = "", status_reason: str = "") -> ApiException:
    exc = ApiException(status=status, reason=reason)
    if status_reason:
        exc.body = json.dumps({"kind": "Status", "reason": status_reason, "code": status})
    return exc


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, Invalid),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (410, Gone),
        (422, Invalid),
        (429, TooManyRequests),
        (500, ServerError),
        (503, ServerError),
        (418, KubeError),
    ],
)
def test_status_codes_map_to_one_class_each(status: int, cls: type[KubeError]) -> None:
    error = translate(api_error(status, "Reason"))
    assert type(error) is cls
    assert error.status == status
    assert error.reason == "Reason"
    assert str(error) == f"HTTP {status} Reason"


def test_409_is_already_exists_only_when_the_server_says_so() -> None:
    created_twice = translate(api_error(409, "Conflict", status_reason="AlreadyExists"))
    stale_write = translate(api_error(409, "Conflict", status_reason="Conflict"))
    no_body = translate(api_error(409, "Conflict"))
    assert type(created_twice) is AlreadyExists
    assert type(stale_write) is Conflict
    assert type(no_body) is Conflict
    assert all(e.status == 409 for e in (created_twice, stale_write, no_body))


def test_410_gone_is_recognised_as_an_exception_and_as_a_watch_status() -> None:
    assert is_gone(api_error(410, "Gone"))
    assert not is_gone(api_error(404, "Not Found"))
    event = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    gone = from_object(event)
    assert isinstance(gone, Gone)
    assert (gone.status, gone.reason, str(gone)) == (410, "Expired", "too old")


def test_from_object_maps_codes_like_translate() -> None:
    assert isinstance(from_object({"code": 409, "reason": "AlreadyExists"}), AlreadyExists)
    assert isinstance(from_object({"code": 409, "reason": "Conflict"}), Conflict)
    assert isinstance(from_object({"code": 500}), ServerError)
    no_code = from_object({"message": "something odd"})
    assert type(no_code) is KubeError and no_code.status is None


def test_5xx_is_a_server_error() -> None:
    error = translate(api_error(504, "Gateway Timeout"))
    assert isinstance(error, ServerError)
    assert error.status == 504


def test_transport_failures_are_unreachable_with_no_status() -> None:
    for exc in (
        urllib3.exceptions.ProtocolError("Connection aborted."),
        ConnectionRefusedError(111, "Connection refused"),
        ApiException(status=0, reason="no response"),
    ):
        error = translate(exc)
        assert isinstance(error, Unreachable), exc
        assert error.status is None


def test_our_own_errors_pass_through_unchanged() -> None:
    mine = NotFound("host gone")
    assert translate(mine) is mine
    assert is_not_found(mine)
    other = ValueError("not an API error")
    assert type(translate(other)) is KubeError
    assert not is_not_found(other)
    assert not is_conflict(other)
    assert not is_gone(other)


def test_predicates_accept_client_exceptions() -> None:
    assert is_not_found(api_error(404))
    assert is_conflict(api_error(409, status_reason="Conflict"))
    assert is_conflict(api_error(409, status_reason="AlreadyExists"))
    assert not is_conflict(api_error(500))


def test_kube_errors_translates_inside_the_block_and_keeps_the_cause() -> None:
    original = api_error(404, "Not Found")
    with pytest.raises(NotFound) as info, kube_errors():
        raise original
    assert info.value.__cause__ is original
    with pytest.raises(Unreachable), kube_errors():
        raise urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    with pytest.raises(KeyError), kube_errors():
        raise KeyError("not an API failure: left alone")
