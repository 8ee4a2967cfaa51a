"""The PreprovisioningImage reconciler against the Kubernetes API emulator, one reconcile
at a time, with a fake image provider (upstream
``internal/controller/metal3.io/preprovisioningimage_controller_test.go`` covers the same
paths)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client as k8s

from bmo.api.constants import PPI_OWN_FINALIZER, SECRET_ENVIRONMENT_LABEL
from bmo.api.deployimages import DeployImageSettings
from bmo.controllers.preprovisioningimage.imageprovider import DefaultImageProvider, ImageProvider
from bmo.controllers.preprovisioningimage.reconciler import (
    MAX_RETRY_DELAY,
    MIN_RETRY_DELAY,
    PreprovisioningImageReconciler,
)
from tests.controllers.preprovisioningimage.helpers import (
    GROUP,
    PLURAL,
    VERSION,
    FakeProvider,
    LiveStore,
    conditions,
    create_image,
    get_image,
)
from tests.integration.operator import create_secret, read_secret


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


def reconciler_for(
    api_client: k8s.ApiClient, provider: ImageProvider, clock: Clock
) -> PreprovisioningImageReconciler:
    return PreprovisioningImageReconciler(
        api_client,
        LiveStore(api_client, PLURAL),
        LiveStore(api_client, "secrets"),
        provider,
        clock=clock,
    )


@pytest.fixture
def reconciler(
    kube_api_client: k8s.ApiClient, provider: FakeProvider, clock: Clock
) -> Iterator[PreprovisioningImageReconciler]:
    yield reconciler_for(kube_api_client, provider, clock)


def test_finalizer_then_ready_image(
    reconciler: PreprovisioningImageReconciler,
    provider: FakeProvider,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_image(kube_api_client, kube_namespace, "h0", formats=("initrd", "iso"))
    assert reconciler.reconcile(kube_namespace, "h0").requeue_after is None
    image = get_image(kube_api_client, kube_namespace, "h0")
    assert image["metadata"]["finalizers"] == [PPI_OWN_FINALIZER]
    assert not provider.builds

    # First pass with the finalizer: the configuration is recorded, not yet built.
    reconciler.reconcile(kube_namespace, "h0")
    image = get_image(kube_api_client, kube_namespace, "h0")
    assert image["status"]["format"] == "initrd"
    assert image["status"]["architecture"] == "x86_64"
    assert conditions(image)["Ready"]["status"] == "False"
    assert conditions(image)["Ready"]["message"] == "Config changed"

    reconciler.reconcile(kube_namespace, "h0")
    image = get_image(kube_api_client, kube_namespace, "h0")
    status = image["status"]
    assert status["imageUrl"].endswith("/h0-x86_64.initramfs")
    assert status["kernelUrl"].endswith("/h0-x86_64.kernel")
    assert status["extraKernelParams"] == "console=ttyS0"
    ready, error = conditions(image)["Ready"], conditions(image)["Error"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "True",
        "ImageSuccess",
        "Generated image",
    )
    assert ready["observedGeneration"] == image["metadata"]["generation"]
    assert (error["status"], error["reason"]) == ("False", "ImageSuccess")

    # Settled: another pass builds again (the provider is asked) but writes nothing.
    version = image["metadata"]["resourceVersion"]
    reconciler.reconcile(kube_namespace, "h0")
    assert get_image(kube_api_client, kube_namespace, "h0")["metadata"]["resourceVersion"] == (
        version
    )


def settle(reconciler: PreprovisioningImageReconciler, namespace: str, name: str) -> None:
    for _ in range(3):
        reconciler.reconcile(namespace, name)


def test_format_change_resets_then_rebuilds(
    reconciler: PreprovisioningImageReconciler,
    provider: FakeProvider,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_image(kube_api_client, kube_namespace, "h1", formats=("iso", "initrd"))
    settle(reconciler, kube_namespace, "h1")
    assert get_image(kube_api_client, kube_namespace, "h1")["status"]["format"] == "iso"

    api = k8s.CustomObjectsApi(kube_api_client)
    api.patch_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, "h1", {"spec": {"acceptFormats": ["initrd"]}}
    )
    reconciler.reconcile(kube_namespace, "h1")  # Ready → not ready first
    image = get_image(kube_api_client, kube_namespace, "h1")
    assert conditions(image)["Ready"]["status"] == "False"
    assert image["status"]["format"] == "iso"
    assert not provider.discards

    reconciler.reconcile(kube_namespace, "h1")  # then the old build is discarded
    assert [d.format for d in provider.discards] == ["iso"]
    image = get_image(kube_api_client, kube_namespace, "h1")
    assert image["status"]["format"] == "initrd"
    assert "imageUrl" not in image["status"]

    reconciler.reconcile(kube_namespace, "h1")
    image = get_image(kube_api_client, kube_namespace, "h1")
    assert image["status"]["imageUrl"].endswith(".initramfs")
    assert conditions(image)["Ready"]["status"] == "True"


def test_unsupported_architecture_and_format_are_configuration_errors(
    reconciler: PreprovisioningImageReconciler,
    provider: FakeProvider,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    provider.formats = ("iso",)
    create_image(kube_api_client, kube_namespace, "arch", architecture="riscv64")
    create_image(kube_api_client, kube_namespace, "fmt", formats=("initrd",))
    for name, message in (
        ("arch", "Architecture not supported"),
        ("fmt", "No acceptable image format supported"),
    ):
        settle(reconciler, kube_namespace, name)
        image = get_image(kube_api_client, kube_namespace, name)
        error = conditions(image)["Error"]
        assert (error["status"], error["reason"], error["message"]) == (
            "True",
            "ConfigurationError",
            message,
        )
        assert conditions(image)["Ready"]["status"] == "False"


def test_build_invalid_is_an_image_error(
    reconciler: PreprovisioningImageReconciler,
    provider: FakeProvider,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    provider.invalid = 'unsupported image format "iso"'
    create_image(kube_api_client, kube_namespace, "bad")
    settle(reconciler, kube_namespace, "bad")
    error = conditions(get_image(kube_api_client, kube_namespace, "bad"))["Error"]
    assert (error["status"], error["reason"], error["message"]) == (
        "True",
        "ImageBuildInvalid",
        'unsupported image format "iso"',
    )


def test_pending_build_requeues_after_ten_seconds(
    reconciler: PreprovisioningImageReconciler,
    provider: FakeProvider,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    provider.pending = True
    create_image(kube_api_client, kube_namespace, "slow")
    reconciler.reconcile(kube_namespace, "slow")
    reconciler.reconcile(kube_namespace, "slow")
    result = reconciler.reconcile(kube_namespace, "slow")
    assert result.requeue_after == MIN_RETRY_DELAY
    ready = conditions(get_image(kube_api_client, kube_namespace, "slow"))["Ready"]
    assert (ready["status"], ready["message"]) == ("False", "still building")


def test_missing_network_data_then_claimed_and_versioned(
    reconciler: PreprovisioningImageReconciler,
    provider: FakeProvider,
    clock: Clock,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_image(kube_api_client, kube_namespace, "nd", network_data="nd-secret")
    reconciler.reconcile(kube_namespace, "nd")
    first = reconciler.reconcile(kube_namespace, "nd")
    assert first.requeue_after == MIN_RETRY_DELAY
    error = conditions(get_image(kube_api_client, kube_namespace, "nd"))["Error"]
    assert (error["reason"], error["message"]) == (
        "MissingNetworkData",
        "NetworkData secret not found",
    )
    clock.now += timedelta(minutes=30)
    assert reconciler.reconcile(kube_namespace, "nd").requeue_after == MAX_RETRY_DELAY

    create_secret(
        kube_api_client,
        kube_namespace,
        "nd-secret",
        username=None,
        password=None,
        data={"networkData": "links: []"},
    )
    settle(reconciler, kube_namespace, "nd")
    image = get_image(kube_api_client, kube_namespace, "nd")
    secret = read_secret(kube_api_client, kube_namespace, "nd-secret")
    assert secret is not None
    assert secret["metadata"]["labels"][SECRET_ENVIRONMENT_LABEL] == "baremetal"
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("PreprovisioningImage", "nd")
    assert image["status"]["networkData"] == {
        "name": "nd-secret",
        "version": secret["metadata"]["resourceVersion"],
    }
    assert conditions(image)["Ready"]["status"] == "True"
    assert conditions(image)["Error"]["status"] == "False"
    data, network_data = provider.builds[-1]
    assert network_data == {"networkData": b"links: []"}
    assert data.network_data_status.name == "nd-secret"


def test_deletion_discards_and_releases(
    reconciler: PreprovisioningImageReconciler,
    provider: FakeProvider,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_image(kube_api_client, kube_namespace, "gone")
    settle(reconciler, kube_namespace, "gone")
    k8s.CustomObjectsApi(kube_api_client).delete_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, "gone"
    )
    reconciler.reconcile(kube_namespace, "gone")
    assert [d.format for d in provider.discards] == ["iso"]
    with pytest.raises(k8s.ApiException) as exc:
        get_image(kube_api_client, kube_namespace, "gone")
    assert exc.value.status == 404


def test_default_provider_serves_the_architecture_s_deploy_images(
    kube_api_client: k8s.ApiClient, kube_namespace: str, clock: Clock
) -> None:
    provider = DefaultImageProvider(
        DeployImageSettings.from_environ(
            {
                "DEPLOY_KERNEL_URL": "http://127.0.0.1/ipa.kernel",
                "DEPLOY_RAMDISK_URL": "http://127.0.0.1/ipa.initramfs",
                "DEPLOY_RAMDISK_URL_AARCH64": "http://127.0.0.1/ipa-arm.initramfs",
                "DEPLOY_KERNEL_BY_ARCH": "aarch64:http://127.0.0.1/ipa-arm.kernel",
            }
        )
    )
    assert provider.can_start()
    reconciler = reconciler_for(kube_api_client, provider, clock)
    create_image(kube_api_client, kube_namespace, "arm", architecture="aarch64")
    create_image(kube_api_client, kube_namespace, "x86", architecture="x86_64")
    for name in ("arm", "x86"):
        settle(reconciler, kube_namespace, name)
    arm = get_image(kube_api_client, kube_namespace, "arm")["status"]
    x86 = get_image(kube_api_client, kube_namespace, "x86")["status"]
    # No DEPLOY_ISO_URL: the initrd is the first format the default provider supports.
    assert (arm["format"], arm["imageUrl"], arm["kernelUrl"]) == (
        "initrd",
        "http://127.0.0.1/ipa-arm.initramfs",
        "http://127.0.0.1/ipa-arm.kernel",
    )
    assert (x86["imageUrl"], x86["kernelUrl"]) == (
        "http://127.0.0.1/ipa.initramfs",
        "http://127.0.0.1/ipa.kernel",
    )
