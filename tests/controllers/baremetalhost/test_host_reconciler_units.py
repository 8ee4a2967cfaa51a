"""HostReconciler passes one at a time, against the Kubernetes API emulator, with a cache the
test controls (no informer): result mapping, the lagging cache, errors, Secret access."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.api.constants import BMH_FINALIZER, PAUSED_ANNOTATION, SECRET_FINALIZER
from bmo.api.host import BareMetalHost
from bmo.controllers.baremetalhost import reconciler as reconciler_module
from bmo.controllers.baremetalhost.reconciler import AT_ONCE, HostReconciler, HostReconcilerSettings
from bmo.controllers.baremetalhost.secrets import (
    HostConfigDataError,
    HostConfigSecrets,
    SecretManager,
)
from bmo.controllers.baremetalhost.writer import WrittenHosts
from bmo.hoststate.actions import StateMachineError
from bmo.provisioner import ProvisionerError
from bmo.provisioner.fixture import FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.cache import KubeObject, freeze
from bmo.runtime.controller import Result
from bmo.runtime.registry import REGISTRY
from testenv.kubeapi import Faults, KubeAPIServer
from tests.integration.operator import Hosts, create_secret, host_body, read_secret, wait_for


class DictStore:
    """A cache that changes only when the test says so."""

    def __init__(self) -> None:
        self.objects: dict[str, KubeObject] = {}

    def get(self, key: str) -> KubeObject | None:
        return self.objects.get(key)

    def put(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[f"{meta['namespace']}/{meta['name']}"] = freeze(obj)


class Bed:
    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.hosts = Hosts(api_client, namespace)
        self.host_store = DictStore()
        self.secret_store = DictStore()
        self.registry = FixtureRegistry(poll_interval=0.05)
        self.reconciler = HostReconciler(
            api_client,
            self.host_store,
            self.secret_store,
            FixtureProvisionerFactory(self.registry),
            HostReconcilerSettings(controller_architecture="x86_64"),
            rand=lambda: 0.0,
        )

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created = self.hosts.create(body)
        self.host_store.put(created)
        return created

    def refresh(self, name: str) -> dict[str, Any]:
        obj = self.hosts.get(name)
        assert obj is not None
        self.host_store.put(obj)
        return obj

    def reconcile(self, name: str) -> Result:
        return self.reconciler.reconcile(self.namespace, name)


@pytest.fixture
def bed(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[Bed]:
    bed = Bed(kube_api_client, kube_namespace)
    yield bed
    for key in list(bed.host_store.objects):
        bed.hosts.force_remove(key.partition("/")[2])


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_absent_host_is_done(bed: Bed) -> None:
    assert bed.reconcile("nobody") == Result()


def test_paused_host_gets_nothing(bed: Bed) -> None:
    bed.create(host_body("host-0", annotations={PAUSED_ANNOTATION: ""}))
    assert bed.reconcile("host-0") == Result()
    stored = bed.hosts.get("host-0")
    assert stored is not None and not stored["metadata"].get("finalizers")


def test_finalizer_then_progress_despite_a_lagging_cache(
    bed: Bed, kube_api_client: k8s.ApiClient, kube_server: KubeAPIServer
) -> None:
    create_secret(kube_api_client, bed.namespace)
    bed.create(host_body("host-0"))
    host_path = f"/namespaces/{bed.namespace}/baremetalhosts/host-0"
    writes = kube_server.request_log.count("PUT", path_contains=host_path)
    # One pass: the finalizer, then from what the finalizer write returned "" ->
    # registering -> inspecting, saved before inspection (a later step) acts.
    assert bed.reconcile("host-0") == Result(requeue_after=AT_ONCE)
    assert BMH_FINALIZER in bed.hosts.get("host-0")["metadata"]["finalizers"]  # type: ignore[index]
    assert bed.hosts.state("host-0") == "inspecting"
    assert bed.registry.host(bed.namespace, "host-0").registered
    assert not bed.registry.host(bed.namespace, "host-0").running("inspect")
    # The finalizer PUT and one status PUT.
    assert kube_server.request_log.count("PUT", path_contains=host_path) - writes == 2
    # The cache still shows the object before the finalizer: the reconciler uses what its
    # writes returned instead of redoing the steps (or failing with a 409).
    deadline = time.monotonic() + 10.0
    while bed.hosts.state("host-0") != "available" and time.monotonic() < deadline:
        bed.reconcile("host-0")
    assert bed.hosts.state("host-0") == "available"
    assert bed.registry.host(bed.namespace, "host-0").calls_to("register")
    # The pass that wrote the HardwareData also copied its CPU architecture into the spec.
    stored = bed.hosts.get("host-0")
    assert stored is not None and stored["spec"]["architecture"] == "x86_64"
    # That spec change was written before the status, so the conditions the status write
    # carried already observe the generation it made: no pass is left to write them again.
    generation = stored["metadata"]["generation"]
    assert generation > 1
    assert {c["observedGeneration"] for c in stored["status"]["conditions"]} == {generation}
    # The step after the one reaching available powered the host on (spec.online), and the
    # one after that read it back: a power change is never deferred and keeps the run
    # going, so one status write says both.
    assert stored["status"]["poweredOn"] is True


def test_a_cache_showing_the_passs_first_write_does_not_cause_a_conflict(
    bed: Bed, kube_api_client: k8s.ApiClient, kube_server: KubeAPIServer
) -> None:
    create_secret(kube_api_client, bed.namespace)
    bed.create(host_body("host-0"))
    assert bed.reconcile("host-0") == Result(requeue_after=AT_ONCE)  # finalizer, then status
    # The watch delivers the finalizer write first: the cache shows that version, which the
    # same pass's status write has already replaced.
    first_write = next(
        ev.obj
        for ev in kube_server.store.history
        if ev.obj["metadata"].get("namespace") == bed.namespace
        and ev.obj["metadata"]["name"] == "host-0"
        and ev.obj["metadata"].get("finalizers")
        and not ev.obj.get("status")
    )
    bed.host_store.put(first_write)
    host_path = f"/namespaces/{bed.namespace}/baremetalhosts/host-0"
    bed.reconcile("host-0")
    assert kube_server.request_log.count("PUT", path_contains=host_path, status=409) == 0
    assert bed.hosts.state("host-0") == "inspecting"


def test_written_hosts_serve_the_last_write_until_the_cache_moves_past_our_own() -> None:
    def obj(rv: str) -> KubeObject:
        return freeze({"metadata": {"name": "h", "resourceVersion": rv}})

    def rv(o: KubeObject) -> str:
        return str(o["metadata"]["resourceVersion"])

    written = WrittenHosts()
    written.remember("ns/h", {"1", "2"}, obj("3"))  # read 1, wrote 2 then 3
    assert rv(written.freshest("ns/h", obj("1"))) == "3"
    assert rv(written.freshest("ns/h", obj("2"))) == "3"
    # A pass that started from that memo (cache still at 1) and wrote 4 then 5.
    written.remember("ns/h", {"1", "3", "4"}, obj("5"))
    assert rv(written.freshest("ns/h", obj("2"))) == "5"  # still ours
    assert rv(written.freshest("ns/h", obj("5"))) == "5"
    # Someone else's change: the cache wins and the memo is dropped.
    assert rv(written.freshest("ns/h", obj("7"))) == "7"
    assert rv(written.freshest("ns/h", obj("4"))) == "4"


def test_missing_secret_polls_and_invalid_secret_waits(
    bed: Bed, kube_api_client: k8s.ApiClient
) -> None:
    bed.create(host_body("host-0"))
    # The finalizer and "" -> registering (no credentials needed yet) are saved; the next
    # step needs the Secret, so the pass stops there and comes back at once.
    assert bed.reconcile("host-0") == Result(requeue_after=AT_ONCE)
    assert bed.hosts.state("host-0") == "registering"
    bed.refresh("host-0")
    assert bed.reconcile("host-0") == Result(requeue_after=10.0)
    status = bed.refresh("host-0")["status"]
    assert status["errorType"] == "registration error"
    assert status["errorCount"] == 1
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "Error"

    create_secret(kube_api_client, bed.namespace, password=None)
    assert bed.reconcile("host-0") == Result()
    status = bed.refresh("host-0")["status"]
    assert "'password'" in status["errorMessage"]
    assert status["errorCount"] == 2


def test_provisioner_not_ready_waits_30s_and_counts(
    bed: Bed, kube_api_client: k8s.ApiClient
) -> None:
    create_secret(kube_api_client, bed.namespace)
    bed.create(host_body("host-0"))
    bed.reconcile("host-0")  # finalizer
    bed.refresh("host-0")
    bed.registry.ready = False
    before = sample("metal3_provisioner_not_ready_total")
    assert bed.reconcile("host-0") == Result(requeue_after=30.0)
    assert sample("metal3_provisioner_not_ready_total") == before + 1


def test_transient_provisioner_error_raises_and_saves_nothing(
    bed: Bed, kube_api_client: k8s.ApiClient
) -> None:
    create_secret(kube_api_client, bed.namespace)
    bed.create(host_body("host-0"))
    bed.reconcile("host-0")  # finalizer, "" -> registering -> inspecting
    before = bed.refresh("host-0")
    assert before["status"]["provisioning"]["state"] == "inspecting"
    bed.registry.host(bed.namespace, "host-0").raise_next("register", ProvisionerError("down"))
    failures = sample("metal3_reconcile_error_total")
    with pytest.raises(StateMachineError):
        bed.reconcile("host-0")
    after = bed.hosts.get("host-0")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert sample("metal3_reconcile_error_total") == failures + 1


def test_host_config_data_keys_fallback_and_errors(
    kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    create_secret(
        kube_api_client,
        kube_namespace,
        "user",
        username=None,
        password=None,
        data={"userData": "#cloud-config"},
    )
    create_secret(
        kube_api_client,
        kube_namespace,
        "net",
        username=None,
        password=None,
        data={"value": "{}"},
    )
    create_secret(
        kube_api_client,
        kube_namespace,
        "meta",
        username=None,
        password=None,
        data={"other": "x"},
    )
    body = host_body(
        "host-0",
        userData={"name": "user"},
        networkData={"name": "net", "namespace": kube_namespace},
        metaData={"name": "meta"},
    )
    body["metadata"]["namespace"] = kube_namespace
    host = BareMetalHost.from_dict(body)
    secrets = SecretManager(kube_api_client, DictStore())
    config = HostConfigSecrets(secrets, host)
    assert config.user_data() == "#cloud-config"
    assert config.network_data() == "{}"
    before = sample("metal3_host_config_data_error_total", host_data_type="metaData")
    with pytest.raises(HostConfigDataError, match="Secret meta does not contain key metaData"):
        config.meta_data()
    assert sample("metal3_host_config_data_error_total", host_data_type="metaData") == before + 1

    elsewhere = BareMetalHost.from_dict(
        {**body, "spec": {**body["spec"], "userData": {"name": "user", "namespace": "other"}}}
    )
    with pytest.raises(HostConfigDataError, match="same namespace"):
        HostConfigSecrets(secrets, elsewhere).user_data()
    no_data = BareMetalHost.from_dict({**body, "spec": {"online": True}})
    assert HostConfigSecrets(secrets, no_data).user_data() is None


def test_preprovisioning_network_data_secret_is_claimed_and_is_the_default_network_data(
    bed: Bed, kube_api_client: k8s.ApiClient
) -> None:
    create_secret(kube_api_client, bed.namespace)
    create_secret(
        kube_api_client,
        bed.namespace,
        "ramdisk-net",
        username=None,
        password=None,
        data={"networkData": "links: []"},
    )
    bed.create(host_body("host-0", preprovisioningNetworkDataName="ramdisk-net"))
    for _ in range(3):  # finalizer, "" -> registering, register
        bed.reconcile("host-0")
        bed.refresh("host-0")
    secret = read_secret(kube_api_client, bed.namespace, "ramdisk-net")
    assert secret is not None
    meta = secret["metadata"]
    assert meta["labels"]["environment.metal3.io"] == "baremetal"
    assert SECRET_FINALIZER in meta["finalizers"]
    assert [ref["name"] for ref in meta["ownerReferences"]] == ["host-0"]
    host = BareMetalHost.from_dict(bed.refresh("host-0"))
    config = HostConfigSecrets(SecretManager(kube_api_client, DictStore()), host)
    assert config.network_data() == "links: []"


def test_an_unwatched_secret_is_claimed_with_one_patch_keeping_what_others_wrote(
    kube_api_client: k8s.ApiClient, kube_namespace: str, kube_server: KubeAPIServer
) -> None:
    create_secret(kube_api_client, kube_namespace)
    core = k8s.CoreV1Api(kube_api_client)
    other_owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "uid-cm"}
    core.patch_namespaced_secret(
        "bmc-secret",
        kube_namespace,
        {"metadata": {"finalizers": ["example.com/keep"], "ownerReferences": [other_owner]}},
    )
    body = host_body("host-0")
    body["metadata"].update(namespace=kube_namespace, uid="uid-host-0")
    host = BareMetalHost.from_dict(body)
    secrets = SecretManager(kube_api_client, DictStore())
    path = f"/api/v1/namespaces/{kube_namespace}/secrets/bmc-secret"
    # The emulator logs a request once answered: wait for the set-up patch to be counted.
    wait_for(lambda: kube_server.count_requests("PATCH", path) == 1, what="set-up patch logged")

    claimed = secrets.acquire(kube_namespace, "bmc-secret", owner=host, add_finalizer=True)
    again = secrets.acquire(kube_namespace, "bmc-secret", owner=host, add_finalizer=True)

    # One patch; no GET, no PUT (the second claim used what the first one wrote).
    wait_for(lambda: kube_server.count_requests("PATCH", path) == 2, what="claim logged")
    assert kube_server.count_requests("GET", path) == 0
    assert kube_server.count_requests("PUT", path) == 0
    assert again["metadata"]["resourceVersion"] == claimed["metadata"]["resourceVersion"]
    stored = read_secret(kube_api_client, kube_namespace, "bmc-secret")
    assert stored is not None
    meta = stored["metadata"]
    assert set(meta["finalizers"]) == {"example.com/keep", SECRET_FINALIZER}
    assert {r["uid"] for r in meta["ownerReferences"]} == {"uid-cm", "uid-host-0"}
    ours = next(r for r in meta["ownerReferences"] if r["uid"] == "uid-host-0")
    assert ours == {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "name": "host-0",
        "uid": "uid-host-0",
    }
    assert meta["labels"]["environment.metal3.io"] == "baremetal"
    assert stored["data"]["password"]


def test_a_cached_secret_is_claimed_with_one_put_and_then_left_alone(
    kube_api_client: k8s.ApiClient, kube_namespace: str, kube_server: KubeAPIServer
) -> None:
    """A watched Secret (frozen, from the cache) that an older release owned as controller:
    one PUT labels it, drops the controller flag, adds the finalizer and keeps the foreign
    owner; a claim of what that PUT wrote writes nothing."""
    create_secret(kube_api_client, kube_namespace)
    body = host_body("host-0")
    body["metadata"].update(namespace=kube_namespace, uid="uid-host-0")
    host = BareMetalHost.from_dict(body)
    stored = read_secret(kube_api_client, kube_namespace, "bmc-secret")
    assert stored is not None
    other_owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "uid-cm"}
    ours = {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "name": "host-0",
        "uid": "uid-host-0",
    }
    stored["metadata"]["ownerReferences"] = [other_owner, {**ours, "controller": True}]
    stored["metadata"].pop("labels", None)
    store = DictStore()
    store.put(stored)
    secrets = SecretManager(kube_api_client, store)
    path = f"/api/v1/namespaces/{kube_namespace}/secrets/bmc-secret"

    claimed = secrets.acquire(kube_namespace, "bmc-secret", owner=host, add_finalizer=True)
    store.put(claimed)
    again = secrets.acquire(kube_namespace, "bmc-secret", owner=host, add_finalizer=True)

    wait_for(lambda: kube_server.count_requests("PUT", path) == 1, what="claim logged")
    assert kube_server.count_requests("PATCH", path) == 0
    assert again["metadata"]["resourceVersion"] == claimed["metadata"]["resourceVersion"]
    meta = claimed["metadata"]
    assert meta["ownerReferences"] == [other_owner, ours]
    assert meta["finalizers"] == [SECRET_FINALIZER]
    assert meta["labels"] == {"environment.metal3.io": "baremetal"}
    assert stored["metadata"]["ownerReferences"][1]["controller"] is True, "input not mutated"


_RANK = {
    "registering": 1,
    "inspecting": 2,
    "preparing": 3,
    "available": 4,
    "provisioning": 5,
    "provisioned": 6,
}
IMAGE = {"url": "http://127.0.0.1/image.qcow2", "checksum": "0" * 64, "checksumType": "sha256"}


def _check_not_ahead(bed: Bed, name: str) -> None:
    """The fixture started no operation of a state later than the saved one."""
    fixture = bed.registry.host(bed.namespace, name)
    saved = _RANK.get(str(bed.refresh(name)["status"]["provisioning"]["state"]), 0)
    # Registration alone may run ahead of a new host's saved "": replaying it finds the node.
    if fixture.inspected or fixture.running("inspect"):
        assert saved >= _RANK["inspecting"], "inspection started before it was saved"
    if fixture.image_url or fixture.running("provision"):
        assert saved >= _RANK["provisioning"], "deployment started before it was saved"


def _walk_to_provisioned(bed: Bed, kube_server: KubeAPIServer, faults: Faults, name: str) -> int:
    """Reconcile ``name`` until provisioned; every pass is first run with its status write
    failing (as if the process died before it), then again. Neither may leave the fixture
    ahead of the saved state. Returns the status writes that succeeded."""
    status_path = f"/namespaces/{bed.namespace}/baremetalhosts/{name}/status"
    bed.reconcile(name)  # the finalizer and the first state
    before = kube_server.request_log.count("PUT", path_contains=status_path, status=200)
    deadline = time.monotonic() + 20.0
    while bed.hosts.state(name) != "provisioned":
        assert time.monotonic() < deadline, f"stuck in {bed.hosts.state(name)!r}"
        faults.conflict_next_writes(1, resource="baremetalhosts", name=name)
        with contextlib.suppress(Exception):  # the failed write: retried by the next pass
            bed.reconcile(name)
        faults.clear()
        _check_not_ahead(bed, name)
        bed.reconcile(name)
        _check_not_ahead(bed, name)
    return kube_server.request_log.count("PUT", path_contains=status_path, status=200) - before


def test_later_steps_of_a_pass_never_act_before_their_state_is_saved(
    bed: Bed,
    kube_api_client: k8s.ApiClient,
    kube_server: KubeAPIServer,
    kube_faults: Faults,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One pass runs the steps that need no waiting back to back and saves once, but a later
    step that would start an operation ends the pass first: the backend is never ahead of the
    saved state by more than the step that started from it. Chaining still spares status
    writes compared with one step per pass (upstream's way)."""
    create_secret(kube_api_client, bed.namespace)
    bed.create(host_body("host-0", image=IMAGE))
    chained = _walk_to_provisioned(bed, kube_server, kube_faults, "host-0")

    monkeypatch.setattr(reconciler_module, "MAX_CHAINED_STEPS", 1)
    bed.create(host_body("host-1", mac="00:00:5e:00:53:02", image=IMAGE))
    one_step = _walk_to_provisioned(bed, kube_server, kube_faults, "host-1")
    assert chained < one_step
