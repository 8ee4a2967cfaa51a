"""The BareMetalHost reconciler against the Kubernetes API emulator, with the fixture
provisioner: the real informers, queue, controller and manager, in-process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.api.constants import (
    BMH_FINALIZER,
    HARDWARE_DATA_FINALIZER,
    HARDWARE_DETAILS_ANNOTATION,
    PAUSED_ANNOTATION,
    SECRET_FINALIZER,
    STATUS_ANNOTATION,
)
from bmo.api.host import BareMetalHost
from bmo.controllers.baremetalhost.events import EventRecorder
from bmo.controllers.baremetalhost.reconciler import HostEventSink
from bmo.hoststate.actions import Event
from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.errors import is_not_found
from bmo.runtime.registry import REGISTRY
from testenv.kubeapi import Faults, KubeAPIServer
from tests.integration.operator import (
    Hosts,
    RunningOperator,
    b64,
    create_secret,
    events_for,
    host_body,
    read_secret,
    running_operator,
    wait_for,
)

FAST_DELAYS = {op: Delay(1) for op in ("inspect", "prepare", "provision", "deprovision")}


@pytest.fixture
def registry() -> FixtureRegistry:
    return FixtureRegistry(delays=FAST_DELAYS, poll_interval=0.05)


@pytest.fixture
def hosts(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[Hosts]:
    hosts = Hosts(kube_api_client, kube_namespace)
    yield hosts
    for item in hosts.api.list_namespaced_custom_object(  # type: ignore[union-attr]
        "metal3.io", "v1alpha1", kube_namespace, "baremetalhosts"
    )["items"]:
        hosts.force_remove(item["metadata"]["name"])


@pytest.fixture
def operator(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    registry: FixtureRegistry,
    hosts: Hosts,
) -> Iterator[RunningOperator]:
    with running_operator(
        kube_api_client, kube_namespace, FixtureProvisionerFactory(registry)
    ) as running:
        yield running


def test_host_walks_to_available(
    operator: RunningOperator,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("host-0"))
    host = hosts.wait_state("host-0", "available")
    assert BMH_FINALIZER in host["metadata"]["finalizers"]
    status = host["status"]
    assert status["operationalStatus"] == "OK"
    assert status["provisioning"]["ID"]
    assert status["hardware"]["cpu"]["arch"]
    assert status["lastUpdated"]
    secret = read_secret(kube_api_client, kube_namespace, "bmc-secret")
    assert secret is not None
    meta = secret["metadata"]
    assert meta["labels"]["environment.metal3.io"] == "baremetal"
    assert SECRET_FINALIZER in meta["finalizers"]
    (owner,) = meta["ownerReferences"]
    assert owner["kind"] == "BareMetalHost" and owner["name"] == "host-0"
    assert not owner.get("controller")


IMAGE = {"url": "http://192.0.2.9/image.qcow2", "checksum": "0123456789abcdef"}


def hardware_data(api_client: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = k8s.CustomObjectsApi(api_client).get_namespaced_custom_object(  # type: ignore[assignment]
            "metal3.io", "v1alpha1", namespace, "hardwaredata", name
        )
    except k8s.ApiException as exc:
        if is_not_found(exc):
            return None
        raise
    return obj


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def reconciles(namespace: str, name: str) -> float:
    return sample("metal3_reconcile_total", namespace=namespace, host=name)


def test_image_lifecycle_power_and_delete(
    operator: RunningOperator,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("host-0"))
    hosts.wait_state("host-0", "available")
    hardware = hardware_data(kube_api_client, kube_namespace, "host-0")
    assert hardware is not None
    assert HARDWARE_DATA_FINALIZER in hardware["metadata"]["finalizers"]
    arch = hardware["spec"]["hardware"]["cpu"]["arch"]
    wait_for(
        lambda: (hosts.get("host-0") or {}).get("spec", {}).get("architecture") == arch,
        what="spec.architecture from HardwareData",
    )

    hosts.patch("host-0", {"spec": {"image": IMAGE}})
    host = hosts.wait_state("host-0", "provisioned")
    assert host["status"]["provisioning"]["image"]["url"] == IMAGE["url"]
    assert registry.host(kube_namespace, "host-0").image_url == IMAGE["url"]
    wait_for(lambda: hosts.status("host-0").get("poweredOn") is True, what="powered on")

    hosts.patch("host-0", {"spec": {"online": False}})
    wait_for(lambda: hosts.status("host-0").get("poweredOn") is False, what="powered off")
    assert registry.host(kube_namespace, "host-0").powered_on is False

    hosts.patch("host-0", {"spec": {"image": None, "online": True}})
    host = hosts.wait_state("host-0", "available")
    assert not host["status"]["provisioning"]["image"].get("url")
    assert registry.host(kube_namespace, "host-0").calls_to("deprovision")

    hosts.delete("host-0")
    hosts.wait_gone("host-0")
    # Released (finalizer removed), the Secret goes with its owner: garbage collection
    # cannot delete it while the finalizer is there.
    wait_for(
        lambda: read_secret(kube_api_client, kube_namespace, "bmc-secret") is None,
        what="secret collected with its host",
    )
    wait_for(
        lambda: hardware_data(kube_api_client, kube_namespace, "host-0") is None,
        what="HardwareData released and collected",
    )
    assert not registry.host(kube_namespace, "host-0").registered


def test_paused_host_is_left_alone(
    operator: RunningOperator,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("paused", annotations={PAUSED_ANNOTATION: "user"}))
    wait_for(lambda: reconciles(kube_namespace, "paused") >= 1, what="paused host reconciled")
    hosts.create(host_body("other"))
    hosts.wait_state("other", "available")
    paused = hosts.get("paused")
    assert paused is not None
    assert not paused["metadata"].get("finalizers")
    assert not (paused.get("status") or {}).get("lastUpdated")
    assert not (paused.get("status") or {}).get("provisioning", {}).get("state")
    assert reconciles(kube_namespace, "paused") == 1  # no requeue

    hosts.patch("paused", {"metadata": {"annotations": {PAUSED_ANNOTATION: None}}})
    hosts.wait_state("paused", "available")


def test_missing_secret_is_reported_then_recovers(
    operator: RunningOperator,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    before = sample("metal3_credentials_missing_total")
    hosts.create(host_body("host-0", credentials="late-secret"))
    message = (
        "BMC CredentialsName secret doesn't exist The BMC secret "
        f"{kube_namespace}/late-secret does not exist"
    )
    status = wait_for(
        lambda: (s := hosts.status("host-0")).get("errorMessage") == message and s,
        what="registration error recorded",
    )
    assert status["errorType"] == "registration error"
    assert status["operationalStatus"] == "error"
    assert sample("metal3_credentials_missing_total") > before
    wait_for(
        lambda: (
            "BMCCredentialError"
            in [e["reason"] for e in events_for(kube_api_client, kube_namespace, "host-0")]
        ),
        what="BMCCredentialError event",
    )
    # An unlabelled new Secret is not watched: the 10 s poll (capped here) finds it.
    create_secret(kube_api_client, kube_namespace, "late-secret")
    host = hosts.wait_state("host-0", "available")
    assert host["status"]["errorMessage"] == ""
    assert host["status"]["operationalStatus"] == "OK"


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        (
            None,
            "pw",
            "Validation error with BMC credentials: Missing BMC connection detail "
            "'username' in credentials",
        ),
        (
            "admin",
            "  ",
            "Validation error with BMC credentials: Missing BMC connection details "
            "'password' in credentials",
        ),
    ],
)
def test_invalid_secret_is_reported_then_fixed(
    operator: RunningOperator,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    username: str | None,
    password: str,
    message: str,
) -> None:
    create_secret(kube_api_client, kube_namespace, username=username, password=password)
    hosts.create(host_body("host-0"))
    wait_for(
        lambda: hosts.status("host-0").get("errorMessage") == message,
        what="credentials error recorded",
    )
    assert hosts.status("host-0")["errorType"] == "registration error"
    # Invalid contents are not polled. Claiming the Secret (label, owner) wakes the host once
    # more through the Secret watch; after that only a change can bring it back.
    wait_for(lambda: hosts.status("host-0").get("errorCount", 0) >= 2, what="second pass")
    create_secret(kube_api_client, kube_namespace, "other-secret")
    for sentinel in ("other-1", "other-2"):  # the first one lets stray events drain
        settled = reconciles(kube_namespace, "host-0")
        errors = hosts.status("host-0")["errorCount"]
        hosts.create(host_body(sentinel, credentials="other-secret"))
        hosts.wait_state(sentinel, "available")
    assert reconciles(kube_namespace, "host-0") == settled
    assert hosts.status("host-0")["errorCount"] == errors
    secret = read_secret(kube_api_client, kube_namespace, "bmc-secret")
    assert secret is not None
    assert secret["metadata"]["labels"]["environment.metal3.io"] == "baremetal"
    secret["data"] = {"username": b64("admin"), "password": b64("fixed-pw")}
    k8s.CoreV1Api(kube_api_client).replace_namespaced_secret("bmc-secret", kube_namespace, secret)
    host = hosts.wait_state("host-0", "available")
    assert host["status"].get("errorType", "") == ""


def test_unknown_bmc_type_is_invalid(
    operator: RunningOperator,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("host-0", address="fake://192.0.2.1"))
    status = wait_for(
        lambda: (s := hosts.status("host-0")).get("errorMessage") and s,
        what="error recorded",
    )
    assert status["errorType"] == "registration error"
    assert "fake" in status["errorMessage"]
    assert "development" in status["errorMessage"]


class RecordingSink:
    """Passes events on, noting what the API server held for the host at that moment."""

    def __init__(self, inner: HostEventSink, hosts: Hosts) -> None:
        self.inner = inner
        self.hosts = hosts
        self.seen: list[tuple[tuple[str, ...], str, str | None]] = []
        self.lock = threading.Lock()

    def publish_all(self, host: BareMetalHost, events: Iterable[Event]) -> None:
        batch = list(events)
        stored = self.hosts.get(host.name)
        stored_state = None
        if stored is not None:
            stored_state = ((stored.get("status") or {}).get("provisioning") or {}).get("state")
        with self.lock:
            self.seen.append(
                (tuple(e.reason for e in batch), host.status.provisioning.state, stored_state)
            )
        self.inner.publish_all(host, batch)


def test_events_follow_the_status_write_and_status_is_written_only_on_change(
    kube_server: KubeAPIServer,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    sink = RecordingSink(EventRecorder(kube_api_client, reporting_instance="test-pod"), hosts)
    with running_operator(
        kube_api_client, kube_namespace, FixtureProvisionerFactory(registry), events=sink
    ):
        create_secret(kube_api_client, kube_namespace)
        hosts.create(host_body("host-0"))
        hosts.wait_state("host-0", "available")
        wait_for(lambda: hosts.status("host-0").get("poweredOn") is True, what="powered on")

        status_path = (
            f"/apis/metal3.io/v1alpha1/namespaces/{kube_namespace}/baremetalhosts/host-0/status"
        )
        writes = kube_server.count_requests("PUT", status_path)
        assert writes >= 2  # inspecting; then available, already powered on
        start = reconciles(kube_namespace, "host-0")
        # Steady state: the 60 s power poll (capped to 0.2 s) reconciles again and again.
        wait_for(
            lambda: reconciles(kube_namespace, "host-0") >= start + 10,
            what="ten steady-state reconciles",
        )
        assert kube_server.count_requests("PUT", status_path) == writes
        assert kube_server.count_requests("PATCH", status_path) == 0

    reasons = [reason for batch, _, _ in sink.seen for reason in batch]
    for expected in ("Registered", "BMCAccessValidated", "InspectionStarted", "PowerOn"):
        assert expected in reasons
    for batch, state, stored_state in sink.seen:
        if batch:
            assert stored_state == state, (batch, state, stored_state)
    created = {e["reason"] for e in events_for(kube_api_client, kube_namespace, "host-0")}
    assert {"Registered", "BMCAccessValidated", "ProfileSet", "InspectionComplete"} <= created
    (event,) = [
        e
        for e in events_for(kube_api_client, kube_namespace, "host-0")
        if e["reason"] == "Registered"
    ]
    assert event["source"]["component"] == "metal3-baremetal-controller"
    assert event["reportingInstance"] == "test-pod"
    assert event["involvedObject"]["kind"] == "BareMetalHost"


def test_status_annotation_is_restored_once(
    operator: RunningOperator,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    saved = {
        "operationalStatus": "OK",
        "hardwareProfile": "unknown",
        "hardware": {"cpu": {"arch": "x86_64", "count": 4}, "ramMebibytes": 4096},
        "provisioning": {"state": "available", "ID": "", "bootMode": "UEFI"},
        "poweredOn": False,
        "errorMessage": "",
        "errorCount": 0,
    }
    hosts.create(host_body("moved", annotations={STATUS_ANNOTATION: json.dumps(saved)}))
    host = wait_for(
        lambda: (
            (h := hosts.get("moved"))
            and STATUS_ANNOTATION not in (h["metadata"].get("annotations") or {})
            and h
        ),
        what="status annotation removed",
    )
    assert host["status"]["lastUpdated"]
    assert host["status"]["hardware"]["ramMebibytes"] == 4096
    host = hosts.wait_state("moved", "available")
    wait_for(lambda: hosts.status("moved").get("poweredOn") is True, what="powered on")
    # Restored as available: registered again, never inspected.
    fixture = registry.host(kube_namespace, "moved")
    assert fixture.registered
    assert not fixture.calls_to("inspect")
    assert hosts.status("moved")["hardware"]["ramMebibytes"] == 4096


def test_hardwaredetails_annotation_fills_status(
    operator: RunningOperator,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    details = {"cpu": {"arch": "aarch64", "count": 8}, "ramMebibytes": 2048, "hostname": "h1"}
    hosts.create(
        host_body(
            "host-0",
            inspectionMode="disabled",
            annotations={HARDWARE_DETAILS_ANNOTATION: json.dumps(details)},
        )
    )
    host = hosts.wait_state("host-0", "available")
    assert host["status"]["hardware"]["ramMebibytes"] == 2048
    assert host["status"]["hardware"]["hostname"] == "h1"
    assert HARDWARE_DETAILS_ANNOTATION not in (host["metadata"].get("annotations") or {})
    assert not registry.host(kube_namespace, "host-0").calls_to("inspect")
    reasons = [e["reason"] for e in events_for(kube_api_client, kube_namespace, "host-0")]
    assert "UpdateHardwareDetails" in reasons


def test_conflicting_status_write_loses_no_transition(
    operator: RunningOperator,
    hosts: Hosts,
    kube_server: KubeAPIServer,
    kube_faults: Faults,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("host-0"))
    hosts.wait_state("host-0", "available")
    wait_for(lambda: hosts.status("host-0").get("poweredOn") is True, what="powered on")

    def changes(prev: str, new: str) -> float:
        return sample("metal3_provisioning_state_change_total", prev_state=prev, new_state=new)

    started = changes("available", "provisioning")
    finished = changes("provisioning", "provisioned")
    status_path = (
        f"/apis/metal3.io/v1alpha1/namespaces/{kube_namespace}/baremetalhosts/host-0/status"
    )
    conflicts = kube_server.count_requests("PUT", status_path, status=409)
    # The operator writes with PUT (update); the test's merge patch is not affected.
    kube_faults.conflict_next_writes(2, resource="baremetalhosts", verb="update", name="host-0")
    hosts.patch("host-0", {"spec": {"image": IMAGE}})
    host = hosts.wait_state("host-0", "provisioned")
    assert kube_server.count_requests("PUT", status_path, status=409) == conflicts + 2
    history = host["status"]["operationHistory"]["provision"]
    assert history["start"] and history["end"]
    # Samples are applied just after the status write: wait for them, then check that
    # neither the 409s nor their retries counted a transition twice.
    wait_for(lambda: changes("provisioning", "provisioned") > finished, what="transition counted")
    assert changes("available", "provisioning") == started + 1
    assert changes("provisioning", "provisioned") == finished + 1


def test_conflict_claiming_a_shared_secret_is_retried_not_an_error(
    operator: RunningOperator,
    hosts: Hosts,
    kube_server: KubeAPIServer,
    kube_faults: Faults,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """Hosts sharing a Secret race to label and own it: a 409 there is retried quietly.

    The first claim of an unwatched Secret is one strategic merge patch (no conflict
    possible); a second host's claim of the now cached Secret is a PUT with its
    resourceVersion, which is where a 409 can happen."""
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("host-0"))
    hosts.wait_state("host-0", "available")
    secret_path = f"/api/v1/namespaces/{kube_namespace}/secrets/bmc-secret"
    assert kube_server.count_requests("PATCH", secret_path, status=200) == 1
    unhandled = sample("metal3_credentials_unhandled_error_total")
    kube_faults.conflict_next_writes(2, resource="secrets", verb="update", name="bmc-secret")
    hosts.create(host_body("host-1"))
    host = hosts.wait_state("host-1", "available")
    secret = read_secret(kube_api_client, kube_namespace, "bmc-secret")
    assert secret is not None
    assert {r["name"] for r in secret["metadata"]["ownerReferences"]} == {"host-0", "host-1"}
    assert secret["metadata"]["finalizers"] == [SECRET_FINALIZER]
    assert kube_server.count_requests("PUT", secret_path, status=409) == 2
    assert not host["status"].get("errorType")
    assert sample("metal3_credentials_unhandled_error_total") == unhandled


def test_host_without_its_secret_can_still_be_deleted(
    operator: RunningOperator,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    hosts.create(host_body("host-0", credentials="never-created"))
    wait_for(
        lambda: hosts.status("host-0").get("errorType") == "registration error",
        what="registration error",
    )
    hosts.delete("host-0")
    hosts.wait_gone("host-0")
