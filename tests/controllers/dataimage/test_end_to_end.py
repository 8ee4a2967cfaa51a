"""A DataImage end to end: the BareMetalHost and DataImage controllers running in one
manager against the Kubernetes API emulator, with the fixture provisioner. A reboot of the
provisioned host is when the ISO goes in, and it goes in before the host powers back on."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from bmo.controllers.baremetalhost.reconciler import HostReconcilerSettings
from bmo.controllers.baremetalhost.setup import setup as setup_hosts
from bmo.controllers.dataimage.reconciler import DATA_IMAGE_FINALIZER
from bmo.controllers.dataimage.setup import setup as setup_images
from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.manager import Manager
from bmo.settings import load
from tests.controllers.dataimage.helpers import create_object, get_object
from tests.integration.operator import FAST_REQUEUE, Hosts, create_secret, host_body, wait_for

URL = "http://127.0.0.1:8080/data.iso"
IMAGE = {"url": "http://192.0.2.9/image.qcow2", "checksum": "0123456789abcdef"}
ADDRESS = "redfish-virtualmedia://192.0.2.10/redfish/v1/Systems/1"


@pytest.fixture
def registry() -> FixtureRegistry:
    delays = {op: Delay(1) for op in ("inspect", "prepare", "provision", "deprovision")}
    return FixtureRegistry(delays=delays, poll_interval=0.05)


@pytest.fixture
def running(
    kube_api_client: k8s.ApiClient, kube_namespace: str, registry: FixtureRegistry
) -> Iterator[Manager]:
    flags = ["--namespace", kube_namespace, "--health-addr", "127.0.0.1:0"]
    flags += ["--metrics-addr", "0", "--webhook-port", "0", "--provisioner", "fixture"]
    settings = load(flags, {"POD_NAME": "test-pod"})
    manager = Manager(
        settings.manager,
        kube_api_client,
        leader_election=settings.leader_election,
        identity=f"test-{uuid.uuid4().hex[:6]}",
    )
    factory = FixtureProvisionerFactory(registry)
    host_settings = HostReconcilerSettings(
        machine=HostReconcilerSettings.from_settings(settings).machine,
        max_requeue_after=FAST_REQUEUE,
    )
    hosts = setup_hosts(manager, settings, provisioner_factory=factory, host_settings=host_settings)
    images = setup_images(manager, settings, provisioner_factory=factory)
    stop = threading.Event()
    thread = threading.Thread(target=manager.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(
            lambda: (
                manager.caches_synced()
                and hosts.controller.running()
                and images.controller.running()
            ),
            what="controllers started",
        )
        yield manager
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()


def test_reboot_attaches_the_image_before_power_on(
    running: Manager,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    hosts = Hosts(kube_api_client, kube_namespace)
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("h0", address=ADDRESS, image=IMAGE))
    hosts.wait_state("h0", "provisioned")
    wait_for(lambda: hosts.status("h0").get("poweredOn") or None, what="host powered on")

    create_object(kube_api_client, kube_namespace, "dataimages", "DataImage", "h0", {"url": URL})

    def image() -> dict[str, object] | None:
        return get_object(kube_api_client, kube_namespace, "dataimages", "h0")

    wait_for(
        lambda: (
            DATA_IMAGE_FINALIZER in (image() or {}).get("metadata", {}).get("finalizers", [])  # type: ignore[attr-defined]
            or None
        ),
        what="DataImage finalizer",
    )
    fixture = registry.host(kube_namespace, "h0")
    assert fixture.bmc.vmedia_url == ""  # a running host is not touched

    fixture.calls.clear()
    hosts.patch("h0", {"metadata": {"annotations": {"reboot.metal3.io": ""}}})
    wait_for(
        lambda: ((image() or {}).get("status") or {}).get("attachedImage"),  # type: ignore[attr-defined]
        what="image attached",
    )
    wait_for(lambda: hosts.status("h0").get("poweredOn") or None, what="host back on")
    ops = [
        call.op
        for call in fixture.calls
        if call.op in ("power_off", "power_on", "attach_data_image")
    ]
    assert ops == ["power_off", "attach_data_image", "power_on"]
    assert fixture.bmc.vmedia_url == URL
