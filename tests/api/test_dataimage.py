"""DataImage types and the webhook's URL rule, with upstream's messages."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bmo.api.dataimage import (
    AttachedImageReference,
    DataImage,
    DataImageError,
    DataImageSpec,
    DataImageStatus,
    validate_data_image,
)
from bmo.api.meta import ObjectMeta
from bmo.api.validation import ValidationProblem

FULL: dict[str, Any] = {
    "apiVersion": "metal3.io/v1alpha1",
    "kind": "DataImage",
    "metadata": {"name": "worker-0", "namespace": "metal3", "creationTimestamp": None},
    "spec": {"url": "http://192.0.2.1/data.iso"},
    "status": {
        "lastReconciled": "2025-01-02T03:04:05Z",
        "attachedImage": {"url": "http://192.0.2.1/data.iso"},
        "error": {"count": 2, "message": "virtual media is busy"},
    },
}


def test_round_trip_is_lossless() -> None:
    image = DataImage.from_dict(copy.deepcopy(FULL))
    assert image.status.last_reconciled == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert image.status.error == DataImageError(2, "virtual media is busy")
    assert image.is_attached()
    assert image.to_dict() == FULL


def test_required_fields_are_always_emitted() -> None:
    out = DataImage(
        metadata=ObjectMeta(name="h"),
        status=DataImageStatus(attached_image=AttachedImageReference(), error=DataImageError()),
    ).to_dict()
    assert out["spec"] == {"url": ""}
    assert out["status"] == {"attachedImage": {"url": ""}, "error": {"count": 0, "message": ""}}
    assert DataImage().to_dict()["status"] == {}
    assert not DataImage().is_attached()


def _image(url: str) -> DataImage:
    return DataImage(metadata=ObjectMeta(name="test", namespace="ns"), spec=DataImageSpec(url))


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/abc/abc.php",
        "https://192.0.2.1/data.iso",
        "HTTP://192.0.2.1/data.iso",
        "oci://registry.example.com/data:1",
        "ftp://192.0.2.1/data.iso",
    ],
)
def test_accepted_urls(url: str) -> None:
    assert validate_data_image(_image(url)) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # upstream dataimage_validation_test.go TestDataImageValidateCreate
        ("abc", 'URL "abc" is invalid: parse "abc": invalid URI for request'),
        (
            "unix://localhost/abc/abc.php",
            'URL "unix://localhost/abc/abc.php" is invalid: invalid scheme in URL, '
            '"unix" not allowed',
        ),
        ("", 'URL "" is invalid: parse "": empty url'),
        # and what url.ParseRequestURI rejects beyond them
        (
            "http://192.0.2.1:port/x",
            'URL "http://192.0.2.1:port/x" is invalid: parse "http://192.0.2.1:port/x": '
            'invalid port ":port" after host',
        ),
        (
            "file:///srv/data.iso",
            'URL "file:///srv/data.iso" is invalid: invalid scheme in URL, "file" not allowed',
        ),
    ],
)
def test_rejected_urls_have_upstream_messages(url: str, message: str) -> None:
    assert validate_data_image(_image(url)) == [ValidationProblem("spec.url", message)]
