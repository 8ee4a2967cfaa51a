"""Private ``oci://`` images: the BareMetalHost controller reads ``ociAuthSecretName`` and
hands the registry's pull secret to the provisioner (the fixture, here; the Ironic side is
``tests/ironic/provisioner/test_preprov_and_pull_secret.py``). The credential must appear
nowhere else: not in logs, events or the host's status."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from structlog.testing import capture_logs

from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from tests.integration.operator import (
    Hosts,
    RunningOperator,
    b64,
    create_secret,
    events_for,
    host_body,
    running_operator,
    wait_for,
)

FAST_DELAYS = {op: Delay(1) for op in ("inspect", "prepare", "provision", "deprovision")}
PASSWORD = "pull-pa55-s3cret"
CREDENTIAL = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()
IMAGE = {"url": "oci://registry.example.test/team/os:1.2", "ociAuthSecretName": "pull"}


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
    kube_api_client: k8s.ApiClient, kube_namespace: str, registry: FixtureRegistry, hosts: Hosts
) -> Iterator[RunningOperator]:
    with running_operator(
        kube_api_client, kube_namespace, FixtureProvisionerFactory(registry)
    ) as running:
        yield running


def pull_secret(api_client: k8s.ApiClient, namespace: str, secret_type: str) -> None:
    config = {"auths": {"registry.example.test": {"auth": CREDENTIAL}}}
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pull", "namespace": namespace},
        "type": secret_type,
        "data": {".dockerconfigjson": b64(json.dumps(config))},
    }
    k8s.CoreV1Api(api_client).create_namespaced_secret(namespace, body)


def assert_secret_absent(text: str) -> None:
    assert PASSWORD not in text
    assert CREDENTIAL not in text


def test_pull_secret_reaches_the_provisioner_and_nowhere_else(
    operator: RunningOperator,
    registry: FixtureRegistry,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    pull_secret(kube_api_client, kube_namespace, "kubernetes.io/dockerconfigjson")
    with capture_logs() as logs:
        hosts.create(host_body("oci-0", image=IMAGE))
        host = hosts.wait_state("oci-0", "provisioned")
    fixture = registry.host(kube_namespace, "oci-0")
    assert fixture.image_pull_secret == CREDENTIAL
    assert fixture.calls_to("provision")[-1].args["image_url"] == IMAGE["url"]
    assert_secret_absent(json.dumps(host))
    assert_secret_absent(json.dumps(events_for(kube_api_client, kube_namespace, "oci-0")))
    assert any(entry.get("event") == "reconciled" for entry in logs)  # logs were captured
    assert_secret_absent(repr(logs))
    assert_secret_absent(repr(fixture))


def wait_error(hosts: Hosts, name: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        host = hosts.get(name)
        status = (host or {}).get("status") or {}
        return host if status.get("errorType") == "provisioning error" else None

    return wait_for(probe, what=f"{name} provisioning error")


def test_unsupported_secret_type_is_an_event_and_a_provisioning_error(
    operator: RunningOperator,
    registry: FixtureRegistry,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    pull_secret(kube_api_client, kube_namespace, "Opaque")
    with capture_logs() as logs:
        hosts.create(host_body("oci-1", image=IMAGE))
        host = wait_error(hosts, "oci-1")
    message = host["status"]["errorMessage"]
    assert message.startswith('failed to get image auth secret: secret "pull" has unsupported')
    assert not registry.host(kube_namespace, "oci-1").calls_to("provision")

    def warning() -> dict[str, Any] | None:
        for event in events_for(kube_api_client, kube_namespace, "oci-1"):
            if event["reason"] == "ImageAuthFormatUnsupported":
                return event
        return None

    event = wait_for(warning, what="ImageAuthFormatUnsupported event")
    assert event["type"] == "Warning"
    assert event["message"] == 'Secret "pull" has unsupported type "Opaque"'
    assert_secret_absent(json.dumps(host))
    assert_secret_absent(json.dumps(events_for(kube_api_client, kube_namespace, "oci-1")))
    assert_secret_absent(repr(logs))


def test_missing_secret_is_a_provisioning_error(
    operator: RunningOperator,
    registry: FixtureRegistry,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("oci-2", image=IMAGE))
    host = wait_error(hosts, "oci-2")
    assert host["status"]["errorMessage"] == (
        f'failed to get image auth secret: auth secret "pull" not found in namespace '
        f'"{kube_namespace}"'
    )
    assert not registry.host(kube_namespace, "oci-2").calls_to("provision")


def test_no_entry_for_the_registry_is_a_parse_error_event(
    operator: RunningOperator,
    registry: FixtureRegistry,
    hosts: Hosts,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    create_secret(kube_api_client, kube_namespace)
    config = {"auths": {"other.example.test": {"auth": CREDENTIAL}}}
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pull", "namespace": kube_namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(json.dumps(config))},
    }
    k8s.CoreV1Api(kube_api_client).create_namespaced_secret(kube_namespace, body)
    hosts.create(host_body("oci-3", image=IMAGE))
    host = wait_error(hosts, "oci-3")
    assert host["status"]["errorMessage"].startswith(
        'failed to get image auth secret: failed to extract credentials from secret "pull"'
    )

    def warning() -> dict[str, Any] | None:
        for event in events_for(kube_api_client, kube_namespace, "oci-3"):
            if event["reason"] == "ImageAuthParseError":
                return event
        return None

    event = wait_for(warning, what="ImageAuthParseError event")
    assert event["type"] == "Warning"
    assert_secret_absent(json.dumps(host))
    assert_secret_absent(json.dumps(event))
