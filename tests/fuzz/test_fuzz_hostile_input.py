"""Property-based fuzzing of everything that reads user-controlled text: the safe decoder,
the annotation readers, ``bmo validate``, the webhook's admission function and one
reconcile pass with the fixture provisioner. Zero crashes: only the documented error types
may escape, and the webhook never answers 500 (that would be a bug in a rule).

Bounded in time (``max_examples`` and ``deadline`` per test, about 30 s in all on a loaded
2-core machine) and derandomized, so CI is repeatable; run with ``--hypothesis-seed`` and
a larger ``HYPOTHESIS_MAX_EXAMPLES``-style profile locally to search harder.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmo.api.annotations import (
    InvalidAnnotationError,
    parse_detached_annotation,
    parse_reboot_annotation,
)
from bmo.api.errors import APIError
from bmo.api.golang.json import GoJSONError, go_json_decode
from bmo.api.hardware import HardwareDetails
from bmo.api.host import BareMetalHost, BareMetalHostStatus
from bmo.api.safejson import loads
from bmo.api.validation import validate_create
from bmo.cli import main
from bmo.controllers.baremetalhost.hardwaredata import (
    InvalidHardwareDetails,
    hardware_details_change,
    restored_status,
)
from bmo.webhook import GroupVersionKind, MalformedReviewError, decide, parse_review
from bmo.webhook.admission import AdmissionRequest
from tests.fuzz.strategies import (
    annotations,
    host_documents,
    hostile_texts,
    json_values,
    valid_host,
)
from tests.provisioner.harness import Harness

FUZZ = settings(
    max_examples=150,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW_FUZZ = settings(FUZZ, max_examples=60)

BMH = GroupVersionKind("metal3.io", "v1alpha1", "BareMetalHost")


@FUZZ
@given(hostile_texts)
def test_safe_decoder_raises_only_value_errors(text: str) -> None:
    with contextlib.suppress(ValueError):
        loads(text, what="fuzz")
    with contextlib.suppress(GoJSONError):
        go_json_decode(text, HardwareDetails, strict=True, stream=True)


@FUZZ
@given(hostile_texts)
def test_annotation_readers_never_crash(text: str) -> None:
    parse_detached_annotation(text)
    with contextlib.suppress(InvalidAnnotationError):
        parse_reboot_annotation(text)


@FUZZ
@given(annotations)
def test_webhook_rules_never_crash_on_annotations(values: dict[str, str]) -> None:
    doc = valid_host()
    doc["metadata"]["annotations"] = values
    host = BareMetalHost.from_dict(doc)
    problems = validate_create(host)
    assert all(problem.message for problem in problems)


def _request(operation: str, new: Any, old: Any) -> AdmissionRequest:
    return AdmissionRequest(
        review_api_version="admission.k8s.io/v1",
        uid="u",
        operation=operation,
        kind=BMH,
        namespace="fuzz",
        name="fuzz-0",
        object=new,
        old_object=old,
    )


@FUZZ
@given(host_documents(), st.sampled_from(["CREATE", "UPDATE"]))
def test_webhook_decision_is_never_a_500(doc: dict[str, Any], operation: str) -> None:
    old = valid_host() if operation == "UPDATE" else None
    decision = decide(_request(operation, doc, old))
    assert decision.code in (200, 400, 403), decision
    if operation == "UPDATE" and isinstance(doc.get("metadata"), dict):
        # The same document as the old object, deleting, finalizer removed: always allowed.
        deleting = copy.deepcopy(doc)
        deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        released = copy.deepcopy(deleting)
        released["metadata"]["finalizers"] = []
        assert decide(_request("UPDATE", released, deleting)).allowed


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        host_documents().map(
            lambda doc: json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {
                        "uid": "u",
                        "operation": "CREATE",
                        "kind": {
                            "group": "metal3.io",
                            "version": "v1alpha1",
                            "kind": "BareMetalHost",
                        },
                        "object": doc,
                    },
                }
            ).encode()
        ),
        hostile_texts.map(str.encode),
    )
)
def test_admission_body_is_parsed_or_malformed(body: bytes) -> None:
    try:
        request = parse_review(body)
    except MalformedReviewError:
        return
    assert decide(request).code in (200, 400, 403)


def _validate(text: str) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(text)
        path = handle.name
    try:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", path])
        return code, out.getvalue() + err.getvalue()
    finally:
        os.unlink(path)


@SLOW_FUZZ
@given(
    st.one_of(
        host_documents().map(yaml.safe_dump),
        st.lists(host_documents(), min_size=1, max_size=3).map(yaml.safe_dump_all),
        st.text(max_size=300),
        hostile_texts,
    )
)
def test_bmo_validate_exits_0_1_or_2_without_a_traceback(text: str) -> None:
    code, output = _validate(text)
    assert code in (0, 1, 2)
    assert "Traceback" not in output


@SLOW_FUZZ
@given(host_documents())
def test_one_reconcile_pass_never_crashes(doc: dict[str, Any]) -> None:
    try:
        host = BareMetalHost.from_dict(doc)
    except (APIError, ValueError, TypeError):
        return  # the reconciler turns this into a TerminalError naming the host
    try:
        restored_status(host, None)
        hardware_details_change(host, None)
    except InvalidHardwareDetails:
        pass
    outcome = Harness().run(host)
    assert isinstance(outcome.host.status, BareMetalHostStatus)
