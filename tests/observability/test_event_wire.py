"""An Event created through the thin JSON path is, byte for byte, the request the recorder
sent when it built a ``CoreV1Event`` model and called ``CoreV1Api.create_namespaced_event``;
a repeat's bump is ``patch_namespaced_event``'s request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.api.meta import ObjectReference
from bmo.controllers.baremetalhost.events import EventRecorder, EventTarget
from tests.runtime.test_jsonapi import CaptureServer, capture

__all__ = ["capture"]  # a fixture, imported so pytest finds it here too

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)

TARGETS = {
    "host": EventTarget(name="worker-0", namespace="ns", uid="uid-1", resource_version="42"),
    "no uid": EventTarget(name="worker-0", namespace="ns"),
    "consumer": EventTarget(
        name="worker-0",
        namespace="ns",
        uid="uid-1",
        related=ObjectReference(
            kind="Metal3Machine", namespace="ns", name="m-0", api_version="infra/v1", uid="u2"
        ),
    ),
    "firmware": EventTarget(
        name="worker-0", namespace="ns", kind="HostFirmwareSettings", uid="uid-3"
    ),
}


def _model_request(target: EventTarget, reason: str, message: str, kind: str) -> dict[str, Any]:
    """The body the recorder built before the thin path, as the model sent it."""
    stamp = WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{reason.lower()}-", "namespace": target.namespace},
        "involvedObject": target.involved_object(),
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": "metal3-baremetal-controller"},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "reportingComponent": "metal3.io/baremetal-controller",
        "reportingInstance": "pod-0",
    }
    related = target.related_object()
    if related is not None:
        body["related"] = related
    return body


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize(
    ("reason", "message", "kind"),
    [
        ("Registered", "Registered new host", "Normal"),
        ("ProvisioningError", 'naïve "quoted"\nline ✓', "Warning"),
    ],
)
def test_an_event_is_created_with_the_models_bytes(
    capture: CaptureServer, target: str, reason: str, message: str, kind: str
) -> None:
    capture.answer = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "registered-abcde", "namespace": "ns"},
            "involvedObject": {"kind": "BareMetalHost", "name": "worker-0"},
        }
    ).encode()
    client = k8s.ApiClient(k8s.Configuration(host=capture.url))
    try:
        event = k8s.CoreV1Event.from_dict(_model_request(TARGETS[target], reason, message, kind))
        assert event is not None
        k8s.CoreV1Api(client).create_namespaced_event("ns", event, _request_timeout=10.0)
        recorder = EventRecorder(client, reporting_instance="pod-0", clock=lambda: WHEN)
        recorder.emit(TARGETS[target], reason, message, kind)
        recorder.emit(TARGETS[target], reason, message, kind)  # a repeat: a bump
        k8s.CoreV1Api(client).patch_namespaced_event(
            "registered-abcde",
            "ns",
            {"count": 2, "lastTimestamp": WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")},
            _content_type="application/strategic-merge-patch+json",
            _request_timeout=10.0,
        )
    finally:
        client.close()
    model_create, thin_create, thin_bump, model_bump = capture.captured
    assert thin_create == model_create
    assert thin_bump == model_bump
    sent = json.loads(thin_create.body)
    assert sent["reason"] == reason and sent["message"] == message
    assert sent["firstTimestamp"] == "2026-03-04T05:06:07+00:00"
