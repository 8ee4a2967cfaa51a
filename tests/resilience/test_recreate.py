"""Ironic is disposable: wipe its database mid-life and bmo re-creates every node, adopting
what is provisioned (never writing a disk again) and restarting what was in flight.

One test drives six hosts, one per starting state, through a single wipe: a fresh Ironic
costs seconds, and one wipe with everything in flight at once is the harder case anyway.
``[fake] deploy_delay`` makes deploys and tear-downs last long enough to wipe during them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.integration.operator import Hosts, wait_for
from tests.resilience.env import (
    DEADLINE,
    IMAGE,
    Stack,
    fake_host,
    provisioning_id,
    remove_all,
    stack,
)

pytestmark = [pytest.mark.ironic, pytest.mark.slow]

#: Each of prepare/deploy/tear_down/clean_up of the fake deploy interface sleeps this long.
DEPLOY_DELAY = "4"
IN_FLIGHT = ("provisioning", "deprovisioning", "inspecting")


@pytest.fixture
def slow_stack(tmp_path: Path) -> Iterator[Stack]:
    with stack(tmp_path, {"deploy_delay": DEPLOY_DELAY}, agent=False) as running:
        yield running


def test_wipe_recreates_adopts_and_restarts(
    slow_stack: Stack, kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    s, ns = slow_stack, kube_namespace
    hosts = Hosts(kube_api_client, ns)
    from tests.integration.operator import create_secret

    create_secret(kube_api_client, ns)
    try:
        with s.operator(kube_api_client, ns):
            hosts.create(fake_host("available"))
            hosts.create(fake_host("provisioned", image=IMAGE))
            hosts.create(fake_host("deprovisioning", image=IMAGE))
            hosts.create(fake_host("external", externallyProvisioned=True, image=IMAGE))
            hosts.create(fake_host("provisioning"))
            hosts.create(fake_host("inspecting", inspect=True))  # no agent: waits
            for name in ("provisioned", "deprovisioning"):
                hosts.wait_state(name, "provisioned", timeout=DEADLINE)
            hosts.wait_state("external", "externally provisioned", timeout=DEADLINE)
            s.nodes.wait_state(ns, "external", "active")
            hosts.wait_state("available", "available", timeout=DEADLINE)
            hosts.wait_state("inspecting", "inspecting", timeout=DEADLINE)
            s.nodes.wait_state(ns, "inspecting", "inspect wait")
            before = {name: provisioning_id(hosts, name) for name in _NAMES}
            assert s.proxy.deploys() == {
                before["provisioned"]: 1,
                before["deprovisioning"]: 1,
            }, "one deploy each for the two hosts with an image, none for the others"

            hosts.wait_state("provisioning", "available", timeout=DEADLINE)
            hosts.patch("provisioning", {"spec": {"image": IMAGE}})
            hosts.patch("deprovisioning", {"spec": {"image": None}})
            hosts.wait_state("provisioning", "provisioning", timeout=DEADLINE)
            hosts.wait_state("deprovisioning", "deprovisioning", timeout=DEADLINE)

            s.ironic.wipe_database()
            wiped_at = s.proxy.now()
            states = {name: hosts.state(name) for name in _NAMES}
            assert states == {
                "available": "available",
                "provisioned": "provisioned",
                "external": "externally provisioned",
                "provisioning": "provisioning",
                "inspecting": "inspecting",
                "deprovisioning": "deprovisioning",
            }, "every host must be in its starting state when Ironic loses its database"
            s.ironic.start()
            assert s.nodes.all() == {}
            s.agent.start()

            final = {
                "available": "available",
                "provisioned": "provisioned",
                "external": "externally provisioned",
                "provisioning": "provisioned",
                "inspecting": "available",
                "deprovisioning": "available",
            }
            for name, state in final.items():
                hosts.wait_state(name, state, timeout=DEADLINE)
            expected_ironic = {
                "available": {"manageable"},
                "provisioned": {"active"},
                "external": {"active"},
                "provisioning": {"active"},
                "inspecting": {"manageable"},
                "deprovisioning": {"available", "manageable"},
            }
            for name, wanted in expected_ironic.items():
                wait_for(
                    lambda name=name, wanted=wanted: (
                        (node := s.nodes.get(ns, name)) is not None
                        and node["provision_state"] in wanted
                    ),
                    timeout=DEADLINE,
                    what=f"Ironic node of {name} in {sorted(wanted)}",
                )
            nodes = s.nodes.all()
            after = {name: provisioning_id(hosts, name) for name in _NAMES}
            for name in _NAMES:
                node = nodes[f"{ns}~{name}"]
                assert after[name] == node["uuid"], f"{name}: status.provisioning.ID is stale"
                assert after[name] != before[name], f"{name}: the node was re-created"
                status = hosts.status(name)
                assert status.get("operationalStatus") == "OK", (name, status)
                assert not status.get("errorType"), (name, status)

            deploys = s.proxy.deploys(since=wiped_at)
            assert set(deploys) <= {after["provisioning"]}, (
                f"only the host that was mid-deploy may be deployed again, got {deploys}"
            )
            adopts = s.proxy.provision_targets("adopt", since=wiped_at)
            for name in ("provisioned", "external"):
                assert adopts[after[name]] >= 1, f"{name} was not adopted: {adopts}"
            assert s.proxy.provision_targets("deleted", since=wiped_at)[after["provisioned"]] == 0
            assert hosts.status("provisioned")["provisioning"]["image"]["url"] == IMAGE["url"]
            assert hosts.status("deprovisioning")["provisioning"]["image"].get("url") in (None, "")
    finally:
        remove_all(hosts)


_NAMES = (
    "available",
    "provisioned",
    "external",
    "provisioning",
    "inspecting",
    "deprovisioning",
)
