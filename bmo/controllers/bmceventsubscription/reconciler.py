"""The BMCEventSubscription reconciler: upstream
``internal/controller/metal3.io/bmceventsubscription_controller.go`` (``Reconcile``,
``handleError``, ``addFinalizer``, ``createSubscription``, ``deleteSubscription``,
``getHTTPHeaders``).

One pass: find the host (missing: ``status.error`` and look again in 10 minutes), add the
finalizer, then create the subscription once (``status.subscriptionID`` says it exists) or,
on deletion, delete it and drop the finalizer. Failures are written to ``status.error`` with
upstream's fixed messages and retried with backoff.

The ``httpHeadersRef`` Secret's values are credentials: they go to the provisioner and
nowhere else - no log line, event, status or error message quotes them.

Two deliberate departures: upstream's missing-host message formats the previous error
instead of the host name (``baremetal host ""``); bmo names the host. And a subscription
deleted after its host is gone loses its finalizer (there is no BMC left to unsubscribe
from) instead of waiting for a host that will not come back.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar

import structlog
from kubernetes import client as k8s

from bmo.api.bmceventsubscription import (
    BMC_EVENT_SUBSCRIPTION_PLURAL,
    BMCEventSubscription,
    BMCEventSubscriptionStatus,
    http_headers,
)
from bmo.api.constants import API_GROUP, API_VERSION
from bmo.api.errors import APIError
from bmo.api.host import BareMetalHost
from bmo.provisioner import (
    Provisioner,
    ProvisionerError,
    ProvisionerFactory,
    ProvisionerNotReady,
    build_host_data,
)
from bmo.runtime.cache import KubeObject, thaw
from bmo.runtime.controller import Result, TerminalError
from bmo.runtime.errors import KubeError, kube_errors
from bmo.runtime.jsonapi import JsonApi, core_path

__all__ = [
    "BMC_EVENT_SUBSCRIPTION_FINALIZER",
    "PROVISIONER_NOT_READY_RETRY_DELAY",
    "SUBSCRIPTION_RETRY_DELAY",
    "BMCEventSubscriptionReconciler",
    "SubscriptionError",
]

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

BMC_EVENT_SUBSCRIPTION_FINALIZER: Final = "bmceventsubscription.metal3.io"
#: ``subscriptionRetryDelay``: the host is missing.
SUBSCRIPTION_RETRY_DELAY: Final = 600.0
#: ``provisionerNotReadyRetryDelay``.
PROVISIONER_NOT_READY_RETRY_DELAY: Final = 30.0

HEADERS_SECRET_ERROR: Final = "failed to retrieve HTTP headers secret"
CREATE_ERROR: Final = "failed to create a subscription"
DELETE_ERROR: Final = "failed to delete a subscription"


class SubscriptionError(Exception):
    """A failed pass, retried with backoff; the message is safe to log (no header value)."""


class ObjectStore(Protocol):
    def get(self, key: str) -> KubeObject | None: ...


class BMCEventSubscriptionReconciler:
    """Reconciles one BMCEventSubscription per call (one worker per key)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        subscriptions: ObjectStore,
        hosts: ObjectStore,
        provisioner_factory: ProvisionerFactory,
        *,
        sharded: bool = False,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        #: A host missing from a sharded cache may be another shard's: leave it alone.
        self._sharded = sharded
        self._json = JsonApi(api_client)
        self._subscriptions = subscriptions
        self._hosts = hosts
        self._factory = provisioner_factory

    def reconcile(self, namespace: str, name: str) -> Result:
        key = f"{namespace}/{name}"
        cached = self._subscriptions.get(key)
        if cached is None:
            return Result()
        raw: dict[str, Any] = thaw(cached)
        subscription = _decode(BMCEventSubscription.from_dict, raw, "BMCEventSubscription", key)
        deleting = subscription.metadata.deletion_timestamp is not None
        finalizers = list(subscription.metadata.finalizers)

        host_key = f"{namespace}/{subscription.spec.host_name}"
        cached_host = self._hosts.get(host_key)
        if cached_host is None and self._sharded:
            log.debug("host not in this shard", host=subscription.spec.host_name)
            return Result()
        if cached_host is None:
            log.info("baremetalhost not found", host=subscription.spec.host_name)
            if deleting:
                self._remove_finalizer(raw, finalizers)
                return Result()
            self._set_error(
                raw,
                subscription.status,
                f'baremetal host "{subscription.spec.host_name}" not found',
            )
            return Result(requeue_after=SUBSCRIPTION_RETRY_DELAY)
        host = _decode(BareMetalHost.from_dict, thaw(cached_host), "BareMetalHost", host_key)

        if not deleting and BMC_EVENT_SUBSCRIPTION_FINALIZER not in finalizers:
            log.info("adding finalizer")
            finalizers.append(BMC_EVENT_SUBSCRIPTION_FINALIZER)
            raw["metadata"]["finalizers"] = finalizers
            self._replace(raw)

        try:
            prov = self._factory.new(build_host_data(host), lambda reason, message: None)
        except ProvisionerNotReady as exc:
            log.info("provisioner is not ready", error=str(exc))
            return Result(requeue_after=PROVISIONER_NOT_READY_RETRY_DELAY)

        if deleting:
            self._delete(prov, raw, subscription, finalizers)
        else:
            self._create(prov, raw, subscription)
        return Result()

    # -- create / delete ---------------------------------------------------------------

    def _create(
        self, prov: Provisioner, raw: dict[str, Any], subscription: BMCEventSubscription
    ) -> None:
        if subscription.status.subscription_id:
            return
        try:
            headers = self._headers(subscription)
        except SubscriptionError:
            self._set_error(raw, subscription.status, HEADERS_SECRET_ERROR)
            raise
        try:
            subscription_id = prov.add_bmc_event_subscription(
                subscription.spec.destination, subscription.spec.context, headers
            )
        except ProvisionerError as exc:
            self._set_error(raw, subscription.status, CREATE_ERROR)
            raise SubscriptionError(f"{CREATE_ERROR}: {exc}") from None
        log.info("subscription created", subscription_id=subscription_id)
        self._write_status(
            raw, BMCEventSubscriptionStatus(subscription_id=subscription_id, error="")
        )

    def _delete(
        self,
        prov: Provisioner,
        raw: dict[str, Any],
        subscription: BMCEventSubscription,
        finalizers: list[str],
    ) -> None:
        if BMC_EVENT_SUBSCRIPTION_FINALIZER not in finalizers:
            return
        if subscription.status.subscription_id:
            try:
                prov.remove_bmc_event_subscription(subscription.status.subscription_id)
            except ProvisionerError as exc:
                self._set_error(raw, subscription.status, DELETE_ERROR)
                raise SubscriptionError(f"{DELETE_ERROR}: {exc}") from None
        self._remove_finalizer(raw, finalizers)
        log.info("cleanup is complete, removed finalizer")

    def _headers(self, subscription: BMCEventSubscription) -> list[dict[str, str]]:
        """``getHTTPHeaders``: each key of the Secret is one header."""
        ref = subscription.spec.http_headers_ref
        if ref is None:
            return []
        if ref.namespace != subscription.metadata.namespace:
            raise SubscriptionError(
                "httpHeadersRef secret must be in the same namespace as the BMCEventSubscription"
            )
        try:
            with kube_errors():
                # ``read_namespaced_secret``'s request, thin (``bmo.runtime.jsonapi``).
                secret = self._json.get(core_path("secrets", ref.namespace, ref.name))
        except KubeError as exc:
            # The error names the Secret, never its data.
            raise SubscriptionError(
                f"{HEADERS_SECRET_ERROR} {ref.namespace}/{ref.name}: {type(exc).__name__}"
            ) from None
        data = (secret or {}).get("data") or {}
        return http_headers({name: _b64(value) for name, value in data.items()})

    # -- writes ------------------------------------------------------------------------

    def _set_error(
        self, raw: dict[str, Any], status: BMCEventSubscriptionStatus, message: str
    ) -> None:
        if status.error == message:
            return
        self._write_status(raw, dataclasses.replace(status, error=message))

    def _remove_finalizer(self, raw: dict[str, Any], finalizers: list[str]) -> None:
        if BMC_EVENT_SUBSCRIPTION_FINALIZER not in finalizers:
            return
        raw["metadata"]["finalizers"] = [
            f for f in finalizers if f != BMC_EVENT_SUBSCRIPTION_FINALIZER
        ]
        self._replace(raw)

    def _replace(self, raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        with kube_errors():
            written = self._api.replace_namespaced_custom_object(
                API_GROUP,
                API_VERSION,
                meta["namespace"],
                BMC_EVENT_SUBSCRIPTION_PLURAL,
                meta["name"],
                raw,
            )
        _follow(meta, written)

    def _write_status(self, raw: dict[str, Any], status: BMCEventSubscriptionStatus) -> None:
        body = dict(raw)
        body["status"] = BMCEventSubscription(status=status).to_dict()["status"]
        meta = raw["metadata"]
        with kube_errors():
            written = self._api.replace_namespaced_custom_object_status(
                API_GROUP,
                API_VERSION,
                meta["namespace"],
                BMC_EVENT_SUBSCRIPTION_PLURAL,
                meta["name"],
                body,
            )
        _follow(meta, written)


def _b64(value: str | bytes) -> bytes:
    return base64.b64decode(value)


def _follow(meta: dict[str, Any], written: object) -> None:
    """Carry the written object's resourceVersion to the next write of the same pass."""
    if isinstance(written, dict):
        version = (written.get("metadata") or {}).get("resourceVersion")
        if version:
            meta["resourceVersion"] = version


def _decode(decode: Callable[[dict[str, Any]], _T], raw: dict[str, Any], kind: str, key: str) -> _T:
    try:
        return decode(raw)
    except (APIError, ValueError) as exc:
        raise TerminalError(f"{kind} {key} cannot be decoded: {exc}") from None
