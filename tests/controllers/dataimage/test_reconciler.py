"""The DataImage reconciler against the Kubernetes API emulator and the fixture
provisioner, one reconcile at a time (upstream ``dataimage_controller_test.go`` and the
DataImage cases of ``baremetalhost_controller_test.go`` cover the same paths)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes import client as k8s

from bmo.controllers.dataimage.actions import DATA_IMAGE_UPDATE_DELAY
from bmo.controllers.dataimage.reconciler import (
    DATA_IMAGE_FINALIZER,
    DATA_IMAGE_UNMANAGED_RETRY_DELAY,
    PROVISIONER_RETRY_DELAY,
    DataImageReconciler,
)
from bmo.provisioner.fixture import FixtureProvisionerFactory, FixtureRegistry
from tests.controllers.dataimage.helpers import (
    create_host,
    create_object,
    delete_object,
    get_object,
    set_host_power,
)
from tests.controllers.preprovisioningimage.helpers import LiveStore

URL = "http://127.0.0.1:8080/data.iso"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def registry() -> FixtureRegistry:
    return FixtureRegistry()


@pytest.fixture
def reconciler(kube_api_client: k8s.ApiClient, registry: FixtureRegistry) -> DataImageReconciler:
    return DataImageReconciler(
        kube_api_client,
        LiveStore(kube_api_client, "dataimages"),
        LiveStore(kube_api_client, "baremetalhosts"),
        FixtureProvisionerFactory(registry),
        clock=lambda: NOW,
    )


def image(api: k8s.ApiClient, namespace: str, name: str = "h0") -> dict[str, object]:
    got = get_object(api, namespace, "dataimages", name)
    assert got is not None
    return got


def setup_image(
    api: k8s.ApiClient, namespace: str, registry: FixtureRegistry, **host: object
) -> dict[str, object]:
    created = create_host(api, namespace, "h0", **host)  # type: ignore[arg-type]
    registry.host(namespace, "h0").registered = True
    create_object(api, namespace, "dataimages", "DataImage", "h0", {"url": URL})
    return created


def test_owner_reference_finalizer_then_attach_on_power_on(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    host = setup_image(kube_api_client, kube_namespace, registry)
    assert reconciler.reconcile(kube_namespace, "h0").requeue
    refs = image(kube_api_client, kube_namespace)["metadata"]["ownerReferences"]  # type: ignore[index]
    assert refs == [
        {
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "name": "h0",
            "uid": host["metadata"]["uid"],
        }
    ]
    assert reconciler.reconcile(kube_namespace, "h0").requeue
    assert image(kube_api_client, kube_namespace)["metadata"]["finalizers"] == [  # type: ignore[index]
        DATA_IMAGE_FINALIZER
    ]

    # The host is provisioned, online and off: the image goes in before it powers on.
    result = reconciler.reconcile(kube_namespace, "h0")
    assert result.requeue_after is not None and result.requeue_after >= DATA_IMAGE_UPDATE_DELAY
    bmc = registry.host(kube_namespace, "h0").bmc
    assert bmc.vmedia_url == URL
    status = image(kube_api_client, kube_namespace)["status"]
    assert status["attachedImage"] == {"url": URL}  # type: ignore[index]
    assert status["lastReconciled"] == "2026-01-01T00:00:00Z"  # type: ignore[index]

    # Next pass: attached as asked, nothing pending, errors cleared.
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after is None
    status = image(kube_api_client, kube_namespace)["status"]
    assert status["error"] == {"count": 0, "message": ""}  # type: ignore[index]
    assert len(registry.host(kube_namespace, "h0").calls_to("attach_data_image")) == 1


def test_powered_on_host_is_not_touched(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """Upstream attaches only while a provisioned host powers on; a running host waits."""
    setup_image(kube_api_client, kube_namespace, registry, powered_on=True)
    for _ in range(3):
        reconciler.reconcile(kube_namespace, "h0")
    assert registry.host(kube_namespace, "h0").bmc.vmedia_url == ""
    assert not registry.host(kube_namespace, "h0").calls_to("attach_data_image")
    status = image(kube_api_client, kube_namespace)["status"]
    assert "attachedImage" not in status  # type: ignore[operator]
    assert status["lastReconciled"] == "2026-01-01T00:00:00Z"  # type: ignore[index]


def test_deletion_detaches_then_removes_the_finalizer(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    setup_image(kube_api_client, kube_namespace, registry)
    for _ in range(4):
        reconciler.reconcile(kube_namespace, "h0")
    bmc = registry.host(kube_namespace, "h0").bmc
    assert bmc.vmedia_url == URL

    # While the host runs, a deleted image waits for the next power-on to be ejected.
    set_host_power(kube_api_client, kube_namespace, "h0", True)
    delete_object(kube_api_client, kube_namespace, "dataimages", "h0")
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after == 60.0
    assert image(kube_api_client, kube_namespace)["metadata"]["finalizers"] == [  # type: ignore[index]
        DATA_IMAGE_FINALIZER
    ]

    set_host_power(kube_api_client, kube_namespace, "h0", False)
    for _ in range(4):
        if get_object(kube_api_client, kube_namespace, "dataimages", "h0") is None:
            break
        reconciler.reconcile(kube_namespace, "h0")
    assert bmc.vmedia_url == ""
    assert get_object(kube_api_client, kube_namespace, "dataimages", "h0") is None


def test_missing_host_releases_the_finalizer(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    setup_image(kube_api_client, kube_namespace, registry)
    reconciler.reconcile(kube_namespace, "h0")
    reconciler.reconcile(kube_namespace, "h0")
    assert image(kube_api_client, kube_namespace)["metadata"]["finalizers"]  # type: ignore[index]
    delete_object(kube_api_client, kube_namespace, "baremetalhosts", "h0")
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after is None
    # Garbage collection deletes the owned image; without our finalizer it is gone at once.
    left = get_object(kube_api_client, kube_namespace, "dataimages", "h0")
    assert left is None or not left["metadata"].get("finalizers")


def test_detached_host_waits_and_releases_on_deletion(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    setup_image(
        kube_api_client,
        kube_namespace,
        registry,
        annotations={"baremetalhost.metal3.io/detached": ""},
    )
    reconciler.reconcile(kube_namespace, "h0")
    reconciler.reconcile(kube_namespace, "h0")
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after == (
        DATA_IMAGE_UNMANAGED_RETRY_DELAY
    )
    assert not registry.host(kube_namespace, "h0").calls_to("get_data_image_status")
    delete_object(kube_api_client, kube_namespace, "dataimages", "h0")
    reconciler.reconcile(kube_namespace, "h0")
    assert get_object(kube_api_client, kube_namespace, "dataimages", "h0") is None


def test_driver_without_virtual_media_gets_a_clear_error(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    setup_image(kube_api_client, kube_namespace, registry, address="ipmi://127.0.0.1:623")
    for _ in range(4):
        reconciler.reconcile(kube_namespace, "h0")
    error = image(kube_api_client, kube_namespace)["status"]["error"]  # type: ignore[index]
    assert error["count"] == 1  # counted once, not on every pass
    assert 'BMC driver "ipmi" has no virtual media' in error["message"]
    assert "redfish-virtualmedia://" in error["message"]
    assert not registry.host(kube_namespace, "h0").calls_to("attach_data_image")


def test_vmedia_read_failure_is_counted_and_busy_node_is_not(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    setup_image(kube_api_client, kube_namespace, registry, powered_on=True)
    reconciler.reconcile(kube_namespace, "h0")
    reconciler.reconcile(kube_namespace, "h0")
    bmc = registry.host(kube_namespace, "h0").bmc
    bmc.busy = True
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after == DATA_IMAGE_UPDATE_DELAY
    assert "error" not in (image(kube_api_client, kube_namespace).get("status") or {})
    bmc.busy = False
    bmc.fail_next("get_data_image_status", "vmedia GET failed: HTTP 500")
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after == DATA_IMAGE_UPDATE_DELAY
    error = image(kube_api_client, kube_namespace)["status"]["error"]  # type: ignore[index]
    assert error == {"count": 1, "message": "vmedia GET failed: HTTP 500"}
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after is None
    error = image(kube_api_client, kube_namespace)["status"]["error"]  # type: ignore[index]
    assert error == {"count": 0, "message": ""}


def test_paused_host_is_left_alone(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    setup_image(
        kube_api_client,
        kube_namespace,
        registry,
        annotations={"baremetalhost.metal3.io/paused": ""},
    )
    reconciler.reconcile(kube_namespace, "h0")
    got = image(kube_api_client, kube_namespace)
    assert not got["metadata"].get("ownerReferences")  # type: ignore[attr-defined]
    assert not got["metadata"].get("finalizers")  # type: ignore[attr-defined]


def test_provisioner_not_ready_retries_without_an_error(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    setup_image(kube_api_client, kube_namespace, registry)
    reconciler.reconcile(kube_namespace, "h0")
    reconciler.reconcile(kube_namespace, "h0")
    registry.ready = False
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after == PROVISIONER_RETRY_DELAY
    assert "error" not in (image(kube_api_client, kube_namespace).get("status") or {})


def test_host_without_a_node_is_an_error(
    reconciler: DataImageReconciler,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """The backend lost the node (or never had it): reported, counted, retried."""
    setup_image(kube_api_client, kube_namespace, registry, powered_on=True)
    registry.host(kube_namespace, "h0").registered = False
    reconciler.reconcile(kube_namespace, "h0")
    reconciler.reconcile(kube_namespace, "h0")
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after == DATA_IMAGE_UPDATE_DELAY
    error = image(kube_api_client, kube_namespace)["status"]["error"]  # type: ignore[index]
    assert error == {"count": 1, "message": "Host not registered"}
