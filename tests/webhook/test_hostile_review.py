"""Hostile AdmissionReviews get a 400 naming the problem, never a 500; and the webhook never
stands between an object being deleted and the removal of its finalizers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bmo.api.constants import DETACHED_ANNOTATION
from bmo.webhook import GroupVersionKind, MalformedReviewError, decide, parse_review
from bmo.webhook.admission import AdmissionRequest

BMH = {"group": "metal3.io", "version": "v1alpha1", "kind": "BareMetalHost"}


def _review(obj: Any) -> bytes:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u1",
            "operation": "CREATE",
            "kind": BMH,
            "namespace": "ns",
            "name": "h",
            "object": obj,
        },
    }
    return json.dumps(review).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _review({"metadata": {}, "spec": {"x": 1}}).replace(b'"x": 1', b'"x": ' + b"9" * 5000),
            "digits",
        ),
        (
            _review({}).replace(b'"object": {}', b'"object": ' + b"[" * 20000 + b"]" * 20000),
            "deeper",
        ),
        (
            _review({"metadata": {"annotations": {"a": "\u00e9"}}}).replace(b"\\u00e9", b"\xff"),
            "UTF-8",
        ),
    ],
    ids=["5000-digit number", "deep nesting", "not UTF-8"],
)
def test_hostile_body_is_a_malformed_review(body: bytes, message: str) -> None:
    with pytest.raises(MalformedReviewError, match=message):
        parse_review(body)


def _host(deleting: bool, finalizers: list[str], **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "h", "namespace": "ns", "finalizers": finalizers}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    # A BMC address no rule accepts: the host breaks a create rule.
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": metadata,
        "spec": {"online": False, "bmc": {"address": "bogus://x", "credentialsName": "c"}, **spec},
    }


def _update(old: dict[str, Any], new: dict[str, Any]) -> AdmissionRequest:
    return AdmissionRequest(
        review_api_version="admission.k8s.io/v1",
        uid="u",
        operation="UPDATE",
        kind=GroupVersionKind("metal3.io", "v1alpha1", "BareMetalHost"),
        namespace="ns",
        name="h",
        object=new,
        old_object=old,
    )


def test_finalizer_removal_of_a_deleting_invalid_host_is_allowed() -> None:
    old = _host(True, ["metal3.io/baremetalhost"])
    new = _host(True, [])
    decision = decide(_update(old, new))
    assert (decision.allowed, decision.code) == (True, 200)


def test_metadata_change_of_a_deleting_host_with_hostile_annotation_is_allowed() -> None:
    old = _host(True, ["metal3.io/baremetalhost"])
    old["metadata"]["annotations"] = {DETACHED_ANNOTATION: "[" * 5000}
    new = json.loads(json.dumps(old))
    new["metadata"]["finalizers"] = []
    assert decide(_update(old, new)).allowed


def test_spec_change_of_a_deleting_host_is_still_validated() -> None:
    old = _host(True, ["metal3.io/baremetalhost"])
    new = _host(True, ["metal3.io/baremetalhost"], online=True)
    decision = decide(_update(old, new))
    assert (decision.allowed, decision.code) == (False, 403)


def test_metadata_change_of_a_live_invalid_host_is_still_validated() -> None:
    old = _host(False, ["metal3.io/baremetalhost"])
    new = _host(False, [])
    assert not decide(_update(old, new)).allowed
