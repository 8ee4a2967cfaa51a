"""The one boundary between the Kubernetes client's exceptions and bmo.

The ``kubernetes`` client raises :class:`kubernetes.client.ApiException` with a numeric
``status`` for every API failure, and urllib3 errors for transport failures. Code that
compares ``exc.status`` with numbers in many places drifts (one site treats 410 as retryable,
another forgets 429); so, like ``bmo/ironic/errors.py`` does for Ironic and like apimachinery's
``k8s.io/apimachinery/pkg/api/errors`` (``IsNotFound``, ``IsConflict``, ``IsGone`` …) does for
Go, every caller translates once with :func:`translate` (or the :func:`kube_errors` context
manager) and catches the class it means. No other module compares a status with a number.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Final

from kubernetes.client import ApiException
from urllib3.exceptions import HTTPError as TransportError

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeError",
    "NotFound",
    "ServerError",
    "TooManyRequests",
    "Unauthorized",
    "Unreachable",
    "from_object",
    "is_conflict",
    "is_gone",
    "is_not_found",
    "kube_errors",
    "translate",
]


class KubeError(Exception):
    """A Kubernetes API call failed. ``status`` is the HTTP status (``None``: no response)."""

    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.reason = reason


class NotFound(KubeError):
    """404: the object (or its namespace, or its kind) does not exist."""

    status = 404


class AlreadyExists(KubeError):
    """409 on create: an object of that name exists (apimachinery ``IsAlreadyExists``)."""

    status = 409


class Conflict(KubeError):
    """409 on update: the ``resourceVersion`` sent is stale; re-read and retry."""

    status = 409


class Gone(KubeError):
    """410: a watch or list continuation is too old; relist."""

    status = 410


class Invalid(KubeError):
    """422 (or 400): the server rejected the object; retrying the same write cannot help."""

    status = 422


class Unauthorized(KubeError):
    """401: the credentials are not accepted."""

    status = 401


class Forbidden(KubeError):
    """403: RBAC does not allow the verb (or a webhook denied it)."""

    status = 403


class TooManyRequests(KubeError):
    """429: server-side throttling (API priority and fairness); back off."""

    status = 429


class ServerError(KubeError):
    """5xx: the server failed; transient."""


class Unreachable(KubeError):
    """No HTTP response at all: connection refused or reset, or a timeout."""


_BY_STATUS: Final[dict[int, type[KubeError]]] = {
    400: Invalid,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def translate(exc: BaseException) -> KubeError:
    """The :class:`KubeError` for ``exc`` (an ``ApiException``, a transport error, or ours).

    A 409 is :class:`AlreadyExists` when the server says so in its ``reason``, else
    :class:`Conflict` (apimachinery tells them apart by ``StatusReason`` the same way).
    """
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        status = int(exc.status) if exc.status else None
        reason = str(exc.reason or "")
        message = f"HTTP {status} {reason}".strip() if status else (reason or str(exc))
        if status is None:
            return Unreachable(message, reason=reason)
        cls = _class_for(status, already_exists="AlreadyExists" in str(exc.body or ""))
        return cls(message, status=status, reason=reason)
    if isinstance(exc, TransportError | OSError):
        return Unreachable(f"{type(exc).__name__}: {exc}")
    return KubeError(f"{type(exc).__name__}: {exc}")


def from_object(status: Mapping[str, Any]) -> KubeError:
    """The :class:`KubeError` a ``metav1.Status`` object describes, such as the one a watch's
    ``ERROR`` event carries (apimachinery ``pkg/api/errors`` ``FromObject``).

    The message is the server's ``message``; a Status without a usable ``code`` is a plain
    :class:`KubeError`.
    """
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    code = status.get("code")
    if not isinstance(code, int) or isinstance(code, bool) or code <= 0:
        return KubeError(message, reason=reason)
    cls = _class_for(code, already_exists=reason == "AlreadyExists")
    return cls(message, status=code, reason=reason)


def _class_for(status: int, *, already_exists: bool) -> type[KubeError]:
    if status == 409:
        return AlreadyExists if already_exists else Conflict
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, KubeError)


@contextlib.contextmanager
def kube_errors() -> Iterator[None]:
    """Re-raise any client or transport failure inside the block as a :class:`KubeError`."""
    try:
        yield
    except (ApiException, TransportError) as exc:
        raise translate(exc) from exc


def is_not_found(exc: BaseException) -> bool:
    return isinstance(translate(exc), NotFound) if _is_api_error(exc) else False


def is_conflict(exc: BaseException) -> bool:
    return isinstance(translate(exc), Conflict | AlreadyExists) if _is_api_error(exc) else False


def is_gone(exc: BaseException) -> bool:
    return isinstance(translate(exc), Gone) if _is_api_error(exc) else False


def _is_api_error(exc: BaseException) -> bool:
    return isinstance(exc, ApiException | KubeError)
