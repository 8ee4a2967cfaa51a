"""The BareMetalHost lookup ``bmo run`` injects into the BMCEventSubscription webhook: the
cache first, a GET on a miss; only the API server's 404 says "no", any other failure
"unknown"; and it reads the BareMetalHost controller's own informer."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from kubernetes import client as k8s

from bmo.controllers.baremetalhost.host_lookup import HostExistsLookup, host_lookup
from bmo.controllers.baremetalhost.setup import BAREMETALHOSTS
from bmo.runtime.manager import Manager
from bmo.runtime.settings import ManagerSettings
from bmo.settings import ControllerSettings, Settings
from tests.controllers.baremetalhost.test_host_reconciler_units import DictStore
from tests.integration.operator import Hosts, host_body


def test_cache_hit_needs_no_api_call() -> None:
    store = DictStore()
    store.put({"metadata": {"name": "cached", "namespace": "nowhere"}})
    lookup = HostExistsLookup(store, _unreachable_client())
    assert lookup("nowhere", "cached") is True


def test_cache_miss_asks_the_api_server(
    kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    """A host created a moment ago (not yet in the cache) exists; a 404 is a definite no."""
    Hosts(kube_api_client, kube_namespace).create(host_body("fresh"))
    lookup = HostExistsLookup(DictStore(), kube_api_client)
    assert lookup(kube_namespace, "fresh") is True
    assert lookup(kube_namespace, "absent") is False


def test_api_failure_is_unknown() -> None:
    lookup = HostExistsLookup(DictStore(), _unreachable_client())
    assert lookup("metal3", "node-1") is None


@pytest.mark.parametrize("selector", ["", "shard=a"], ids=["unsharded", "sharded"])
def test_lookup_reads_the_host_controllers_informer(
    kube_api_client: k8s.ApiClient, selector: str
) -> None:
    manager = Manager(ManagerSettings(), kube_api_client)
    settings = dataclasses.replace(
        Settings(), controller=ControllerSettings(host_label_selector=selector)
    )
    controllers = manager.informer(BAREMETALHOSTS, label_selector=selector or None)
    lookup = host_lookup(manager, settings)
    assert isinstance(lookup, HostExistsLookup)
    assert manager.informers == [controllers]  # the same informer: no second watch


def _unreachable_client() -> k8s.ApiClient:
    """A client for a loopback port nothing listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configuration = k8s.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = 0
    return k8s.ApiClient(configuration)
