"""Events on BareMetalHosts, against the Kubernetes API emulator through the real client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
import structlog.testing
from kubernetes import client

from bmo.api.host import BareMetalHost, BareMetalHostSpec
from bmo.api.meta import ObjectMeta, ObjectReference
from bmo.controllers.baremetalhost.events import (
    REPORTING_CONTROLLER,
    SOURCE_COMPONENT,
    EventRecorder,
    EventTarget,
    scrub_message,
)

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder(kube_api_client: client.ApiClient, clock: Clock) -> EventRecorder:
    return EventRecorder(kube_api_client, reporting_instance="bmo-pod-0", clock=clock)


@pytest.fixture
def core(kube_api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api_client)


def make_host(namespace: str, consumer: ObjectReference | None = None) -> BareMetalHost:
    return BareMetalHost(
        metadata=ObjectMeta(
            name="worker-0", namespace=namespace, uid="uid-1", resource_version="42"
        ),
        spec=BareMetalHostSpec(consumer_ref=consumer),
    )


def events(core: client.CoreV1Api, namespace: str) -> list[dict[str, Any]]:
    raw = core.list_namespaced_event(namespace)
    items: list[dict[str, Any]] = core.api_client.sanitize_for_serialization(raw)["items"]
    return sorted(items, key=lambda e: (e["reason"], e["message"]))


def test_event_has_the_upstream_fields(
    recorder: EventRecorder, core: client.CoreV1Api, kube_namespace: str
) -> None:
    consumer = ObjectReference(
        kind="Machine",
        namespace=kube_namespace,
        name="m-0",
        api_version="cluster.x-k8s.io/v1beta1",
        uid="m-uid",
    )
    recorder.publish(make_host(kube_namespace, consumer), "Registered", "Registered new host")
    [event] = events(core, kube_namespace)
    assert event["metadata"]["generateName"] == "registered-"
    assert event["metadata"]["name"].startswith("registered-")
    assert event["type"] == "Normal"
    assert event["reason"] == "Registered"
    assert event["message"] == "Registered new host"
    assert event["source"] == {"component": SOURCE_COMPONENT}
    assert event["reportingComponent"] == REPORTING_CONTROLLER
    assert event["reportingInstance"] == "bmo-pod-0"
    assert event["count"] == 1
    assert event["involvedObject"] == {
        "kind": "BareMetalHost",
        "apiVersion": "metal3.io/v1alpha1",
        "name": "worker-0",
        "namespace": kube_namespace,
        "uid": "uid-1",
        "resourceVersion": "42",
    }
    assert event["related"] == {
        "kind": "Machine",
        "namespace": kube_namespace,
        "name": "m-0",
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "uid": "m-uid",
    }
    first = datetime.fromisoformat(event["firstTimestamp"])
    assert first == T0
    assert datetime.fromisoformat(event["lastTimestamp"]) == T0


def test_no_related_without_consumer_ref(
    recorder: EventRecorder, core: client.CoreV1Api, kube_namespace: str
) -> None:
    recorder.publish(make_host(kube_namespace), "PowerOn", "Host powered on")
    [event] = events(core, kube_namespace)
    assert event.get("related") is None


def test_warning_type(recorder: EventRecorder, core: client.CoreV1Api, kube_namespace: str) -> None:
    recorder.publish(
        make_host(kube_namespace), "ImageAuthParseError", "cannot parse auth", "Warning"
    )
    [event] = events(core, kube_namespace)
    assert event["type"] == "Warning"


def test_repeat_is_aggregated(
    recorder: EventRecorder, clock: Clock, core: client.CoreV1Api, kube_namespace: str
) -> None:
    h = make_host(kube_namespace)
    recorder.publish(h, "RegistrationError", "Failed to get power state")
    clock.advance(30)
    recorder.publish(h, "RegistrationError", "Failed to get power state")
    [event] = events(core, kube_namespace)
    assert event["count"] == 2
    assert datetime.fromisoformat(event["firstTimestamp"]) == T0
    assert datetime.fromisoformat(event["lastTimestamp"]) == T0 + timedelta(seconds=30)
    clock.advance(30)
    recorder.publish(h, "RegistrationError", "Failed to get power state")
    [event] = events(core, kube_namespace)
    assert event["count"] == 3


def test_different_message_is_a_new_event(
    recorder: EventRecorder, core: client.CoreV1Api, kube_namespace: str
) -> None:
    h = make_host(kube_namespace)
    recorder.publish(h, "RegistrationError", "first failure")
    recorder.publish(h, "RegistrationError", "second failure")
    got = events(core, kube_namespace)
    assert [(e["message"], e["count"]) for e in got] == [
        ("first failure", 1),
        ("second failure", 1),
    ]


def test_different_type_or_object_is_a_new_event(
    recorder: EventRecorder, core: client.CoreV1Api, kube_namespace: str
) -> None:
    h = make_host(kube_namespace)
    other = EventTarget(name="worker-1", namespace=kube_namespace, uid="uid-2")
    recorder.publish(h, "PowerOff", "Host powered off")
    recorder.publish(h, "PowerOff", "Host powered off", "Warning")
    recorder.emit(other, "PowerOff", "Host powered off")
    assert len(events(core, kube_namespace)) == 3


def test_repeat_after_the_window_is_a_new_event(
    recorder: EventRecorder, clock: Clock, core: client.CoreV1Api, kube_namespace: str
) -> None:
    h = make_host(kube_namespace)
    recorder.publish(h, "InspectionStarted", "Hardware inspection started")
    clock.advance(601)
    recorder.publish(h, "InspectionStarted", "Hardware inspection started")
    assert [e["count"] for e in events(core, kube_namespace)] == [1, 1]


def test_deleted_cached_event_is_recreated(
    recorder: EventRecorder, clock: Clock, core: client.CoreV1Api, kube_namespace: str
) -> None:
    h = make_host(kube_namespace)
    recorder.publish(h, "PowerOn", "Host powered on")
    [event] = events(core, kube_namespace)
    core.delete_namespaced_event(event["metadata"]["name"], kube_namespace)
    clock.advance(10)
    recorder.publish(h, "PowerOn", "Host powered on")
    [again] = events(core, kube_namespace)
    assert again["metadata"]["name"] != event["metadata"]["name"]
    assert again["count"] == 1
    assert datetime.fromisoformat(again["firstTimestamp"]) == T0 + timedelta(seconds=10)
    clock.advance(10)
    recorder.publish(h, "PowerOn", "Host powered on")
    [bumped] = events(core, kube_namespace)
    assert bumped["count"] == 2


def test_lru_cache_is_bounded(
    kube_api_client: client.ApiClient, clock: Clock, core: client.CoreV1Api, kube_namespace: str
) -> None:
    small = EventRecorder(kube_api_client, clock=clock, cache_size=2)
    h = make_host(kube_namespace)
    for message in ("a", "b", "c", "a"):  # "a" was evicted by "c": created again
        small.publish(h, "ProfileSet", message)
    assert [(e["message"], e["count"]) for e in events(core, kube_namespace)] == [
        ("a", 1),
        ("a", 1),
        ("b", 1),
        ("c", 1),
    ]


def test_failures_are_logged_not_raised(kube_api_client: client.ApiClient, clock: Clock) -> None:
    recorder = EventRecorder(kube_api_client, clock=clock)
    missing = EventTarget(name="h", namespace="no-such-namespace-" + "x" * 8)
    with structlog.testing.capture_logs() as logs:
        recorder.emit(missing, "Registered", "https://u:secret@x/ is registered")
    [entry] = [e for e in logs if e["event"] == "failed to publish event"]
    assert entry["reason"] == "Registered"
    assert entry["status"] == 404
    assert "secret" not in str(entry)


def test_unreachable_api_does_not_raise(clock: Clock) -> None:
    cfg = client.Configuration()
    cfg.host = "http://127.0.0.1:9"  # discard port: nothing listens
    api = client.ApiClient(cfg)
    try:
        recorder = EventRecorder(api, clock=clock, request_timeout=2)
        with structlog.testing.capture_logs() as logs:
            recorder.emit(EventTarget(name="h", namespace="n"), "Registered", "x")
        assert [e["event"] for e in logs] == ["failed to publish event"]
    finally:
        api.close()  # type: ignore[no-untyped-call]


def test_conflicting_patch_is_logged_and_next_repeat_still_counts(
    recorder: EventRecorder,
    clock: Clock,
    core: client.CoreV1Api,
    kube_namespace: str,
    kube_faults: Any,
) -> None:
    h = make_host(kube_namespace)
    recorder.publish(h, "PowerOn", "Host powered on")
    kube_faults.conflict_next_writes(1, resource="events", verb="patch")
    with structlog.testing.capture_logs() as logs:
        recorder.publish(h, "PowerOn", "Host powered on")  # fails, logged
    assert [e["status"] for e in logs] == [409]
    recorder.publish(h, "PowerOn", "Host powered on")
    [event] = events(core, kube_namespace)
    assert event["count"] == 2


@pytest.mark.parametrize(
    ("message", "want"),
    [
        (
            "Image provisioning started for https://user:s3cret@example.com/img.qcow2",
            "Image provisioning started for https://***@example.com/img.qcow2",
        ),
        ("oci://robot:tok@quay.io/x", "oci://***@quay.io/x"),
        ("no url here", "no url here"),
        ("mail me at a@b.c", "mail me at a@b.c"),
    ],
)
def test_scrub_message(message: str, want: str) -> None:
    assert scrub_message(message) == want


def test_scrub_truncates_long_messages() -> None:
    scrubbed = scrub_message("x" * 5000)
    assert len(scrubbed) == 1024
    assert scrubbed.endswith("...")


def test_secret_in_url_never_reaches_the_api(
    recorder: EventRecorder, core: client.CoreV1Api, kube_namespace: str
) -> None:
    recorder.publish(
        make_host(kube_namespace),
        "ProvisioningStarted",
        "Image provisioning started for https://admin:hunter2@images.local/os.img",
    )
    [event] = events(core, kube_namespace)
    assert "hunter2" not in str(event)


def test_publish_all_keeps_order_and_types(
    recorder: EventRecorder, clock: Clock, core: client.CoreV1Api, kube_namespace: str
) -> None:
    @dataclass(frozen=True)
    class Described:
        reason: str
        message: str
        type: str = "Normal"

    recorder.publish_all(
        make_host(kube_namespace),
        [
            Described("InspectionComplete", "Hardware inspection completed"),
            Described("ImageAuthFormatUnsupported", "unsupported", "Warning"),
            Described("InspectionComplete", "Hardware inspection completed"),
        ],
    )
    got = [(e["reason"], e["type"], e["count"]) for e in events(core, kube_namespace)]
    assert got == [
        ("ImageAuthFormatUnsupported", "Warning", 1),
        ("InspectionComplete", "Normal", 2),
    ]
