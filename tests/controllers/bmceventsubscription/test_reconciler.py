"""The BMCEventSubscription reconciler against the Kubernetes API emulator and the fixture
provisioner (upstream ``bmceventsubscription_controller.go``: finalizer, one creation,
deletion, missing host, headers from the ``httpHeadersRef`` Secret)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes import client as k8s
from structlog.testing import capture_logs

from bmo.controllers.bmceventsubscription.reconciler import (
    BMC_EVENT_SUBSCRIPTION_FINALIZER,
    SUBSCRIPTION_RETRY_DELAY,
    BMCEventSubscriptionReconciler,
    SubscriptionError,
)
from bmo.provisioner.fixture import FixtureProvisionerFactory, FixtureRegistry
from tests.controllers.dataimage.helpers import (
    create_host,
    create_object,
    delete_object,
    get_object,
)
from tests.controllers.preprovisioningimage.helpers import LiveStore
from tests.integration.operator import create_secret

PLURAL, KIND = "bmceventsubscriptions", "BMCEventSubscription"
TOKEN = "Bearer very-secret-token-123"


@pytest.fixture
def registry() -> FixtureRegistry:
    return FixtureRegistry()


@pytest.fixture
def reconciler(
    kube_api_client: k8s.ApiClient, registry: FixtureRegistry
) -> BMCEventSubscriptionReconciler:
    return BMCEventSubscriptionReconciler(
        kube_api_client,
        LiveStore(kube_api_client, PLURAL),
        LiveStore(kube_api_client, "baremetalhosts"),
        FixtureProvisionerFactory(registry),
    )


def spec(namespace: str, headers: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hostName": "h0",
        "destination": "http://127.0.0.1:9000/events/",
        "context": "ctx-1",
    }
    if headers:
        body["httpHeadersRef"] = {"name": "hdrs", "namespace": namespace}
    return body


def subscription(api: k8s.ApiClient, namespace: str) -> dict[str, Any]:
    got = get_object(api, namespace, PLURAL, "sub")
    assert got is not None
    return got


def test_creates_once_with_headers_then_deletes(
    reconciler: BMCEventSubscriptionReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_host(kube_api_client, kube_namespace, "h0")
    registry.host(kube_namespace, "h0").registered = True
    create_secret(
        kube_api_client,
        kube_namespace,
        "hdrs",
        username=None,
        password=None,
        data={"Authorization": TOKEN},
    )
    create_object(kube_api_client, kube_namespace, PLURAL, KIND, "sub", spec(kube_namespace))
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        assert reconciler.reconcile(kube_namespace, "sub").requeue_after is None
        reconciler.reconcile(kube_namespace, "sub")
    got = subscription(kube_api_client, kube_namespace)
    assert got["metadata"]["finalizers"] == [BMC_EVENT_SUBSCRIPTION_FINALIZER]
    assert got["status"]["subscriptionID"] == "1"
    assert "error" not in got["status"]
    bmc = registry.host(kube_namespace, "h0").bmc
    [created] = bmc.subscriptions.values()
    assert created.destination == "http://127.0.0.1:9000/events/"
    assert created.context == "ctx-1"
    assert created.http_headers == ({"Authorization": TOKEN},)
    assert len(registry.host(kube_namespace, "h0").calls_to("add_bmc_event_subscription")) == 1
    # The header value reaches the BMC only: not the logs, not the status, not the calls.
    assert TOKEN not in repr(logs) + caplog.text + repr(got)
    assert TOKEN not in repr(registry.host(kube_namespace, "h0").calls)

    delete_object(kube_api_client, kube_namespace, PLURAL, "sub")
    reconciler.reconcile(kube_namespace, "sub")
    assert bmc.subscriptions == {}
    assert get_object(kube_api_client, kube_namespace, PLURAL, "sub") is None


def test_missing_host_is_an_error_retried_in_ten_minutes(
    reconciler: BMCEventSubscriptionReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_object(kube_api_client, kube_namespace, PLURAL, KIND, "sub", spec(kube_namespace, False))
    assert reconciler.reconcile(kube_namespace, "sub").requeue_after == SUBSCRIPTION_RETRY_DELAY
    got = subscription(kube_api_client, kube_namespace)
    assert got["status"]["error"] == 'baremetal host "h0" not found'
    assert not got["metadata"].get("finalizers")

    # The host appears: the subscription is created and the error cleared.
    create_host(kube_api_client, kube_namespace, "h0")
    registry.host(kube_namespace, "h0").registered = True
    reconciler.reconcile(kube_namespace, "sub")
    got = subscription(kube_api_client, kube_namespace)
    assert got["status"] == {"subscriptionID": "1"}


def test_missing_headers_secret_is_an_error(
    reconciler: BMCEventSubscriptionReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_host(kube_api_client, kube_namespace, "h0")
    registry.host(kube_namespace, "h0").registered = True
    create_object(kube_api_client, kube_namespace, PLURAL, KIND, "sub", spec(kube_namespace))
    with pytest.raises(SubscriptionError, match="hdrs"):
        reconciler.reconcile(kube_namespace, "sub")
    got = subscription(kube_api_client, kube_namespace)
    assert got["status"]["error"] == "failed to retrieve HTTP headers secret"
    assert not registry.host(kube_namespace, "h0").bmc.subscriptions


def test_provisioner_failures_are_recorded(
    reconciler: BMCEventSubscriptionReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_host(kube_api_client, kube_namespace, "h0")
    registry.host(kube_namespace, "h0").registered = True
    create_object(kube_api_client, kube_namespace, PLURAL, KIND, "sub", spec(kube_namespace, False))
    bmc = registry.host(kube_namespace, "h0").bmc
    bmc.fail_next("add_bmc_event_subscription", "EventService missing")
    with pytest.raises(SubscriptionError, match="failed to create a subscription"):
        reconciler.reconcile(kube_namespace, "sub")
    assert subscription(kube_api_client, kube_namespace)["status"]["error"] == (
        "failed to create a subscription"
    )
    reconciler.reconcile(kube_namespace, "sub")
    assert subscription(kube_api_client, kube_namespace)["status"] == {"subscriptionID": "1"}

    delete_object(kube_api_client, kube_namespace, PLURAL, "sub")
    bmc.fail_next("remove_bmc_event_subscription", "BMC unreachable")
    with pytest.raises(SubscriptionError, match="failed to delete a subscription"):
        reconciler.reconcile(kube_namespace, "sub")
    got = subscription(kube_api_client, kube_namespace)
    assert got["status"]["error"] == "failed to delete a subscription"
    assert got["metadata"]["finalizers"] == [BMC_EVENT_SUBSCRIPTION_FINALIZER]
    reconciler.reconcile(kube_namespace, "sub")
    assert get_object(kube_api_client, kube_namespace, PLURAL, "sub") is None
