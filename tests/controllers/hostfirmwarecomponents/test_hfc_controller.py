"""The HostFirmwareComponents controller (and the host controller's part) against the
Kubernetes API emulator with the fixture provisioner: created only when the backend lists
components, ``status.components`` with versions, ``spec.updates`` checked (``Valid`` with
reason ``InvalidComponent`` and upstream's message), a valid update flashed through
``preparing`` and recorded in ``status.updates``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from bmo.api.firmware import FirmwareComponentStatus, FirmwareUpdate
from bmo.api.firmware_rules import component_name_error, invalid_components_message
from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from tests.controllers.firmware_operator import Objects, condition, firmware_operator
from tests.integration.operator import Hosts, create_secret, events_for, host_body, wait_for

FAST_DELAYS = {op: Delay(1) for op in ("inspect", "prepare", "provision", "deprovision")}
COMPONENTS = [
    FirmwareComponentStatus(component="bios", initial_version="1.0", current_version="1.0"),
    FirmwareComponentStatus(component="bmc", initial_version="2.0", current_version="2.0"),
]
BIOS_URL = "https://192.0.2.5/bios-1.1.bin"


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
def running(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    registry: FixtureRegistry,
    hosts: Hosts,
) -> Iterator[None]:
    with firmware_operator(kube_api_client, kube_namespace, FixtureProvisionerFactory(registry)):
        yield


def test_components_validation_and_an_update_flashed(
    running: None,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    hfc_api = Objects(kube_api_client, kube_namespace, "hostfirmwarecomponents")
    registry.host(kube_namespace, "host-0").firmware_components = list(COMPONENTS)
    create_secret(kube_api_client, kube_namespace)
    host = hosts.create(host_body("host-0"))

    hfc = wait_for(lambda: hfc_api.get("host-0"), what="HostFirmwareComponents created")
    assert hfc["spec"] == {"updates": []}
    (owner,) = hfc["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("BareMetalHost", host["metadata"]["uid"])
    assert not owner.get("controller")
    status = wait_for(
        lambda: (s := (hfc_api.get("host-0") or {}).get("status") or {}).get("components") and s,
        what="status.components",
    )
    assert [(c["component"], c["currentVersion"]) for c in status["components"]] == [
        ("bios", "1.0"),
        ("bmc", "2.0"),
    ]
    assert condition(hfc_api.get("host-0"), "Valid")["reason"] == "OK"
    assert condition(hfc_api.get("host-0"), "ChangeDetected")["status"] == "False"
    hosts.wait_state("host-0", "available")

    # An unknown component name: not valid, with upstream's message and event.
    hfc_api.replace_spec(
        "host-0", {"updates": [{"component": "raid", "url": "https://192.0.2.5/raid.bin"}]}
    )
    wait_for(
        lambda: condition(hfc_api.get("host-0"), "Valid").get("status") == "False",
        what="Valid=False",
    )
    error = component_name_error([FirmwareUpdate("raid", "https://192.0.2.5/raid.bin")])
    assert error is not None
    message = invalid_components_message(error)
    valid = condition(hfc_api.get("host-0"), "Valid")
    assert (valid["reason"], valid["message"]) == ("InvalidComponent", message)
    assert condition(hfc_api.get("host-0"), "ChangeDetected")["status"] == "True"
    wait_for(
        lambda: any(
            e["reason"] == "ValidationFailed"
            and e["message"] == message
            and e["involvedObject"]["kind"] == "HostFirmwareComponents"
            for e in events_for(kube_api_client, kube_namespace, "host-0")
        ),
        what="ValidationFailed event",
    )
    assert hosts.status("host-0")["provisioning"]["state"] == "available"

    # A valid update: flashed through preparing, recorded in status.updates.
    hfc_api.replace_spec("host-0", {"updates": [{"component": "bios", "url": BIOS_URL}]})
    status = wait_for(
        lambda: (
            (s := (hfc_api.get("host-0") or {}).get("status") or {}).get("updates")
            == [{"component": "bios", "url": BIOS_URL}]
            and s
        ),
        what="status.updates recorded",
    )
    assert registry.host(kube_namespace, "host-0").calls_to("prepare")
    wait_for(
        lambda: condition(hfc_api.get("host-0"), "ChangeDetected").get("status") == "False",
        what="ChangeDetected=False",
    )
    bios = wait_for(
        lambda: next(
            (
                c
                for c in ((hfc_api.get("host-0") or {}).get("status") or {}).get("components", [])
                if c["component"] == "bios" and c["currentVersion"] != "1.0"
            ),
            None,
        ),
        what="the new BIOS version read back",
    )
    assert bios["initialVersion"] == "1.0"
    hosts.wait_state("host-0", "available")


def test_no_components_no_object(
    running: None,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """A backend that lists no components (or cannot update firmware) gets none."""
    hfc_api = Objects(kube_api_client, kube_namespace, "hostfirmwarecomponents")
    hfs_api = Objects(kube_api_client, kube_namespace, "hostfirmwaresettings")
    registry.host(kube_namespace, "host-1").firmware_supported = False
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("host-0"))
    hosts.create(host_body("host-1", mac="00:00:5e:00:53:02"))
    for name in ("host-0", "host-1"):
        hosts.wait_state(name, "available")
    wait_for(lambda: hfs_api.get("host-0") and hfs_api.get("host-1"), what="both settings")
    assert hfc_api.list() == []
