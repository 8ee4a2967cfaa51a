"""One exception tree for everything that can go wrong in ``bmo.ironic``.

openstacksdk, keystoneauth and requests each raise their own exceptions, with messages that
embed URLs and raw response bodies. Callers (the provisioner, the controllers) should only
ever need to ask *what kind* of failure happened: retry soon (``TransientError``), the node
is gone (``NodeNotFound``), the request itself is wrong (``InvalidRequest``), the host's data
cannot become a request at all (``HostDataError``)... so every call into the SDK goes through
:func:`translate_errors`, which maps at the boundary, httpx style.

Messages carry the operation, the HTTP status and Ironic's own ``faultstring``; they never
carry request bodies or headers, so credentials cannot leak through them. HTTP status numbers
are interpreted here (and in :mod:`bmo.ironic.retry`'s retryable set) and nowhere else:
everyone else asks with an exception class or a predicate such as :func:`is_unreachable`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

__all__ = [
    "CleaningError",
    "ConfigDriveError",
    "Conflict",
    "HostDataError",
    "InvalidRequest",
    "IronicConfigError",
    "IronicError",
    "IronicTimeout",
    "IronicUnavailable",
    "MACConflict",
    "NodeLocked",
    "NodeNotFound",
    "NotReady",
    "PortNodeMissing",
    "TransientError",
    "Unauthorized",
    "error_from_response",
    "is_unreachable",
    "map_exception",
    "raise_for_status",
    "translate_errors",
]


class IronicError(Exception):
    """Base of every error raised by ``bmo.ironic``."""

    def __init__(
        self, message: str, *, status_code: int | None = None, operation: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.operation = operation

    def __str__(self) -> str:
        return self.message


class IronicConfigError(IronicError, ValueError):
    """The environment does not describe a usable Ironic; the message names the variable."""


class TransientError(IronicError):
    """Worth trying again later: callers requeue the host instead of recording a failure."""


class IronicUnavailable(TransientError):
    """Ironic did not answer usefully: connection refused/reset, 502/503/504, other 5xx."""


class IronicTimeout(IronicUnavailable):
    """The request timed out; the operation may or may not have happened."""


class NotReady(TransientError):
    """Ironic answers but cannot be used yet (API too old, no conductor/driver registered)."""


class NodeLocked(TransientError):
    """409 NodeLocked: a conductor holds the node's lock for another operation."""


class PortNodeMissing(TransientError):
    """A port with the MAC exists but its node does not (Ironic is mid-delete)."""


class NodeNotFound(IronicError):
    """404: the node (or the sub-resource asked for) does not exist."""


class Conflict(IronicError):
    """409 other than a locked node: a name, UUID or MAC already exists, wrong state..."""


class MACConflict(Conflict):
    """A boot MAC already belongs to a *named* node, i.e. to another host."""

    def __init__(self, address: str, existing_node: str) -> None:
        super().__init__(
            f"MAC address {address} conflicts with existing node {existing_node}",
            status_code=409,
        )
        self.address = address
        self.existing_node = existing_node


class InvalidRequest(IronicError):
    """400: Ironic rejected the request as malformed or not allowed in this state."""


class Unauthorized(IronicError):
    """401/403: wrong or missing credentials (check the auth files)."""


class HostDataError(IronicError, ValueError):
    """The host's own data cannot become an Ironic request: no request is sent, and the
    provisioner records the message on the host instead of retrying."""


class CleaningError(HostDataError):
    """The requested settings cannot be applied with this driver; a preparation error."""


class ConfigDriveError(HostDataError):
    """network or meta data that is not a YAML/JSON mapping; the message names which."""


_LOCKED = re.compile(r"\bis locked by host\b|\bNodeLocked\b", re.IGNORECASE)
_MAX_DETAIL = 500


