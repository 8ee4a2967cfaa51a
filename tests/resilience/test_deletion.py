"""Deletion never sticks: whatever is wrong with a host, deleting it completes - object and
finalizers gone, and its Ironic node (if it ever had one) gone too (upstream
``host_state_machine.go`` ``checkInitiateDelete``, ``handlePoweringOffBeforeDelete`` and
``handleDeleting``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from bmo.api.constants import BMH_FINALIZER
from tests.integration.operator import Hosts, create_secret, host_body, wait_for
from tests.resilience.env import (
    DEADLINE,
    IMAGE,
    Stack,
    fake_host,
    random_mac,
    remove_all,
    stack,
)

pytestmark = [pytest.mark.ironic, pytest.mark.slow]


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("deletion")) as running:
        yield running


def _finalized(hosts: Hosts, name: str) -> bool:
    obj = hosts.get(name)
    return obj is not None and BMH_FINALIZER in (obj["metadata"].get("finalizers") or [])


def test_broken_hosts_can_always_be_deleted(
    shared_stack: Stack, kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    s, ns = shared_stack, kube_namespace
    hosts = Hosts(kube_api_client, ns)
    create_secret(kube_api_client, ns)
    create_secret(kube_api_client, ns, "doomed-secret")
    try:
        with s.operator(kube_api_client, ns):
            hosts.create(host_body("bad-address", address="fake://[::1", mac=random_mac()))
            hosts.create(host_body("bad-scheme", address="nosuchbmc://127.0.0.1", mac=random_mac()))
            hosts.create(fake_host("no-secret", credentials="missing-secret"))
            hosts.create(fake_host("empty-address", address=""))  # never registers
            hosts.create(fake_host("lost-secret", credentials="doomed-secret", image=IMAGE))
            for name in ("bad-address", "bad-scheme", "no-secret"):
                wait_for(
                    lambda name=name: hosts.status(name).get("errorType") == "registration error",
                    timeout=DEADLINE,
                    what=f"{name} in registration error",
                )
                assert _finalized(hosts, name)
            wait_for(lambda: _finalized(hosts, "empty-address"), what="finalizer added")
            hosts.wait_state("lost-secret", "provisioned", timeout=DEADLINE)
            assert s.nodes.get(ns, "lost-secret") is not None
            # The Secret disappears for good (finalizer and all) under a provisioned host.
            core = k8s.CoreV1Api(kube_api_client)
            core.patch_namespaced_secret("doomed-secret", ns, {"metadata": {"finalizers": None}})
            core.delete_namespaced_secret("doomed-secret", ns)
            wait_for(
                lambda: hosts.status("lost-secret").get("errorType") == "registration error",
                timeout=DEADLINE,
                what="lost-secret notices its Secret is gone",
            )

            for name in ("bad-address", "bad-scheme", "no-secret", "empty-address", "lost-secret"):
                hosts.delete(name)
            for name in ("bad-address", "bad-scheme", "no-secret", "empty-address", "lost-secret"):
                hosts.wait_gone(name, timeout=DEADLINE)
            wait_for(
                lambda: not [n for n in s.nodes.all() if n.startswith(f"{ns}~")],
                what="no Ironic node left behind",
            )
    finally:
        remove_all(hosts)
