"""The DataImage and BMCEventSubscription controllers' registration: what their watches
enqueue (a host's events wake its same-named DataImage and the subscriptions naming it)."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from bmo.controllers.bmceventsubscription import setup as bes_setup
from bmo.controllers.dataimage import setup as di_setup
from bmo.provisioner.fixture import FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.manager import Manager
from bmo.settings import ManagerSettings, Settings


@pytest.fixture
def manager() -> Manager:
    api = k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9"))
    return Manager(ManagerSettings(namespaces=("metal3",)), api)


def meta(name: str, version: str = "1", generation: int = 1) -> dict[str, object]:
    return {
        "namespace": "metal3",
        "name": name,
        "resourceVersion": version,
        "generation": generation,
    }


def drain(queue: object) -> list[str]:
    keys = []
    while len(queue) > 0:  # type: ignore[arg-type]
        key, _ = queue.get(timeout=1)  # type: ignore[attr-defined]
        keys.append(key)
        queue.done(key)  # type: ignore[attr-defined]
    return sorted(keys)


def test_data_image_watches(manager: Manager) -> None:
    wired = di_setup.setup(
        manager, Settings(), provisioner_factory=FixtureProvisionerFactory(FixtureRegistry())
    )
    queue = wired.controller.queue
    # A host without a DataImage wakes nothing.
    wired.hosts.apply_event("ADDED", {"metadata": meta("h0")})
    assert drain(queue) == []
    wired.images.apply_event("ADDED", {"metadata": meta("h0"), "spec": {"url": "http://x"}})
    assert drain(queue) == ["metal3/h0"]
    # The host powering off (a status-only change) wakes its DataImage: the attach moment.
    wired.hosts.apply_event(
        "MODIFIED", {"metadata": meta("h0", "2"), "status": {"poweredOn": False}}
    )
    assert drain(queue) == ["metal3/h0"]
    # The controller's own status writes do not.
    wired.images.apply_event(
        "MODIFIED",
        {"metadata": meta("h0", "3"), "spec": {"url": "http://x"}, "status": {"error": {}}},
    )
    assert drain(queue) == []
    assert [c.name for c in manager.controllers] == ["dataimage"]


def test_subscription_watches(manager: Manager) -> None:
    wired = bes_setup.setup(
        manager, Settings(), provisioner_factory=FixtureProvisionerFactory(FixtureRegistry())
    )
    queue = wired.controller.queue
    for name in ("sub-a", "sub-b"):
        wired.subscriptions.apply_event(
            "ADDED", {"metadata": meta(name), "spec": {"hostName": "h0"}}
        )
    wired.subscriptions.apply_event(
        "ADDED", {"metadata": meta("other"), "spec": {"hostName": "h1"}}
    )
    drain(queue)
    wired.hosts.apply_event("ADDED", {"metadata": meta("h0")})
    assert drain(queue) == ["metal3/sub-a", "metal3/sub-b"]
    assert [c.name for c in manager.controllers] == ["bmceventsubscription"]
