"""BMCEventSubscription types and webhook rules, with upstream's messages."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from bmo.api.bmceventsubscription import (
    BMCEventSubscription,
    BMCEventSubscriptionSpec,
    BMCEventSubscriptionStatus,
    http_headers,
    validate_subscription_create,
    validate_subscription_update,
)
from bmo.api.meta import ObjectMeta, SecretReference
from bmo.api.validation import ValidationProblem

FULL: dict[str, Any] = {
    "apiVersion": "metal3.io/v1alpha1",
    "kind": "BMCEventSubscription",
    "metadata": {
        "name": "worker-0-events",
        "namespace": "metal3",
        "creationTimestamp": None,
        "finalizers": ["bmceventsubscription.metal3.io"],
    },
    "spec": {
        "hostName": "worker-0",
        "destination": "https://192.0.2.9/events/",
        "context": "rack 4",
        "httpHeadersRef": {"name": "event-headers", "namespace": "metal3"},
    },
    "status": {"subscriptionID": "b3c2", "error": "failed to create a subscription"},
}


def test_round_trip_is_lossless() -> None:
    sub = BMCEventSubscription.from_dict(copy.deepcopy(FULL))
    assert sub.spec.http_headers_ref == SecretReference("event-headers", "metal3")
    assert sub.status == BMCEventSubscriptionStatus("b3c2", "failed to create a subscription")
    assert sub.to_dict() == FULL


def test_empty_fields_are_omitted() -> None:
    out = BMCEventSubscription(metadata=ObjectMeta(name="s")).to_dict()
    assert out["spec"] == {} and out["status"] == {}


NAMESPACE = "test-namespace"


def subscription(**spec: Any) -> BMCEventSubscription:
    fields = {"host_name": "worker-01", "destination": "http://localhost/abc/abc.php", **spec}
    return BMCEventSubscription(
        metadata=ObjectMeta(name="test", namespace=NAMESPACE),
        spec=BMCEventSubscriptionSpec(**fields),
    )


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"http_headers_ref": SecretReference("headers", NAMESPACE)},
        {"destination": "http://192.0.2.1/"},
        {"destination": "https://[2001:db8::1]:8443/hook?x=1"},
        {"destination": "/relative/path"},
    ],
)
def test_valid_subscriptions(spec: dict[str, Any]) -> None:
    assert validate_subscription_create(subscription(**spec)) == []


# The cases of upstream's bmceventsubscription_validation_test.go, plus ParseRequestURI's
# other failures and the opaque form (no path either).
@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"host_name": ""}, "spec.hostName", "hostName cannot be empty"),
        ({"destination": ""}, "spec.destination", "destination cannot be empty"),
        (
            {"destination": "abc"},
            "spec.destination",
            'destination is invalid: parse "abc": invalid URI for request',
        ),
        (
            {"destination": "http://192.0.2.1:x/"},
            "spec.destination",
            'destination is invalid: parse "http://192.0.2.1:x/": invalid port ":x" after host',
        ),
        (
            {"destination": "http://localhost"},
            "spec.destination",
            "hostname-only destination must have a trailing slash",
        ),
        (
            {"destination": "http://localhost?a=b"},
            "spec.destination",
            "hostname-only destination must have a trailing slash",
        ),
        (
            {"destination": "mailto:ops@example.com"},
            "spec.destination",
            "hostname-only destination must have a trailing slash",
        ),
        (
            {"http_headers_ref": SecretReference("headers", "different")},
            "spec.httpHeadersRef.namespace",
            "httpHeadersRef secret must be in the same namespace as the BMCEventSubscription",
        ),
        (
            # No defaulting: an empty namespace is a different namespace.
            {"http_headers_ref": SecretReference("headers")},
            "spec.httpHeadersRef.namespace",
            "httpHeadersRef secret must be in the same namespace as the BMCEventSubscription",
        ),
    ],
)
def test_each_rule_has_upstreams_message(spec: dict[str, Any], field: str, message: str) -> None:
    assert validate_subscription_create(subscription(**spec)) == [ValidationProblem(field, message)]


def test_every_problem_is_reported_in_upstream_order() -> None:
    sub = subscription(
        host_name="", destination="", http_headers_ref=SecretReference("h", "elsewhere")
    )
    assert [p.field for p in validate_subscription_create(sub)] == [
        "spec.hostName",
        "spec.httpHeadersRef.namespace",
        "spec.destination",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"host_name": "worker-02"},
        {"destination": "http://localhost/other/"},
        {"context": "new"},
        {"http_headers_ref": SecretReference("headers", NAMESPACE)},
    ],
)
def test_any_spec_change_is_refused(change: dict[str, Any]) -> None:
    old = subscription()
    new = dataclasses.replace(old, spec=dataclasses.replace(old.spec, **change))
    assert validate_subscription_update(old, new) == [
        ValidationProblem("spec", "subscriptions cannot be updated, please recreate it")
    ]


def test_status_and_metadata_changes_are_allowed() -> None:
    old = subscription()
    new = dataclasses.replace(
        old,
        metadata=dataclasses.replace(old.metadata, finalizers=("bmceventsubscription.metal3.io",)),
        status=BMCEventSubscriptionStatus(subscription_id="id-1"),
    )
    assert validate_subscription_update(old, new) == []
    # Create rules are not re-run on update, as upstream's ValidateUpdate does not.
    legacy = subscription(destination="http://localhost")
    assert validate_subscription_update(legacy, legacy) == []


def test_http_headers_are_one_map_per_secret_key() -> None:
    headers = http_headers({"Authorization": b"Bearer t0ken", "X-Site": b"lab"})
    assert sorted(headers, key=lambda h: next(iter(h))) == [
        {"Authorization": "Bearer t0ken"},
        {"X-Site": "lab"},
    ]
    assert http_headers({}) == []