def _fault_text(response: requests.Response | None) -> str:
    """Ironic's human message from an error response.

    Ironic wraps errors as ``{"error_message": "<JSON string with faultstring>"}`` (the inner
    document is a *string*), which openstacksdk fails to unpack and reports as the bare
    reason phrase ("Conflict") — losing exactly the text that tells NodeLocked apart.
    """
    if response is None:
        return ""
    text = ""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner: Any = body.get("error_message", body)
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except ValueError:
                text = inner
        if isinstance(inner, dict):
            fault = inner.get("faultstring") or inner.get("message") or inner.get("title")
            if isinstance(fault, str):
                text = fault
    if not text:
        text = response.reason or ""
    text = " ".join(text.split())
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return text


def _classify_status(status: int, detail: str) -> type[IronicError]:
    if status == 400:
        return InvalidRequest
    if status in (401, 403):
        return Unauthorized
    if status == 404:
        return NodeNotFound
    if status == 406:
        # The pinned microversion is no longer offered: Ironic was replaced by an older one.
        return NotReady
    if status == 409:
        return NodeLocked if _LOCKED.search(detail) else Conflict
    if status >= 500:
        return IronicUnavailable
    return IronicError


def error_from_response(response: requests.Response, operation: str) -> IronicError:
    """The :class:`IronicError` for an HTTP error response."""
    status = response.status_code
    detail = _fault_text(response)
    cls = _classify_status(status, detail)
    message = f"{operation}: HTTP {status}"
    if detail:
        message += f": {detail}"
    return cls(message, status_code=status, operation=operation)


def raise_for_status(response: requests.Response, operation: str) -> requests.Response:
    """``response`` itself when it is a success, else its :class:`IronicError`."""
    if response.status_code >= 400:
        raise error_from_response(response, operation)
    return response


def is_unreachable(exc: IronicError) -> bool:
    """Ironic gave no HTTP answer at all (refused, reset, TLS, timeout): it is down or not
    up yet, which the provisioner reports as *not ready*, unlike a 5xx it did answer with."""
    return isinstance(exc, IronicUnavailable) and exc.status_code is None


def map_exception(exc: BaseException, operation: str) -> IronicError | None:
    """Translate an SDK/keystoneauth/requests exception; ``None`` if it is not one of theirs.

    Programming errors (TypeError, KeyError...) are deliberately not mapped: they are bugs,
    not Ironic failures, and must surface as such.
    """
    if isinstance(exc, IronicError):
        return exc
    if isinstance(exc, sdk_exc.HttpException):
        response = getattr(exc, "response", None)
        status = exc.status_code
        if isinstance(response, requests.Response) and status is not None:
            return error_from_response(response, operation)
        cls = _classify_status(status, str(exc.details or "")) if status else IronicError
        return cls(f"{operation}: HTTP {status}", status_code=status, operation=operation)
    if isinstance(exc, sdk_exc.ResourceTimeout):
        return IronicTimeout(f"{operation}: timed out", operation=operation)
    if isinstance(exc, sdk_exc.SDKException):
        return IronicError(f"{operation}: {_short(exc)}", operation=operation)
    if isinstance(exc, ksa_exc.ConnectTimeout | requests.Timeout):
        return IronicTimeout(f"{operation}: request timed out", operation=operation)
    if isinstance(exc, ksa_exc.SSLError | requests.exceptions.SSLError):
        return IronicUnavailable(f"{operation}: TLS error: {_short(exc)}", operation=operation)
    if isinstance(
        exc,
        ksa_exc.ConnectionError
        | ksa_exc.DiscoveryFailure
        | requests.ConnectionError
        | ConnectionError,
    ):
        return IronicUnavailable(
            f"{operation}: cannot reach Ironic: {_short(exc)}", operation=operation
        )
    if isinstance(exc, ksa_exc.HttpError):
        status = exc.http_status
        cls = _classify_status(status, str(exc.details or exc.message or ""))
        return cls(f"{operation}: HTTP {status}", status_code=status, operation=operation)
    if isinstance(exc, ksa_exc.ClientException | requests.RequestException):
        return IronicError(f"{operation}: {_short(exc)}", operation=operation)
    return None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Re-raise SDK/keystoneauth/requests exceptions from the body as :class:`IronicError`."""
    try:
        yield
    except IronicError:
        raise
    except Exception as exc:
        mapped = map_exception(exc, operation)
        if mapped is None:
            raise
        raise mapped from exc
