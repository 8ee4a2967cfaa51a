"""The webhook's pure parts: aggregation, decisions without a server, and its flags."""

from __future__ import annotations

import argparse
import ssl

import pytest
from structlog.testing import capture_logs

from bmo.api.validation import ValidationProblem
from bmo.webhook import (
    DEFAULT_CERT_DIR,
    Decision,
    GroupVersionKind,
    WebhookConfig,
    WebhookConfigError,
    add_arguments,
    aggregate,
    decide,
    from_args,
    parse_tls_version,
)
from bmo.webhook.admission import AdmissionRequest

BMH = GroupVersionKind("metal3.io", "v1alpha1", "BareMetalHost")


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], ""),
        (["a"], "a"),
        (["a", "b"], "[a, b]"),
        (["a", "a"], "a"),  # de-duplicated down to one: no brackets, like Go
        (["a", "b", "a", "c"], "[a, b, c]"),
    ],
)
def test_aggregate_matches_utilerrors(messages: list[str], expected: str) -> None:
    assert aggregate(messages) == expected


def test_deny_keeps_each_field_once() -> None:
    decision = Decision.deny(
        [ValidationProblem("spec.x", "one"), ValidationProblem("spec.x", "two")]
    )
    assert decision.fields == ("spec.x",)
    assert decision.status() == {
        "metadata": {},
        "message": "[one, two]",
        "reason": "Forbidden",
        "code": 403,
    }


def _request(obj: dict[str, object]) -> AdmissionRequest:
    return AdmissionRequest(
        review_api_version="admission.k8s.io/v1",
        uid="u",
        operation="CREATE",
        kind=BMH,
        namespace="ns",
        name="h",
        object=obj,
        old_object=None,
    )


def test_a_bug_in_a_rule_is_a_500_without_the_details(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> list[ValidationProblem]:
        raise RuntimeError("secret-value-in-message")

    monkeypatch.setattr("bmo.webhook.admission.validate_create", broken)
    with capture_logs() as logs:
        decision = decide(_request({"metadata": {}, "spec": {}}))
    assert (decision.allowed, decision.code) == (False, 500)
    assert "secret-value-in-message" not in decision.message
    assert "secret-value-in-message" not in repr(logs)
    assert logs[0]["error_type"] == "RuntimeError"


def test_metadata_that_is_not_an_object_is_a_400() -> None:
    decision = decide(_request({"metadata": "x"}))
    assert (decision.allowed, decision.code) == (False, 400)
    assert decision.message == "request.object.metadata: expected an object"


# --- flags ---------------------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flag_defaults_are_controller_runtimes() -> None:
    config = from_args(_parse(), port=9443)
    assert config == WebhookConfig()
    assert config.cert_dir == DEFAULT_CERT_DIR == "/tmp/k8s-webhook-server/serving-certs"
    assert config.tls_min_version == ssl.TLSVersion.TLSv1_2


def test_flags_are_applied() -> None:
    args = _parse("--webhook-cert-dir", "/certs", "--tls-min-version", "TLS13")
    config = from_args(args, port=0, allow_development=True)
    assert (config.cert_dir, config.tls_min_version, config.allow_development) == (
        "/certs",
        ssl.TLSVersion.TLSv1_3,
        True,
    )


def test_unknown_tls_version_names_the_flag() -> None:
    with pytest.raises(WebhookConfigError, match=r"--tls-min-version 'TLS10'.*TLS12, TLS13"):
        parse_tls_version("TLS10", "--tls-min-version")


def test_min_above_max_is_rejected() -> None:
    with pytest.raises(WebhookConfigError, match="--tls-min-version TLS13 is above"):
        from_args(_parse("--tls-min-version", "TLS13", "--tls-max-version", "TLS12"), port=1)


def test_port_out_of_range_is_rejected() -> None:
    with pytest.raises(WebhookConfigError, match="out of range"):
        WebhookConfig(port=70000)
