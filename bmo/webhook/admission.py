"""AdmissionReview in, AdmissionReview out: the webhook's decisions, without any I/O.

The answers are shaped like controller-runtime's ``admission`` package, so the API server
and users see what the Go operator gives them:

* allowed: ``status: {code: 200}``;
* rejected by validation (``admission.Denied``): ``code: 403``, ``reason: Forbidden``, and
  ``message`` = every problem joined like ``utilerrors.NewAggregate(...).Error()`` - a
  single message as itself, several de-duplicated as ``[msg1, msg2]``;
* an object that cannot be decoded (``admission.Errored``): ``code: 400`` and the reason,
  no ``reason`` field; an unknown operation likewise.

A body that is not an AdmissionReview at all raises :class:`MalformedReviewError`; the
server turns that into HTTP 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from bmo.api.bmceventsubscription import (
    BMC_EVENT_SUBSCRIPTION_KIND,
    BMCEventSubscription,
    validate_subscription_create,
    validate_subscription_update,
)
from bmo.api.dataimage import DATA_IMAGE_KIND, DataImage, validate_data_image
from bmo.api.errors import APIError
from bmo.api.host import BareMetalHost
from bmo.api.safejson import JSONLimitError, loads
from bmo.api.validation import ValidationProblem, validate_create, validate_update
from bmo.webhook.config import CredentialsCheck, HostLookup
from bmo.webhook.errors import MalformedReviewError

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

ADMISSION_API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
"""Both carry the same request/response shape; the answer echoes the one asked in."""

REVIEW_KIND = "AdmissionReview"
BMH_GROUP, BMH_VERSION, BMH_KIND = "metal3.io", "v1alpha1", "BareMetalHost"

CREATE, UPDATE, DELETE, CONNECT = "CREATE", "UPDATE", "DELETE", "CONNECT"


@dataclass(frozen=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str

    def __str__(self) -> str:
        group_version = f"{self.group}/{self.version}" if self.group else self.version
        return f"{group_version}, Kind={self.kind}"


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of ``AdmissionReview.request`` the decision needs.

    ``review_api_version`` is the review's own ``apiVersion``, echoed in the answer.
    """

    review_api_version: str
    uid: str
    operation: str
    kind: GroupVersionKind
    namespace: str
    name: str
    object: Mapping[str, Any] | None
    old_object: Mapping[str, Any] | None


@dataclass(frozen=True)
class Decision:
    """The answer to one request. ``fields`` names what the problems concern, for the log
    (the messages go back to the user; the log keeps only where to look)."""

    allowed: bool
    code: int
    reason: str = ""
    message: str = ""
    fields: tuple[str, ...] = ()

    @classmethod
    def allow(cls) -> Decision:
        return cls(allowed=True, code=200)

    @classmethod
    def deny(cls, problems: Sequence[ValidationProblem]) -> Decision:
        return cls(
            allowed=False,
            code=403,
            reason="Forbidden",
            message=aggregate([problem.message for problem in problems]),
            fields=tuple(dict.fromkeys(problem.field for problem in problems)),
        )

    @classmethod
    def errored(cls, code: int, message: str) -> Decision:
        return cls(allowed=False, code=code, message=message)

    def status(self) -> dict[str, Any]:
        """The ``metav1.Status`` of the answer, with Go's ``omitempty`` rules."""
        status: dict[str, Any] = {"metadata": {}}
        if self.message:
            status["message"] = self.message
        if self.reason:
            status["reason"] = self.reason
        status["code"] = self.code
        return status


def aggregate(messages: Sequence[str]) -> str:
    """``utilerrors.NewAggregate(errs).Error()`` for errors with these messages."""
    if not messages:
        return ""
    if len(messages) == 1:
        return messages[0]
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


# --- parsing -------------------------------------------------------------------------------


