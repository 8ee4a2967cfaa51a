"""The opt-in credentials policy at admission: a BareMetalHost may name only Secrets that
carry the required label. The webhook has no client: a lookup is injected (``bmo run``
feeds it from a Secret cache); here a dict stands in for it."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bmo.api.secretpolicy import CredentialsSecretPolicy
from bmo.webhook import GroupVersionKind, WebhookConfig, WebhookServer, decide
from bmo.webhook.admission import AdmissionRequest
from bmo.webhook.config import CredentialsCheck
from tests.webhook.conftest import Client

LABEL = ("metal3.io/bmc-credentials", "true")
SECRETS: dict[tuple[str, str], Mapping[str, str]] = {
    ("ns", "good"): {LABEL[0]: LABEL[1]},
    ("ns", "db-password"): {"app": "db"},
}


def lookup(namespace: str, name: str) -> Mapping[str, str] | None:
    return SECRETS.get((namespace, name))


CHECK = CredentialsCheck(CredentialsSecretPolicy(label=LABEL), lookup)


def _host(credentials: str, online: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "h", "namespace": "ns"},
        "spec": {
            "online": online,
            "bmc": {"address": "ipmi://192.0.2.1", "credentialsName": credentials},
        },
    }


def _request(operation: str, new: dict[str, Any], old: dict[str, Any] | None) -> AdmissionRequest:
    return AdmissionRequest(
        review_api_version="admission.k8s.io/v1",
        uid="u",
        operation=operation,
        kind=GroupVersionKind("metal3.io", "v1alpha1", "BareMetalHost"),
        namespace="ns",
        name="h",
        object=new,
        old_object=old,
    )


def test_unlabelled_secret_is_denied_naming_label_and_fix() -> None:
    decision = decide(_request("CREATE", _host("db-password"), None), credentials=CHECK)
    assert (decision.allowed, decision.code) == (False, 403)
    assert "ns/db-password lacks the label metal3.io/bmc-credentials=true" in decision.message
    assert decision.fields == ("spec.bmc.credentialsName",)


@pytest.mark.parametrize("name", ["good", "not-yet-created"])
def test_labelled_or_absent_secret_is_allowed(name: str) -> None:
    """An absent Secret is the controller's to report (it may be created next)."""
    assert decide(_request("CREATE", _host(name), None), credentials=CHECK).allowed


def test_switching_an_existing_host_to_an_unlabelled_secret_is_denied() -> None:
    decision = decide(_request("UPDATE", _host("db-password"), _host("good")), credentials=CHECK)
    assert not decision.allowed


def test_other_updates_do_not_look_the_secret_up_again() -> None:
    """A label removed later must not freeze every other change to the host."""
    decision = decide(
        _request("UPDATE", _host("db-password", online=False), _host("db-password")),
        credentials=CHECK,
    )
    assert decision.allowed


def test_policy_off_allows_anything() -> None:
    off = CredentialsCheck(CredentialsSecretPolicy(), lookup)
    assert decide(_request("CREATE", _host("db-password"), None), credentials=off).allowed
    assert decide(_request("CREATE", _host("db-password"), None)).allowed


def test_a_failing_lookup_is_a_500_not_an_allow() -> None:
    def broken(namespace: str, name: str) -> Mapping[str, str] | None:
        raise OSError("cache unavailable")

    check = CredentialsCheck(CredentialsSecretPolicy(label=LABEL), broken)
    decision = decide(_request("CREATE", _host("good"), None), credentials=check)
    assert (decision.allowed, decision.code) == (False, 500)


def test_the_server_applies_the_injected_policy(
    cert_dir: Path, client_context: ssl.SSLContext
) -> None:
    config = WebhookConfig(host="127.0.0.1", port=0, cert_dir=str(cert_dir), credentials=CHECK)
    server = WebhookServer(config)
    server.start()
    client = Client(server, client_context)
    try:
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u1",
                "operation": "CREATE",
                "kind": {"group": "metal3.io", "version": "v1alpha1", "kind": "BareMetalHost"},
                "namespace": "ns",
                "name": "h",
                "object": _host("db-password"),
            },
        }
        status, answer = client.post(review)
        assert status == 200
        assert answer["response"]["allowed"] is False
        assert "lacks the label" in answer["response"]["status"]["message"]
    finally:
        client.close()
        server.stop()
