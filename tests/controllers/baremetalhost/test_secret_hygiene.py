"""The BMC password never reaches a host's status or events, in any spelling; credentials
Secrets that are not UTF-8 or absurdly large are a clear host error naming the Secret and the
key (never the value); the opt-in credentials policy refuses unlabelled Secrets.

The provisioner's error message is injected with the fixture provisioner: a real Ironic
does not quote the password back on demand, but a driver's error text may.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from kubernetes import client as k8s

from bmo.api.host import BareMetalHost
from bmo.api.secretpolicy import CredentialsSecretPolicy
from bmo.controllers.baremetalhost.reconciler import HostReconciler, HostReconcilerSettings
from bmo.hoststate.actions import Event
from bmo.provisioner.fixture import FixtureProvisionerFactory
from tests.controllers.baremetalhost.test_host_reconciler_units import Bed
from tests.integration.operator import create_secret, host_body, read_secret

PASSWORD = 'p"a/ss w@rd&é'
LABEL = ("metal3.io/bmc-credentials", "true")


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish_all(self, host: BareMetalHost, events: Iterable[Event]) -> None:
        self.events.extend(events)


class SinkBed(Bed):
    def __init__(
        self,
        api_client: k8s.ApiClient,
        namespace: str,
        policy: CredentialsSecretPolicy | None = None,
    ) -> None:
        super().__init__(api_client, namespace)
        self.sink = Sink()
        self.reconciler = HostReconciler(
            api_client,
            self.host_store,
            self.secret_store,
            FixtureProvisionerFactory(self.registry),
            HostReconcilerSettings(
                controller_architecture="x86_64",
                credentials_policy=policy or CredentialsSecretPolicy(),
            ),
            rand=lambda: 0.0,
            events=self.sink,
        )

    def walk(self, name: str, passes: int) -> dict[str, Any]:
        for _ in range(passes):
            self.reconcile(name)
            self.refresh(name)
        return self.hosts.status(name)


@pytest.fixture
def sink_bed(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[SinkBed]:
    bed = SinkBed(kube_api_client, kube_namespace)
    yield bed
    for key in list(bed.host_store.objects):
        bed.hosts.force_remove(key.partition("/")[2])


def _spellings() -> list[str]:
    return [
        PASSWORD,
        json.dumps(PASSWORD)[1:-1],
        json.dumps(PASSWORD, ensure_ascii=False)[1:-1],
        quote(PASSWORD, safe=""),
        quote_plus(PASSWORD),
    ]


def test_password_in_any_spelling_never_reaches_status_or_events(sink_bed: SinkBed) -> None:
    bed = sink_bed
    create_secret(bed.api_client, bed.namespace, password=PASSWORD)
    bed.create(host_body("host-0"))
    leak = "driver said: " + " | ".join(_spellings())
    bed.registry.host(bed.namespace, "host-0").fail_next("register", leak)
    # Each pass may chain several steps, so the recorded failure can be gone by the last
    # pass: look at the status after every pass.
    messages = [bed.walk("host-0", 1).get("errorMessage", "") for _ in range(4)]
    assert any("driver said" in m for m in messages), messages  # the failure was recorded
    texts = messages + [e.message for e in bed.sink.events]
    for text in texts:
        for spelling in _spellings():
            assert spelling not in text
    assert any("[REDACTED]" in e.message for e in bed.sink.events if "driver said" in e.message)


def _raw_secret(bed: Bed, name: str, data: dict[str, bytes]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": bed.namespace},
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    k8s.CoreV1Api(bed.api_client).create_namespaced_secret(bed.namespace, body)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"username": b"admin", "password": b"\xff\xfesecret"}, "key password is not UTF-8"),
        ({"username": b"a" * 70_000, "password": b"pw"}, "key username is 70000 bytes"),
    ],
    ids=["not UTF-8", "absurdly large"],
)
def test_unusable_credentials_secret_is_a_clear_host_error(
    sink_bed: SinkBed, data: dict[str, bytes], expected: str
) -> None:
    bed = sink_bed
    _raw_secret(bed, "bmc-secret", data)
    bed.create(host_body("host-0"))
    status = bed.walk("host-0", 3)
    assert status["operationalStatus"] == "error"
    assert status["errorType"] == "registration error"
    message = status["errorMessage"]
    assert f"{bed.namespace}/bmc-secret" in message and expected in message
    assert "\ufffd" not in message and "aaaa" not in message


@pytest.fixture
def policy_bed(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[SinkBed]:
    bed = SinkBed(kube_api_client, kube_namespace, CredentialsSecretPolicy(label=LABEL))
    yield bed
    for key in list(bed.host_store.objects):
        bed.hosts.force_remove(key.partition("/")[2])


def test_policy_refuses_an_unlabelled_secret_without_touching_it(policy_bed: SinkBed) -> None:
    bed = policy_bed
    create_secret(bed.api_client, bed.namespace, name="other-app")
    bed.create(host_body("host-0", credentials="other-app"))
    status = bed.walk("host-0", 3)
    assert status["errorType"] == "registration error"
    assert "metal3.io/bmc-credentials=true" in status["errorMessage"]
    secret = read_secret(bed.api_client, bed.namespace, "other-app")
    assert secret is not None
    meta = secret["metadata"]
    assert not meta.get("finalizers") and not meta.get("ownerReferences")
    assert "environment.metal3.io" not in (meta.get("labels") or {})
    assert not bed.registry.host(bed.namespace, "host-0").registered


def test_policy_accepts_a_labelled_secret(policy_bed: SinkBed) -> None:
    bed = policy_bed
    created = create_secret(bed.api_client, bed.namespace)
    body = dict(created)
    body["metadata"] = {**created["metadata"], "labels": {LABEL[0]: LABEL[1]}}
    k8s.CoreV1Api(bed.api_client).replace_namespaced_secret("bmc-secret", bed.namespace, body)
    bed.create(host_body("host-0"))
    status = bed.walk("host-0", 4)
    assert status.get("errorType", "") == "", status
    assert bed.registry.host(bed.namespace, "host-0").registered