def parse_review(body: bytes) -> AdmissionRequest:
    """Decode an AdmissionReview request body; raises :class:`MalformedReviewError`."""
    if not body:
        raise MalformedReviewError("request body is empty: expected an AdmissionReview")
    try:
        document = loads(body, what="request body")
    except JSONLimitError as exc:
        raise MalformedReviewError(f"{exc}: expected an AdmissionReview") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedReviewError(
            f"request body is not valid JSON ({_json_error_position(exc)}): "
            "expected an AdmissionReview"
        ) from None
    if not isinstance(document, dict):
        raise MalformedReviewError("request body is not a JSON object: expected an AdmissionReview")
    api_version = document.get("apiVersion")
    kind = document.get("kind")
    if api_version not in ADMISSION_API_VERSIONS or kind != REVIEW_KIND:
        raise MalformedReviewError(
            f"unsupported document apiVersion={_short(api_version)} kind={_short(kind)}: "
            f"expected kind AdmissionReview in {' or '.join(ADMISSION_API_VERSIONS)}"
        )
    request = document.get("request")
    if not isinstance(request, dict):
        raise MalformedReviewError("AdmissionReview has no request object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise MalformedReviewError("AdmissionReview request.uid is missing or not a string")
    operation = request.get("operation")
    if not isinstance(operation, str) or not operation:
        raise MalformedReviewError(
            "AdmissionReview request.operation is missing or not a string", uid
        )
    return AdmissionRequest(
        review_api_version=str(api_version),
        uid=uid,
        operation=operation,
        kind=_gvk(request.get("kind"), uid),
        namespace=_optional_str(request, "namespace", uid),
        name=_optional_str(request, "name", uid),
        object=_optional_object(request, "object", uid),
        old_object=_optional_object(request, "oldObject", uid),
    )


def _gvk(value: object, uid: str) -> GroupVersionKind:
    if not isinstance(value, dict):
        raise MalformedReviewError("AdmissionReview request.kind is missing or not an object", uid)
    parts = [value.get(key, "") for key in ("group", "version", "kind")]
    if not all(isinstance(part, str) for part in parts):
        raise MalformedReviewError(
            "AdmissionReview request.kind group/version/kind must be strings", uid
        )
    group, version, kind = (str(part) for part in parts)
    return GroupVersionKind(group, version, kind)


def _optional_str(request: Mapping[str, Any], key: str, uid: str) -> str:
    value = request.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedReviewError(f"AdmissionReview request.{key} is not a string", uid)
    return value


def _optional_object(request: Mapping[str, Any], key: str, uid: str) -> Mapping[str, Any] | None:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedReviewError(f"AdmissionReview request.{key} is not an object", uid)
    return value


def _json_error_position(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno} column {exc.colno}: {exc.msg}"
    return "not UTF-8"


def _short(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


# --- deciding ------------------------------------------------------------------------------


def is_baremetalhost(kind: GroupVersionKind) -> bool:
    return (kind.group, kind.version, kind.kind) == (BMH_GROUP, BMH_VERSION, BMH_KIND)


def decide(
    request: AdmissionRequest,
    *,
    allow_development: bool = False,
    kind: str = BMH_KIND,
    credentials: CredentialsCheck | None = None,
    host_lookup: HostLookup | None = None,
) -> Decision:
    """Validate a CREATE or UPDATE of ``kind`` with the upstream rules.

    One entry per webhook path, as controller-runtime registers one validator per type:
    ``internal/webhooks/metal3.io/v1alpha1/baremetalhost_webhook.go``,
    ``dataimage_webhook.go`` (create and update both run ``validateDataImage``) and
    ``bmceventsubscription_webhook.go`` (create runs ``validateSubscription``; update only
    refuses a changed spec). For BareMetalHosts, ``credentials`` adds bmo's opt-in
    credentials policy, on create and whenever ``spec.bmc.credentialsName`` changes. For
    BMCEventSubscriptions, ``host_lookup`` adds bmo's check that the host named by
    ``spec.hostName`` exists, on create only (see :func:`_missing_host_problems`).

    Everything else is allowed: DELETE and CONNECT (every ``ValidateDelete`` accepts
    everything), and other kinds than the one this path validates.
    """
    rules = _RULES.get(kind)
    if rules is None:
        raise ValueError(f"no webhook rules for kind {kind!r}")
    if request.operation in (DELETE, CONNECT) or request.kind != GroupVersionKind(
        BMH_GROUP, BMH_VERSION, kind
    ):
        return Decision.allow()
    if request.operation not in (CREATE, UPDATE):
        return Decision.errored(400, f'unknown operation "{request.operation}"')
    if request.operation == UPDATE and _metadata_only_update_while_deleting(request):
        return Decision.allow()
    try:
        problems = rules(request, allow_development)
        if credentials is not None and kind == BMH_KIND:
            problems = [*problems, *_credentials_problems(credentials, request)]
        if host_lookup is not None and kind == BMC_EVENT_SUBSCRIPTION_KIND:
            problems = [*problems, *_missing_host_problems(host_lookup, request)]
    except _UndecodableError as exc:
        return Decision.errored(400, str(exc))
    except Exception as exc:  # a bug in a rule must not take the server down
        # Only the type: the message or traceback could quote a field value.
        log.error(
            "webhook validation failed unexpectedly",
            uid=request.uid,
            error_type=type(exc).__name__,
        )
        return Decision.errored(
            500, f"internal error while validating the {kind}; see the operator's log"
        )
    return Decision.deny(problems) if problems else Decision.allow()


def _host_rules(request: AdmissionRequest, allow_development: bool) -> list[ValidationProblem]:
    new = _decode(request, request.object, "object", BMH_KIND, BareMetalHost.from_dict)
    if request.operation == CREATE:
        return validate_create(new, allow_development=allow_development)
    old = _decode(request, request.old_object, "oldObject", BMH_KIND, BareMetalHost.from_dict)
    return validate_update(old, new, allow_development=allow_development)


def _data_image_rules(
    request: AdmissionRequest, allow_development: bool
) -> list[ValidationProblem]:
    return validate_data_image(
        _decode(request, request.object, "object", DATA_IMAGE_KIND, DataImage.from_dict)
    )


def _subscription_rules(
    request: AdmissionRequest, allow_development: bool
) -> list[ValidationProblem]:
    kind, decode = BMC_EVENT_SUBSCRIPTION_KIND, BMCEventSubscription.from_dict
    new = _decode(request, request.object, "object", kind, decode)
    if request.operation == CREATE:
        return validate_subscription_create(new)
    old = _decode(request, request.old_object, "oldObject", kind, decode)
    return validate_subscription_update(old, new)


_RULES: dict[str, Callable[[AdmissionRequest, bool], list[ValidationProblem]]] = {
    BMH_KIND: _host_rules,
    DATA_IMAGE_KIND: _data_image_rules,
    BMC_EVENT_SUBSCRIPTION_KIND: _subscription_rules,
}


def _credentials_problems(
    check: CredentialsCheck, request: AdmissionRequest
) -> list[ValidationProblem]:
    new = _decode(request, request.object, "object", BMH_KIND, BareMetalHost.from_dict)
    old = (
        _decode(request, request.old_object, "oldObject", BMH_KIND, BareMetalHost.from_dict)
        if request.operation == UPDATE
        else None
    )
    name = new.spec.bmc.credentials_name
    if not check.policy.enabled or not name:
        return []
    if old is not None and old.spec.bmc.credentials_name == name:
        return []  # checked when it was set; a later label change must not freeze the host
    labels = check.labels(new.namespace, name)
    if labels is None:
        return []  # no such Secret (yet): the controller checks it before using it
    problem = check.policy.problem(new.namespace, name, labels)
    return [] if problem is None else [ValidationProblem("spec.bmc.credentialsName", problem)]


def _missing_host_problems(
    lookup: HostLookup, request: AdmissionRequest
) -> list[ValidationProblem]:
    """A new subscription naming a BareMetalHost the lookup says does not exist.

    Upstream admits it and its controller reports ``baremetal host "..." not found`` in
    ``status.error`` later; refusing it at once is bmo's addition (a typo in
    ``spec.hostName`` cannot be fixed in place: the spec is immutable). Only a definite "no"
    refuses: an unknown answer (no cache entry and the API unreachable, or the lookup
    failing) admits, and the controller still reports and retries. UPDATE is not checked:
    the spec cannot change, and a host deleted later must not freeze the subscription's
    metadata.
    """
    if request.operation != CREATE:
        return []
    subscription = _decode(
        request,
        request.object,
        "object",
        BMC_EVENT_SUBSCRIPTION_KIND,
        BMCEventSubscription.from_dict,
    )
    host = subscription.spec.host_name
    if not host:
        return []  # "hostName cannot be empty" already says so
    namespace = subscription.metadata.namespace
    try:
        exists = lookup(namespace, host)
    except Exception as exc:  # advisory check: a failing lookup must not block creates
        log.warning(
            "BareMetalHost lookup failed; admitting the subscription",
            uid=request.uid,
            error_type=type(exc).__name__,
        )
        return []
    if exists is not False:
        return []
    return [
        ValidationProblem(
            "spec.hostName",
            f'BareMetalHost "{namespace}/{host}" not found: create the host first, '
            "or fix spec.hostName",
        )
    ]


_NOT_CONTENT = frozenset({"metadata", "status"})


def _metadata_only_update_while_deleting(request: AdmissionRequest) -> bool:
    """An UPDATE that only touches the metadata of an object already being deleted.

    Removing finalizers is how a deletion completes; refusing it because the object (or a
    newer rule) fails validation would keep the object forever. Go's webhook has no such
    case because its rules happen to pass on such objects; bmo makes the guarantee explicit.
    """
    new, old = request.object, request.old_object
    if new is None or old is None:
        return False
    old_meta, new_meta = old.get("metadata"), new.get("metadata")
    if not isinstance(old_meta, dict) or not isinstance(new_meta, dict):
        return False
    if not old_meta.get("deletionTimestamp") or not new_meta.get("deletionTimestamp"):
        return False
    content = {key: value for key, value in new.items() if key not in _NOT_CONTENT}
    return content == {key: value for key, value in old.items() if key not in _NOT_CONTENT}


class _UndecodableError(Exception):
    pass


def _decode(
    request: AdmissionRequest,
    document: Mapping[str, Any] | None,
    key: str,
    kind: str,
    decode: Callable[[Mapping[str, Any]], _T],
) -> _T:
    if document is None:
        raise _UndecodableError(
            f"AdmissionReview request.{key} is missing: a {kind} {request.operation} "
            "review must carry it"
        )
    metadata = document.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _UndecodableError(f"request.{key}.metadata: expected an object")
    # The API server fills these before validating admission; older or hand-written
    # reviews may carry them only on the request.
    filled = dict(metadata or {})
    for meta_key, value in (("namespace", request.namespace), ("name", request.name)):
        if not filled.get(meta_key):
            filled[meta_key] = value
    try:
        return decode({**document, "metadata": filled})
    except (APIError, ValueError, TypeError) as exc:
        message = str(exc) if isinstance(exc, APIError) else type(exc).__name__
        raise _UndecodableError(f"request.{key} cannot be decoded as a {kind}: {message}") from None


# --- answering -----------------------------------------------------------------------------


def review_response(api_version: str, uid: str, decision: Decision) -> dict[str, Any]:
    """The AdmissionReview to send back."""
    return {
        "apiVersion": api_version,
        "kind": REVIEW_KIND,
        "response": {"uid": uid, "allowed": decision.allowed, "status": decision.status()},
    }
