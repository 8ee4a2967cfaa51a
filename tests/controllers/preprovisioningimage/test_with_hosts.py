"""``-build-preprov-image`` end to end in-process: the BareMetalHost and PreprovisioningImage
controllers on one manager against the Kubernetes API emulator, the fixture provisioner
standing in for Ironic (it asks for ``iso``/``initrd`` images and refuses to inspect
without one) and a fake image provider for the wait, Ready and error paths."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.api.host import BareMetalHost
from bmo.controllers.baremetalhost import setup as bmh_setup
from bmo.controllers.baremetalhost.preprovimage import PreprovImageClient
from bmo.controllers.baremetalhost.reconciler import HostReconcilerSettings
from bmo.controllers.preprovisioningimage import reconciler as ppi_reconciler
from bmo.controllers.preprovisioningimage import setup as ppi_setup
from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.manager import Manager
from bmo.settings import load
from tests.controllers.preprovisioningimage.helpers import (
    FakeProvider,
    conditions,
    get_image,
)
from tests.integration.operator import (
    FAST_REQUEUE,
    Hosts,
    create_secret,
    host_body,
    wait_for,
)

FAST_DELAYS = {op: Delay(1) for op in ("inspect", "prepare", "provision", "deprovision")}


@pytest.fixture
def registry() -> FixtureRegistry:
    return FixtureRegistry(delays=FAST_DELAYS, poll_interval=0.05)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    # A pending image is asked for again after 10 s upstream; the test cannot wait that long.
    monkeypatch.setattr(ppi_reconciler, "MIN_RETRY_DELAY", 0.1)
    return FakeProvider()


@pytest.fixture
def hosts(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[Hosts]:
    hosts = Hosts(kube_api_client, kube_namespace)
    yield hosts
    for item in hosts.api.list_namespaced_custom_object(  # type: ignore[union-attr]
        "metal3.io", "v1alpha1", kube_namespace, "baremetalhosts"
    )["items"]:
        hosts.force_remove(item["metadata"]["name"])


@contextmanager
def operator(
    api_client: k8s.ApiClient,
    namespace: str,
    registry: FixtureRegistry,
    provider: FakeProvider,
    *,
    max_requeue_after: float | None = FAST_REQUEUE,
) -> Iterator[Manager]:
    flags = ["--namespace", namespace, "--health-addr", "127.0.0.1:0", "--metrics-addr", "0"]
    flags += ["--webhook-port", "0", "--controller-concurrency", "2", "--provisioner", "fixture"]
    flags += ["--build-preprov-image"]
    settings = load(flags, {"POD_NAME": "test-pod"})
    assert settings.controller.build_preprov_image
    manager = Manager(
        settings.manager,
        api_client,
        leader_election=settings.leader_election,
        identity=f"test-{uuid.uuid4().hex[:6]}",
    )
    factory = FixtureProvisionerFactory(registry)
    wired = bmh_setup.setup(
        manager,
        settings,
        provisioner_factory=factory,
        host_settings=HostReconcilerSettings(
            machine=HostReconcilerSettings.from_settings(settings).machine,
            max_requeue_after=max_requeue_after,
            controller_architecture="x86_64",
        ),
    )
    images = ppi_setup.setup(manager, settings, provisioner_factory=factory, provider=provider)
    assert images is not None
    stop = threading.Event()
    thread = threading.Thread(target=lambda: manager.run(stop), daemon=True)
    thread.start()
    try:
        wait_for(
            lambda: (
                manager.caches_synced()
                and wired.controller.running()
                and images.controller.running()
            ),
            what="controllers started",
        )
        yield manager
    finally:
        stop.set()
        thread.join(60)


def image_or_none(api_client: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return get_image(api_client, namespace, name)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_host_waits_for_its_image_then_registers_with_it(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    registry: FixtureRegistry,
    provider: FakeProvider,
    hosts: Hosts,
) -> None:
    provider.pending = True
    fixture = registry.host(kube_namespace, "ppi-0")
    fixture.preprov_image_formats = ("iso", "initrd")
    create_secret(kube_api_client, kube_namespace)
    create_secret(
        kube_api_client,
        kube_namespace,
        "ppi-net",
        username=None,
        password=None,
        data={"networkData": "links: []"},
    )
    with operator(kube_api_client, kube_namespace, registry, provider):
        body = host_body("ppi-0", preprovisioningNetworkDataName="ppi-net")
        body["metadata"]["labels"] = {"rack": "r1"}
        hosts.create(body)

        image = wait_for(
            lambda: image_or_none(kube_api_client, kube_namespace, "ppi-0"),
            what="the host's PreprovisioningImage",
        )
        assert image["spec"] == {
            "acceptFormats": ["iso", "initrd"],
            "architecture": "x86_64",
            "networkDataName": "ppi-net",
        }
        assert image["metadata"]["labels"] == {"rack": "r1"}
        (owner,) = image["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == (
            "BareMetalHost",
            "ppi-0",
            True,
        )
        # The provider is still building: the host waits in inspecting, nothing inspected.
        wait_for(lambda: len(provider.builds) >= 2, what="builds attempted")
        # The builds can come before the host's own status write says inspecting.
        hosts.wait_state("ppi-0", "inspecting")
        assert fixture.preprovisioning_image is None
        assert not fixture.calls_to("inspect")

        provider.pending = False
        hosts.wait_state("ppi-0", "available")
        built = fixture.preprovisioning_image
        assert built is not None
        assert built.format == "iso"
        assert built.image_url.endswith(f"/{kube_namespace}/ppi-0-x86_64.iso")
        assert built.extra_kernel_params == "console=ttyS0"
        image = get_image(kube_api_client, kube_namespace, "ppi-0")
        assert conditions(image)["Ready"]["status"] == "True"
        assert image["status"]["networkData"]["name"] == "ppi-net"


def test_image_build_error_is_a_registration_error(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    registry: FixtureRegistry,
    provider: FakeProvider,
    hosts: Hosts,
) -> None:
    provider.invalid = "no image for this host's firmware"
    registry.host(kube_namespace, "ppi-bad").preprov_image_formats = ("initrd",)
    create_secret(kube_api_client, kube_namespace)
    with operator(kube_api_client, kube_namespace, registry, provider):
        hosts.create(host_body("ppi-bad"))

        def errored() -> dict[str, Any] | None:
            host = hosts.get("ppi-bad")
            status = (host or {}).get("status") or {}
            return host if status.get("errorType") == "registration error" else None

        host = wait_for(errored, what="registration error")
        assert host["status"]["errorMessage"] == "no image for this host's firmware"
        assert host["status"]["operationalStatus"] == "error"


def test_a_built_image_wakes_its_waiting_host(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    registry: FixtureRegistry,
    provider: FakeProvider,
    hosts: Hosts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Upstream's delays uncapped: a host waiting for its image would next look in 5
    minutes, so reaching ``available`` within the deadline shows the PreprovisioningImage
    watch woke it (``Owns(&PreprovisioningImage{})``)."""
    provider.pending = True
    fixture = registry.host(kube_namespace, "ppi-wake")
    fixture.preprov_image_formats = ("initrd",)
    # What each host pass found, with the state it was in: the wake is only proved once a
    # pass in ``inspecting`` found the image pending (and so asked to come back in 5 min).
    looked: list[tuple[str, bool]] = []
    image_for = PreprovImageClient.image_for

    def recording(self: PreprovImageClient, host: BareMetalHost, *args: Any) -> Any:
        built = image_for(self, host, *args)
        looked.append((host.status.provisioning.state, built is not None))
        return built

    monkeypatch.setattr(PreprovImageClient, "image_for", recording)
    create_secret(kube_api_client, kube_namespace)
    with operator(kube_api_client, kube_namespace, registry, provider, max_requeue_after=None):
        hosts.create(host_body("ppi-wake"))
        wait_for(lambda: ("inspecting", False) in looked, what="a pass finding the image pending")
        wait_for(lambda: len(provider.builds) >= 2, what="builds attempted")
        assert hosts.state("ppi-wake") == "inspecting"
        provider.pending = False
        hosts.wait_state("ppi-wake", "available", timeout=20)
        built = fixture.preprovisioning_image
        assert built is not None and built.format == "initrd"
