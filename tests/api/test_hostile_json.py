"""Hostile JSON in annotations and documents: bounded, named errors, never a crash.

Before :mod:`bmo.api.safejson`, a deeply nested annotation raised ``RecursionError`` (no
``except ValueError`` catches it) on every reconcile of the host, and a 5000-digit number a
bare ``ValueError`` that the webhook answered with a 500.
"""

from __future__ import annotations

import pytest

from bmo.api.annotations import (
    DetachedAnnotationArguments,
    InvalidAnnotationError,
    parse_detached_annotation,
    parse_reboot_annotation,
)
from bmo.api.constants import (
    DETACHED_ANNOTATION,
    HARDWARE_DETAILS_ANNOTATION,
    INSPECT_ANNOTATION,
    REBOOT_ANNOTATION,
    STATUS_ANNOTATION,
)
from bmo.api.golang.json import GoJSONError, go_json_decode
from bmo.api.hardware import HardwareDetails
from bmo.api.host import BareMetalHost, BareMetalHostSpec
from bmo.api.meta import ObjectMeta
from bmo.api.safejson import (
    MAX_ANNOTATION_BYTES,
    MAX_DEPTH,
    JSONLimitError,
    check_limits,
    loads,
)
from bmo.api.validation import validate_create

DEEP = "[" * 50_000 + "]" * 50_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000
HUGE_NUMBER = '{"deleteAction": "delay", "force": ' + "9" * 5000 + "}"


def host(annotations: dict[str, str]) -> BareMetalHost:
    return BareMetalHost(
        metadata=ObjectMeta(name="h", namespace="ns", annotations=annotations),
        spec=BareMetalHostSpec(),
    )


@pytest.mark.parametrize("text", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_nesting_is_a_named_limit_error(text: str) -> None:
    with pytest.raises(JSONLimitError) as info:
        loads(text, what="annotation x")
    assert info.value.path == "annotation x"
    assert f"deeper than {MAX_DEPTH}" in str(info.value)


def test_brackets_inside_strings_do_not_count() -> None:
    assert loads(f'{{"k": "{"[" * 5000}"}}', what="x") == {"k": "[" * 5000}


def test_depth_at_the_limit_decodes() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH, what="x") is not None


def test_huge_integer_is_a_named_limit_error() -> None:
    with pytest.raises(JSONLimitError, match="digits"):
        loads("9" * 5000, what="x")


def test_oversized_and_non_utf8_text() -> None:
    with pytest.raises(JSONLimitError, match="exceed the limit"):
        check_limits(
            '"' + "a" * MAX_ANNOTATION_BYTES + '"', what="a", max_bytes=MAX_ANNOTATION_BYTES
        )
    with pytest.raises(JSONLimitError, match="not UTF-8"):
        loads(b'{"a": "\xff"}', what="body")


def test_syntax_errors_stay_json_errors() -> None:
    with pytest.raises(ValueError):
        loads("{", what="x")
    with pytest.raises(ValueError):
        loads("NaN", what="x")


@pytest.mark.parametrize("text", [DEEP, DEEP_OBJECT, HUGE_NUMBER])
def test_go_decoder_reports_hostile_json_as_a_go_error(text: str) -> None:
    with pytest.raises(GoJSONError):
        go_json_decode(text, HardwareDetails, strict=True, stream=True)


@pytest.mark.parametrize("text", [DEEP, DEEP_OBJECT, HUGE_NUMBER])
def test_detached_annotation_hostile_value_means_defaults(text: str) -> None:
    assert parse_detached_annotation(text) == DetachedAnnotationArguments()


@pytest.mark.parametrize("text", [DEEP, DEEP_OBJECT, "9" * 5000])
def test_reboot_annotation_hostile_value_is_invalid(text: str) -> None:
    with pytest.raises(InvalidAnnotationError):
        parse_reboot_annotation(text)


@pytest.mark.parametrize("text", [DEEP, DEEP_OBJECT, HUGE_NUMBER])
@pytest.mark.parametrize(
    ("key", "extra"),
    [
        (STATUS_ANNOTATION, {}),
        (REBOOT_ANNOTATION, {}),
        (HARDWARE_DETAILS_ANNOTATION, {INSPECT_ANNOTATION: "disabled"}),
        (DETACHED_ANNOTATION, {}),
    ],
)
def test_webhook_rules_reject_hostile_annotations(
    key: str, extra: dict[str, str], text: str
) -> None:
    problems = validate_create(host({key: text, **extra}))
    assert [p.field for p in problems] == [f"metadata.annotations[{key}]"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", None),
        ('{"deleteAction": "delay"}', None),
        ('{"deleteAction": "delete", "force": true}', None),
        ("{", "failed to unmarshal the data from the baremetalhost.metal3.io/detached"),
        ('{"deleteAction": "later"}', "invalid deleteAction in the baremetalhost.metal3.io"),
        ('{"force": "yes"}', "failed to unmarshal"),
    ],
)
def test_webhook_validates_the_detached_annotation(value: str, message: str | None) -> None:
    problems = validate_create(host({DETACHED_ANNOTATION: value}))
    if message is None:
        assert problems == []
    else:
        assert len(problems) == 1 and message in problems[0].message


def test_annotation_over_the_size_limit_is_rejected_by_name() -> None:
    value = '{"deleteAction": "delay", "x": "' + "a" * MAX_ANNOTATION_BYTES + '"}'
    problems = validate_create(host({DETACHED_ANNOTATION: value}))
    assert len(problems) == 1 and "exceeds the limit" in problems[0].message
    assert "aaaa" not in problems[0].message
