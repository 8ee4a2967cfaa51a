"""The BareMetalHost controller's registration with a manager (``setup``): which informers,
selectors, indexes and handlers it asks for, and what its watches enqueue."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from bmo.controllers.baremetalhost.setup import (
    BAREMETALHOSTS,
    CONTROLLER_NAME,
    DATAIMAGES,
    HARDWAREDATA,
    HOSTFIRMWARECOMPONENTS,
    HOSTFIRMWARESETTINGS,
    HOSTUPDATEPOLICIES,
    OWNER_HOST_INDEX,
    SECRET_LABEL_SELECTOR,
    baremetal_secret_owner_keys,
    owner_host_keys,
    secret_owner_handler,
    setup,
)
from bmo.hoststate.actions import STEADY_STATE_POWER_DELAY, WATCHED_POWER_POLL_DELAY
from bmo.provisioner.fixture import FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.informer import SECRETS, Informer
from bmo.runtime.manager import Manager
from bmo.runtime.registry import REGISTRY
from bmo.runtime.settings import DEFAULT_SYNC_PERIOD
from bmo.settings import ControllerSettings, ManagerSettings, PodSettings, Settings
from tests.runtime.test_informer import KeyRecorder, run_informer, wait_until

__all__ = ["run_informer"]  # a fixture, imported so pytest finds it here too


@pytest.fixture
def manager() -> Manager:
    api = k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9"))
    return Manager(ManagerSettings(namespaces=("metal3",)), api)


def test_setup_registers_the_watches_and_one_controller(manager: Manager) -> None:
    settings = Settings(controller=ControllerSettings(concurrency=3), pod=PodSettings(name="bmo-0"))
    wired = setup(
        manager, settings, provisioner_factory=FixtureProvisionerFactory(FixtureRegistry())
    )
    data_images = manager.informer(DATAIMAGES)  # shared: the one setup registered
    assert manager.informers == [
        wired.hosts,
        wired.secrets,
        wired.hardware,
        *wired.firmware,
        data_images,
    ]
    assert [i.resource for i in manager.informers] == [
        BAREMETALHOSTS,
        SECRETS,
        HARDWAREDATA,
        HOSTFIRMWARESETTINGS,
        HOSTFIRMWARECOMPONENTS,
        HOSTUPDATEPOLICIES,
        DATAIMAGES,
    ]
    assert wired.secrets.label_selector == SECRET_LABEL_SELECTOR
    assert wired.secrets.store.has_index(OWNER_HOST_INDEX)
    assert (wired.hosts.resync_period, wired.secrets.resync_period) == (DEFAULT_SYNC_PERIOD,) * 2
    assert wired.hardware.resync_period is None
    assert [(c.name, c.workers) for c in manager.controllers] == [(CONTROLLER_NAME, 3)]
    assert wired.controller.reconciler is wired.reconciler


def test_host_watch_ignores_status_only_updates(manager: Manager) -> None:
    wired = setup(
        manager, Settings(), provisioner_factory=FixtureProvisionerFactory(FixtureRegistry())
    )
    queue = wired.controller.queue
    meta = {"namespace": "metal3", "name": "h", "generation": 1, "resourceVersion": "1"}
    wired.hosts.apply_event("ADDED", {"metadata": meta})
    assert len(queue) == 1
    key, _ = queue.get(timeout=1)
    assert key == "metal3/h"
    queue.done(key)
    status_only = {"metadata": {**meta, "resourceVersion": "2"}, "status": {"x": 1}}
    wired.hosts.apply_event("MODIFIED", status_only)
    assert len(queue) == 0
    spec_change = {"metadata": {**meta, "resourceVersion": "3", "generation": 2}}
    wired.hosts.apply_event("MODIFIED", spec_change)
    assert len(queue) == 1


class WatchingFactory(FixtureProvisionerFactory):
    """A fixture factory whose backend reports machines and freed provisioning slots."""

    def __init__(self) -> None:
        super().__init__(FixtureRegistry())
        self.wake: Callable[[str, str], None] | None = None
        self.freed: Callable[[int], None] | None = None

    def watch_hosts(self, wake: Callable[[str, str], None]) -> bool:
        self.wake = wake
        return True

    def watch_capacity(self, freed: Callable[[int], None]) -> None:
        self.freed = freed


def test_a_freed_provisioning_slot_enqueues_the_delayed_hosts_only(manager: Manager) -> None:
    factory = WatchingFactory()
    wired = setup(manager, Settings(), provisioner_factory=factory)
    queue = wired.controller.queue
    for name, status in (("waiting", "delayed"), ("fine", "OK"), ("new", None)):
        meta = {"namespace": "metal3", "name": name, "resourceVersion": "1"}
        obj: dict[str, object] = {"metadata": meta}
        if status is not None:
            obj["status"] = {"operationalStatus": status}
        wired.hosts.apply_event("ADDED", obj)
    while len(queue):
        key, _ = queue.get(timeout=1)
        queue.done(key)
    assert factory.freed is not None and factory.wake is not None
    factory.freed(3)
    assert len(queue) == 1
    assert queue.get(timeout=1)[0] == "metal3/waiting"
    factory.wake("metal3", "fine")  # the machine of one host changed: that host
    assert len(queue) == 1


def test_freed_slots_wake_as_many_delayed_hosts_the_longest_waiting_first(
    manager: Manager,
) -> None:
    factory = WatchingFactory()
    wired = setup(manager, Settings(), provisioner_factory=factory)
    queue = wired.controller.queue

    versions = iter(range(1, 100))

    def host(name: str, status: str) -> None:
        meta = {"namespace": "metal3", "name": name, "resourceVersion": str(next(versions))}
        wired.hosts.apply_event(
            "ADDED", {"metadata": meta, "status": {"operationalStatus": status}}
        )

    def drain() -> list[str]:
        keys = []
        while len(queue):
            key, _ = queue.get(timeout=1)
            queue.done(key)
            keys.append(key)
        return keys

    for name in ("c", "a", "b"):
        host(name, "delayed")
    drain()
    assert factory.freed is not None
    factory.freed(1)
    assert drain() == ["metal3/a"], "seen waiting together: by name"
    host("0-late", "delayed")  # sorts first by name, but waits least
    drain()
    factory.freed(1)  # a found the slot taken (still delayed): it keeps its place
    assert drain() == ["metal3/a"]
    host("a", "OK")  # a got its slot
    drain()
    factory.freed(2)
    assert drain() == ["metal3/b", "metal3/c"]
    factory.freed(10)
    assert sorted(drain()) == ["metal3/0-late", "metal3/b", "metal3/c"]


class BlindFactory(FixtureProvisionerFactory):
    """A backend that cannot tell when a machine changed (Ironic without the node cache)."""

    def watch_hosts(self, wake: Callable[[str, str], None]) -> bool:
        return False


def test_hosts_poll_steady_power_slowly_only_when_the_backend_reports_changes(
    manager: Manager,
) -> None:
    watched = setup(manager, Settings(), provisioner_factory=WatchingFactory())
    assert watched.reconciler._settings.machine.power_poll_delay == WATCHED_POWER_POLL_DELAY
    blind = setup(manager, Settings(), provisioner_factory=BlindFactory(FixtureRegistry()))
    assert blind.reconciler._settings.machine.power_poll_delay == STEADY_STATE_POWER_DELAY


def test_a_fixture_machine_changed_by_hand_wakes_its_host(manager: Manager) -> None:
    registry = FixtureRegistry()
    wired = setup(manager, Settings(), provisioner_factory=FixtureProvisionerFactory(registry))
    queue = wired.controller.queue
    registry.host("metal3", "pressed").powered_on = True
    registry.changed("metal3", "pressed")  # someone pressed the power button
    assert len(queue) == 1
    assert queue.get(timeout=1)[0] == "metal3/pressed"


def _hosts_counted() -> float:
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "bmo_hosts"
        for sample in family.samples
    )


def test_stopping_the_manager_stops_serving_host_gauges(manager: Manager) -> None:
    """Host gauges read the informer cache; once the manager stops, they report no hosts."""
    wired = setup(
        manager, Settings(), provisioner_factory=FixtureProvisionerFactory(FixtureRegistry())
    )
    wired.hosts.apply_event("ADDED", {"metadata": {"namespace": "metal3", "name": "h"}})
    assert _hosts_counted() == 1
    manager._run_stop_hooks()
    assert _hosts_counted() == 0


def test_only_labelled_secrets_concern_their_owner_hosts() -> None:
    owners = [
        {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost", "name": "host-1"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "not-a-host"},
    ]
    meta = {"namespace": "metal3", "name": "s", "ownerReferences": owners}
    labelled = {"metadata": {**meta, "labels": {"environment.metal3.io": "baremetal"}}}
    assert baremetal_secret_owner_keys(labelled) == ["metal3/host-1"]
    assert baremetal_secret_owner_keys({"metadata": meta}) == []


def test_secrets_map_to_owner_hosts_and_are_indexed(
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    run_informer: Callable[[Informer], Informer],
) -> None:
    ns = kube_namespace
    core = k8s.CoreV1Api(kube_api_client)

    def secret(name: str, labels: dict[str, str], owners: list[tuple[str, str, str]]) -> None:
        refs = [
            {"apiVersion": av, "kind": kind, "name": owner, "uid": str(uuid.uuid4())}
            for av, kind, owner in owners
        ]
        core.create_namespaced_secret(
            ns,
            {
                "metadata": {"name": name, "labels": labels, "ownerReferences": refs},
                "stringData": {"username": "admin", "password": "hunter2"},
            },
        )

    baremetal = {"environment.metal3.io": "baremetal"}
    secret("owned", baremetal, [("metal3.io/v1alpha1", "BareMetalHost", "host-1")])
    queue = KeyRecorder()
    informer = Informer(
        kube_api_client,
        SECRETS,
        namespaces=[ns],
        label_selector=SECRET_LABEL_SELECTOR,
        indexers={OWNER_HOST_INDEX: owner_host_keys},
    )
    informer.add_handler(secret_owner_handler(queue))
    run_informer(informer)
    wait_until(informer.has_synced, what="initial sync")
    assert queue.snapshot() == [f"{ns}/host-1"]

    secret("unlabelled", {}, [("metal3.io/v1alpha1", "BareMetalHost", "host-2")])
    secret(
        "two-owners",
        baremetal,
        [
            ("metal3.io/v1alpha1", "BareMetalHost", "host-3"),
            ("apps/v1", "Deployment", "not-a-host"),
            ("metal3.io/v1alpha1", "BareMetalHost", "host-4"),
        ],
    )
    wait_until(lambda: len(queue.snapshot()) == 3, what="two-owners secret")
    assert queue.snapshot() == [f"{ns}/host-1", f"{ns}/host-3", f"{ns}/host-4"]
    assert informer.get(f"{ns}/unlabelled") is None
    owned = informer.by_index(OWNER_HOST_INDEX, f"{ns}/host-4")
    assert [o["metadata"]["name"] for o in owned] == ["two-owners"]
    core.delete_namespaced_secret("owned", ns)
    wait_until(lambda: len(queue.snapshot()) == 4, what="delete")
    assert queue.snapshot()[-1] == f"{ns}/host-1"
    assert informer.by_index(OWNER_HOST_INDEX, f"{ns}/host-1") == []
