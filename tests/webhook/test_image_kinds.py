"""The DataImage and BMCEventSubscription webhooks, through the HTTPS server.

Messages are upstream's (``internal/webhooks/metal3.io/v1alpha1/dataimage_validation.go``,
``bmceventsubscription_validation.go``, ``bmceventsubscription_webhook.go ValidateUpdate``).
"""

from __future__ import annotations

from typing import Any

import pytest

from bmo.webhook import BMCEVENTSUBSCRIPTION_PATH, DATAIMAGE_PATH
from tests.webhook.conftest import Client
from tests.webhook.test_server import response, review

DATAIMAGE = {"group": "metal3.io", "version": "v1alpha1", "kind": "DataImage"}
SUBSCRIPTION = {"group": "metal3.io", "version": "v1alpha1", "kind": "BMCEventSubscription"}


def data_image(url: str) -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "DataImage",
        "metadata": {"name": "node-1", "namespace": "metal3"},
        "spec": {"url": url},
    }


def subscription(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hostName": "node-1",
        "destination": "https://events.example.com/hook",
        "context": "ctx",
    }
    body.update(spec)
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BMCEventSubscription",
        "metadata": {"name": "sub-1", "namespace": "metal3"},
        "spec": body,
    }


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_valid_data_image_is_allowed(client: Client, operation: str) -> None:
    obj = data_image("http://images.example.com/data.iso")
    answer = response(
        *client.post(review(operation, obj, obj, kind=DATAIMAGE), path=DATAIMAGE_PATH)
    )
    assert answer["allowed"] is True


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_data_image_with_bad_url_is_denied_on_create_and_update(
    client: Client, operation: str
) -> None:
    old = data_image("http://images.example.com/data.iso")
    obj = data_image("file:///data.iso")
    answer = response(
        *client.post(review(operation, obj, old, kind=DATAIMAGE), path=DATAIMAGE_PATH)
    )
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403
    assert answer["status"]["message"].startswith(
        'URL "file:///data.iso" is invalid: invalid scheme in URL, "file" not allowed'
    )


def test_empty_data_image_url_is_denied(client: Client) -> None:
    answer = response(
        *client.post(review("CREATE", data_image(""), kind=DATAIMAGE), path=DATAIMAGE_PATH)
    )
    assert answer["allowed"] is False
    assert answer["status"]["message"].startswith('URL "" is invalid: ')


def test_valid_subscription_is_allowed(client: Client) -> None:
    answer = response(
        *client.post(
            review("CREATE", subscription(), kind=SUBSCRIPTION), path=BMCEVENTSUBSCRIPTION_PATH
        )
    )
    assert answer["allowed"] is True


def test_subscription_create_rules_are_aggregated(client: Client) -> None:
    bad = subscription(
        hostName="",
        destination="https://events.example.com",
        httpHeadersRef={"name": "headers", "namespace": "other"},
    )
    answer = response(
        *client.post(review("CREATE", bad, kind=SUBSCRIPTION), path=BMCEVENTSUBSCRIPTION_PATH)
    )
    assert answer["allowed"] is False
    assert answer["status"]["message"] == (
        "[hostName cannot be empty, httpHeadersRef secret must be in the same namespace as "
        "the BMCEventSubscription, hostname-only destination must have a trailing slash]"
    )


def test_subscription_spec_is_immutable(client: Client) -> None:
    old = subscription()
    new = subscription(destination="https://other.example.com/hook")
    answer = response(
        *client.post(review("UPDATE", new, old, kind=SUBSCRIPTION), path=BMCEVENTSUBSCRIPTION_PATH)
    )
    assert answer["allowed"] is False
    assert answer["status"]["message"] == "subscriptions cannot be updated, please recreate it"


def test_subscription_update_does_not_rerun_the_create_rules(client: Client) -> None:
    """An object admitted before a rule existed can still get its metadata written."""
    old = subscription(hostName="")
    new = subscription(hostName="")
    new["metadata"]["labels"] = {"a": "b"}
    answer = response(
        *client.post(review("UPDATE", new, old, kind=SUBSCRIPTION), path=BMCEVENTSUBSCRIPTION_PATH)
    )
    assert answer["allowed"] is True


def test_each_path_validates_only_its_kind(client: Client) -> None:
    """A BareMetalHost sent to the DataImage path is not judged by DataImage rules."""
    answer = response(
        *client.post(
            review("CREATE", data_image("ftp://x"), kind=DATAIMAGE),
            path=BMCEVENTSUBSCRIPTION_PATH,
        )
    )
    assert answer["allowed"] is True


def test_undecodable_subscription_is_400(client: Client) -> None:
    bad = subscription()
    bad["spec"]["httpHeadersRef"] = "not-an-object"
    answer = response(
        *client.post(review("CREATE", bad, kind=SUBSCRIPTION), path=BMCEVENTSUBSCRIPTION_PATH)
    )
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 400
    assert "cannot be decoded as a BMCEventSubscription" in answer["status"]["message"]
