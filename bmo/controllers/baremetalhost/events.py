"""Kubernetes ``core/v1`` Events on BareMetalHosts, shaped like the Go operator's, with the
deduplication client-go's event correlator does.

Upstream builds each Event itself (``apis/metal3.io/v1alpha1/baremetalhost_types.go
NewEvent``: ``generateName: <reason>-``, lower-cased here, see :func:`_generate_name`; source
component ``metal3-baremetal-controller``, reporting controller
``metal3.io/baremetal-controller``, ``related`` = ``spec.consumerRef``) and creates it
directly (``internal/controller/metal3.io/baremetalhost_controller.go publishEvent``). bmo
keeps that shape, so ``kubectl get events`` and anything selecting on those fields see the
same objects, and adds what client-go's recorder would have given it for free: a repeat of the
same event (same object, type, reason and message) within ``window`` seconds bumps the
existing Event's ``count`` and ``lastTimestamp`` instead of creating another object. A host
stuck failing every backoff interval otherwise fills etcd with identical Events.

Publishing never raises into the reconcile: the status write already happened, and an
event lost to an API hiccup is only logged (as upstream does). Messages are scrubbed of URL
user-info (``https://user:pass@host`` → ``https://***@host``, by
:func:`bmo.redaction.scrub_userinfo`) and truncated, because image URLs end up in
``ProvisioningStarted`` messages.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import structlog
from kubernetes import client as k8s
from kubernetes.client import ApiException

from bmo.api.constants import BMH_KIND, GROUP_VERSION
from bmo.api.host import BareMetalHost
from bmo.api.meta import ObjectReference
from bmo.redaction import scrub_userinfo
from bmo.runtime.errors import is_not_found, translate
from bmo.runtime.jsonapi import JsonApi, core_path

__all__ = [
    "EVENT_TYPE_NORMAL",
    "EVENT_TYPE_WARNING",
    "REPORTING_CONTROLLER",
    "SOURCE_COMPONENT",
    "EventRecorder",
    "EventTarget",
    "HostEvent",
    "scrub_message",
]

log = structlog.get_logger(__name__)

SOURCE_COMPONENT: Final = "metal3-baremetal-controller"
REPORTING_CONTROLLER: Final = "metal3.io/baremetal-controller"
EVENT_TYPE_NORMAL: Final = "Normal"
EVENT_TYPE_WARNING: Final = "Warning"

MAX_MESSAGE_LENGTH: Final = 1024
"""client-go's recorder truncates at 1 KiB too (events.k8s.io ``note`` is limited to it)."""

DEFAULT_WINDOW: Final = 600.0
"""Seconds a repeat is folded into the earlier Event (the correlator's 10-minute window)."""

DEFAULT_CACHE_SIZE: Final = 4096
"""client-go's ``maxLruCacheEntries``."""


