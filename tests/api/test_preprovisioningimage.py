"""PreprovisioningImage types: Go's JSON shape, the condition vocabulary, format choice."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from bmo.api.meta import Condition, ObjectMeta
from bmo.api.preprovisioningimage import (
    CONDITION_IMAGE_ERROR,
    CONDITION_IMAGE_READY,
    ImageConditionReason,
    PreprovisioningImage,
    PreprovisioningImageFormat,
    PreprovisioningImageSpec,
    PreprovisioningImageStatus,
    SecretStatus,
    choose_format,
)

FULL: dict[str, Any] = {
    "apiVersion": "metal3.io/v1alpha1",
    "kind": "PreprovisioningImage",
    "metadata": {
        "name": "worker-0",
        "namespace": "metal3",
        "creationTimestamp": "2025-01-02T03:04:05Z",
        "finalizers": ["preprovisioningimage.metal3.io"],
        "ownerReferences": [
            {
                "apiVersion": "metal3.io/v1alpha1",
                "kind": "BareMetalHost",
                "name": "worker-0",
                "uid": "u-1",
                "controller": True,
            }
        ],
    },
    "spec": {
        "networkDataName": "worker-0-network",
        "architecture": "aarch64",
        "acceptFormats": ["iso", "initrd"],
    },
    "status": {
        "imageUrl": "http://192.0.2.1/ipa.initrd",
        "kernelUrl": "http://192.0.2.1/ipa.kernel",
        "extraKernelParams": "console=ttyS0",
        "format": "initrd",
        "networkData": {"name": "worker-0-network", "version": "42"},
        "architecture": "aarch64",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "observedGeneration": 2,
                "lastTransitionTime": "2025-01-02T03:05:00Z",
                "reason": "ImageSuccess",
                "message": "Generated image",
            },
            {
                "type": "Error",
                "status": "False",
                "observedGeneration": 2,
                "lastTransitionTime": "2025-01-02T03:05:00Z",
                "reason": "ImageSuccess",
                "message": "",
            },
        ],
    },
}


def test_round_trip_is_lossless() -> None:
    image = PreprovisioningImage.from_dict(copy.deepcopy(FULL))
    assert image.spec.accept_formats == ("iso", "initrd")
    assert image.status.network_data == SecretStatus("worker-0-network", "42")
    assert image.to_dict() == FULL
    assert PreprovisioningImage.from_dict(image.to_dict()) == image


def test_empty_object_serialises_as_go_does() -> None:
    # networkData is a value struct: encoding/json emits it even with omitempty.
    out = PreprovisioningImage(metadata=ObjectMeta(name="h")).to_dict()
    assert out["spec"] == {}
    assert out["status"] == {"networkData": {}}


def test_decoding_tolerates_nulls_and_unknown_fields() -> None:
    image = PreprovisioningImage.from_dict(
        {"metadata": {"name": "h"}, "spec": None, "status": {"conditions": None, "future": 1}}
    )
    assert image.spec == PreprovisioningImageSpec()
    assert image.status == PreprovisioningImageStatus()
    assert image.kind == "PreprovisioningImage"


def _condition(type_: str, status: str, message: str = "") -> Condition:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    return Condition(type_, status, 1, when, ImageConditionReason.SUCCESS, message)


def test_ready_and_error_are_read_from_conditions() -> None:
    ready = PreprovisioningImageStatus(
        conditions=(_condition(CONDITION_IMAGE_READY, "True"), _condition("Error", "False"))
    )
    assert ready.is_ready() and ready.error_message() is None

    failed = PreprovisioningImageStatus(
        conditions=(
            _condition(CONDITION_IMAGE_READY, "False"),
            _condition(CONDITION_IMAGE_ERROR, "True", "No acceptable image format supported"),
        )
    )
    assert not failed.is_ready()
    assert failed.error_message() == "No acceptable image format supported"
    assert not PreprovisioningImageStatus().is_ready()
    assert PreprovisioningImageStatus().condition(CONDITION_IMAGE_READY) is None


def test_config_changed_compares_format_architecture_and_network_data() -> None:
    image = PreprovisioningImage.from_dict(copy.deepcopy(FULL))
    current = SecretStatus("worker-0-network", "42")
    assert not image.config_changed("initrd", current)
    assert image.config_changed("iso", current)
    assert image.config_changed("initrd", SecretStatus("worker-0-network", "43"))
    moved = PreprovisioningImage(
        spec=PreprovisioningImageSpec(architecture="x86_64"), status=image.status
    )
    assert moved.config_changed("initrd", current)


def test_choose_format_follows_the_requesters_preference() -> None:
    iso, initrd = PreprovisioningImageFormat.ISO, PreprovisioningImageFormat.INITRD
    assert choose_format([iso, initrd], lambda f: True) == iso
    assert choose_format([initrd, iso], lambda f: True) == initrd
    assert choose_format([iso, initrd], lambda f: f == initrd) == initrd
    assert choose_format([iso], lambda f: f == initrd) == ""
    assert choose_format([], lambda f: True) == ""


def test_wire_values_match_upstream() -> None:
    assert PreprovisioningImageFormat.ALL == ("iso", "initrd")
    assert (
        ImageConditionReason.SUCCESS,
        ImageConditionReason.CONFIGURATION_ERROR,
        ImageConditionReason.MISSING_NETWORK_DATA,
        ImageConditionReason.BUILD_INVALID,
    ) == ("ImageSuccess", "ConfigurationError", "MissingNetworkData", "ImageBuildInvalid")
    assert (CONDITION_IMAGE_READY, CONDITION_IMAGE_ERROR) == ("Ready", "Error")