def scrub_message(message: str) -> str:
    """Remove URL credentials and cap the length: what an Event may say about a host."""
    scrubbed = scrub_userinfo(message)
    if len(scrubbed) > MAX_MESSAGE_LENGTH:
        scrubbed = scrubbed[: MAX_MESSAGE_LENGTH - 3] + "..."
    return scrubbed


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _rfc3339(when: datetime) -> str:
    """``metav1.Time``'s wire form: UTC, whole seconds, ``Z``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class EventTarget:
    """The object an Event is about (``involvedObject``) and its ``related`` object."""

    name: str
    namespace: str
    uid: str = ""
    resource_version: str = ""
    kind: str = BMH_KIND
    api_version: str = GROUP_VERSION
    related: ObjectReference | None = None

    @classmethod
    def for_host(cls, host: BareMetalHost) -> EventTarget:
        return cls(
            name=host.metadata.name,
            namespace=host.metadata.namespace,
            uid=host.metadata.uid,
            resource_version=host.metadata.resource_version,
            related=host.spec.consumer_ref,
        )

    def involved_object(self) -> dict[str, str]:
        ref = {
            "kind": self.kind,
            "apiVersion": self.api_version,
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": self.resource_version,
        }
        return {k: v for k, v in ref.items() if v}

    def related_object(self) -> dict[str, str] | None:
        if self.related is None:
            return None
        ref = self.related
        fields = {
            "kind": ref.kind,
            "namespace": ref.namespace,
            "name": ref.name,
            "uid": ref.uid,
            "apiVersion": ref.api_version,
            "resourceVersion": ref.resource_version,
            "fieldPath": ref.field_path,
        }
        return {k: v for k, v in fields.items() if v}


class HostEvent(Protocol):
    """An event description (``bmo.hoststate.actions.Event`` fits)."""

    @property
    def reason(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def type(self) -> str: ...


# (namespace, kind, name, uid, type, reason, message): the correlator's identity of an event,
# minus fields that are constant for this recorder (source, reporting controller).
_Key = tuple[str, str, str, str, str, str, str]


@dataclass
class _Seen:
    name: str
    count: int
    last: datetime


class EventRecorder:
    """Creates (or, for a recent repeat, patches) Events through the official client.

    Thread-safe: reconcile workers share one recorder. One lock covers the cache and the API
    call so two workers repeating the same event cannot both create it; Events are rare and
    the calls bounded by ``request_timeout``.
    """

    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        reporting_instance: str = "",
        clock: Callable[[], datetime] = _utcnow,
        window: float = DEFAULT_WINDOW,
        cache_size: int = DEFAULT_CACHE_SIZE,
        request_timeout: float = 10.0,
        source_component: str = SOURCE_COMPONENT,
        reporting_controller: str = REPORTING_CONTROLLER,
    ) -> None:
        # Creates and bumps go through the thin JSON path (``bmo.runtime.jsonapi``): the
        # bytes ``CoreV1Api.create_namespaced_event`` / ``patch_namespaced_event`` would send,
        # without building (and validating) a ``CoreV1Event`` model each way.
        self._json = JsonApi(api_client)
        # The firmware controllers publish under their own names (upstream
        # ``hostfirmwaresettings_controller.go publishEvent``).
        self._source_component = source_component
        self._reporting_controller = reporting_controller
        self._reporting_instance = reporting_instance
        self._clock = clock
        self._window = window
        self._cache_size = cache_size
        self._timeout = request_timeout
        self._lock = threading.Lock()
        self._seen: OrderedDict[_Key, _Seen] = OrderedDict()

    def publish(
        self, host: BareMetalHost, reason: str, message: str, event_type: str = EVENT_TYPE_NORMAL
    ) -> None:
        """Record an event on ``host``; failures are logged, never raised."""
        self.emit(EventTarget.for_host(host), reason, message, event_type)

    def publish_all(self, host: BareMetalHost, events: Iterable[HostEvent]) -> None:
        """Publish a reconcile's events in order (the state machine's ``outcome.events``), after
        the status write, as upstream does."""
        target = EventTarget.for_host(host)
        for event in events:
            self.emit(target, event.reason, event.message, event.type or EVENT_TYPE_NORMAL)

    def emit(
        self, target: EventTarget, reason: str, message: str, event_type: str = EVENT_TYPE_NORMAL
    ) -> None:
        """Record an event on ``target``; failures are logged, never raised."""
        message = scrub_message(message)
        key: _Key = (
            target.namespace,
            target.kind,
            target.name,
            target.uid,
            event_type,
            reason,
            message,
        )
        try:
            with self._lock:
                self._emit_locked(key, target, reason, message, event_type)
        except Exception as exc:
            status = translate(exc).status
            log.warning(
                "failed to publish event",
                namespace=target.namespace,
                host=target.name,
                reason=reason,
                status=status,
                error=type(exc).__name__,
            )

    def _emit_locked(
        self, key: _Key, target: EventTarget, reason: str, message: str, event_type: str
    ) -> None:
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and (now - seen.last).total_seconds() <= self._window:
            patched = self._bump(target.namespace, seen, now)
            if patched:
                self._seen.move_to_end(key)
                return
        self._seen.pop(key, None)
        name = self._create(target, reason, message, event_type, now)
        self._seen[key] = _Seen(name=name, count=1, last=now)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)

    def _bump(self, namespace: str, seen: _Seen, now: datetime) -> bool:
        """Patch ``count``/``lastTimestamp``; ``False`` when the Event is gone (create anew)."""
        body = {"count": seen.count + 1, "lastTimestamp": _rfc3339(now)}
        try:
            self._json.patch(
                core_path("events", namespace, seen.name),
                body,
                "application/strategic-merge-patch+json",
                timeout=self._timeout,
            )
        except ApiException as exc:
            if is_not_found(exc):
                return False
            raise
        seen.count += 1
        seen.last = now
        return True

    def _create(
        self, target: EventTarget, reason: str, message: str, event_type: str, now: datetime
    ) -> str:
        stamp = _rfc3339(now)
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": _generate_name(reason), "namespace": target.namespace},
            "involvedObject": target.involved_object(),
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": {"component": self._source_component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": self._reporting_controller,
            "reportingInstance": self._reporting_instance,
        }
        related = target.related_object()
        if related is not None:
            body["related"] = related
        created = self._json.post(
            core_path("events", target.namespace),
            _as_client_sends(body, now),
            timeout=self._timeout,
        )
        return _created_name(created)


_EVENT_ORDER: Final = (
    "apiVersion",
    "count",
    "firstTimestamp",
    "involvedObject",
    "kind",
    "lastTimestamp",
    "message",
    "metadata",
    "reason",
    "related",
    "reportingComponent",
    "reportingInstance",
    "source",
    "type",
)
_REFERENCE_ORDER: Final = (
    "apiVersion",
    "fieldPath",
    "kind",
    "name",
    "namespace",
    "resourceVersion",
    "uid",
)


def _as_client_sends(body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """``body`` as ``sanitize_for_serialization(CoreV1Event.from_dict(body))`` put it on the
    wire when Events were created through the model: keys in the models' field order
    (``CoreV1Event``, ``V1ObjectReference``, ``V1ObjectMeta``: alphabetical by Python name)
    and the timestamps as the model's ``datetime.isoformat()`` (``+00:00``; the API server
    reads both that and upstream's ``Z`` as the same ``metav1.Time``)."""
    stamp = _second(now).isoformat()
    out: dict[str, Any] = {}
    for key in _EVENT_ORDER:
        if key not in body:
            continue
        value = body[key]
        if key in ("firstTimestamp", "lastTimestamp"):
            value = stamp
        elif key in ("involvedObject", "related"):
            value = {k: value[k] for k in _REFERENCE_ORDER if k in value}
        elif key == "metadata":
            value = dict(sorted(value.items()))  # generateName, namespace
        out[key] = value
    return out


def _second(when: datetime) -> datetime:
    """``when`` in UTC, whole seconds: the instant :func:`_rfc3339` writes."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0)


def _generate_name(reason: str) -> str:
    """Upstream's ``<reason>-``, lower-cased.

    core/v1 does not validate Event names, so upstream's ``RegistrationError-x7k2q`` is
    accepted by a real API server, but events.k8s.io/v1 (and stricter servers and emulators)
    require an RFC 1123 subdomain. Names are opaque to every consumer, so the form valid
    everywhere is used; ``reason`` itself is unchanged.
    """
    safe = re.sub(r"[^a-z0-9.-]+", "-", reason.lower()).strip("-.")
    return f"{safe or 'event'}-"


def _created_name(created: Any) -> str:
    """The server-assigned name, from a model object or a plain dict response."""
    if isinstance(created, Mapping):
        return str((created.get("metadata") or {}).get("name", ""))
    return str(created.metadata.name)
