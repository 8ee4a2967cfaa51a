"""The RBAC in config/rbac grants what bmo's code calls - no less (a call RBAC forbids
breaks in a real cluster only) and, for the kinds the running controllers touch, no more
(least privilege). The calls are not guessed from the source: an operator runs a whole host
lifecycle and leader election against the emulator, and every request it made is mapped to
the (verb, group, resource) RBAC checks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.clock import FakeClock
from bmo.runtime.leader import LeaderElector, LeaseConfig
from testenv.kubeapi import KubeAPIServer
from tests.config.render import render
from tests.integration.operator import Hosts, create_secret, host_body, running_operator

pytestmark = pytest.mark.kubectl

AGENT = "bmo-rbac-drift"
IMAGE = {"url": "http://127.0.0.1:9/img.qcow2", "checksum": "0123456789abcdef"}
DELAYS = {op: Delay(1) for op in ("inspect", "prepare", "provision", "deprovision")}
Grant = tuple[str, str, str]  # (verb, apiGroup, resource[/subresource])

NOT_EXERCISED: dict[Grant, str] = {
    ("get", "metal3.io", "hardwaredata"): "hardwaredata.py reads it only when adopting one",
    ("get", "metal3.io", "baremetalhosts"): "informers read from the cache; get is cheap to keep",
    ("update", "metal3.io", "hardwaredata"): "hardwaredata.py replaces it on re-inspection",
    ("update", "", "secrets"): "secrets.py labels/finalizes a Secret not yet claimed",
    ("patch", "", "events"): "events.py bumps count only when an Event repeats",
    ("get", "", "secrets"): "secrets.py reads through the API only on a cache miss",
    ("update", "metal3.io", "baremetalhosts/finalizers"): "OwnerReferencesPermissionEnforcement",
    ("update", "metal3.io", "hardwaredata/finalizers"): "OwnerReferencesPermissionEnforcement",
    ("get", "metal3.io", "hostfirmwaresettings"): (
        "hostfirmwaresettings reads one through the API when another writer raced its create"
    ),
    ("update", "metal3.io", "hostfirmwaresettings/status"): (
        "hostfirmwaresettings writes status once Ironic reports BIOS settings (the fixture "
        "host in this lifecycle has none)"
    ),
}
"""Grants the recorded lifecycle does not reach, each with the code path that needs it."""


def request_grant(method: str, path: str, query: str) -> Grant | None:
    """The RBAC attributes of one API request (apiserver's request info resolver)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None  # discovery, /version: allowed to every authenticated user
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    if not rest:
        return None
    resource, name, sub = rest[0], rest[1] if len(rest) > 1 else "", rest[2:]
    if sub:
        resource = f"{resource}/{sub[0]}"
    watch = any(p.lower() in ("watch=1", "watch=true") for p in query.split("&"))
    verb = {
        "GET": "watch" if watch else ("get" if name else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }[method]
    return verb, group, resource


def rbac_grants(objects: Iterable[dict[str, Any]]) -> set[Grant]:
    grants: set[Grant] = set()
    for obj in objects:
        if obj["kind"] not in ("ClusterRole", "Role"):
            continue
        for rule in obj.get("rules", []):
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    grants.update((verb, group, resource) for verb in rule["verbs"])
    return grants


def test_every_call_bmo_makes_is_granted_and_nothing_more_for_what_it_touches(
    kube_server: KubeAPIServer, kube_namespace: str
) -> None:
    cfg = k8s.Configuration(host=kube_server.url)
    api = k8s.ApiClient(cfg)
    api.user_agent = AGENT
    helper = k8s.ApiClient(k8s.Configuration(host=kube_server.url))
    ns, hosts = kube_namespace, Hosts(helper, kube_namespace)
    factory = FixtureProvisionerFactory(FixtureRegistry(delays=DELAYS, poll_interval=0.05))
    try:
        with running_operator(api, ns, factory):
            create_secret(helper, ns)
            hosts.create(host_body("rbac-0"))
            hosts.wait_state("rbac-0", "available")
            hosts.patch("rbac-0", {"spec": {"image": IMAGE}})
            hosts.wait_state("rbac-0", "provisioned")
            hosts.patch("rbac-0", {"spec": {"image": None}})
            hosts.wait_state("rbac-0", "available")
            hosts.delete("rbac-0")
            hosts.wait_gone("rbac-0")
        elector = LeaderElector(
            api,
            LeaseConfig(ns, "baremetal-operator", f"rbac-{uuid.uuid4().hex[:6]}"),
            clock=FakeClock(),
        )
        assert elector.try_acquire_or_renew() and elector.try_acquire_or_renew()
        assert elector.release()
    finally:
        api.close()  # type: ignore[no-untyped-call]
        helper.close()  # type: ignore[no-untyped-call]

    used = {
        grant
        for record in kube_server.requests
        if record.user_agent == AGENT
        and (grant := request_grant(record.method, record.path, record.query)) is not None
    }
    granted = rbac_grants(render("rbac"))
    assert used - granted == set(), "bmo makes calls its RBAC does not allow"
    # A watch is recorded only once its stream ends; every list an informer makes is
    # followed by one. (The lease's get/create/update are exercised above.)
    used |= {("watch", g, r) for verb, g, r in used if verb == "list"}
    # Kinds the lifecycle writes are fully exercised; one only listed (a DataImage a host
    # might use) is checked by the static test below instead.
    touched = {
        (group, resource.split("/")[0])
        for verb, group, resource in used
        if verb not in ("get", "list", "watch")
    }
    unused = {
        g
        for g in granted
        if (g[1], g[2].split("/")[0]) in touched and g not in used and g not in NOT_EXERCISED
    }
    assert unused == set(), f"granted but never used (trim config/rbac): {sorted(unused)}"


CALL_VERBS = {
    "create_namespaced_custom_object": "create",
    "get_namespaced_custom_object": "get",
    "list_namespaced_custom_object": "list",
    "list_cluster_custom_object": "list",
    "replace_namespaced_custom_object": "update",
    "replace_namespaced_custom_object_status": "update",
    "patch_namespaced_custom_object": "patch",
    "patch_namespaced_custom_object_status": "patch",
    "delete_namespaced_custom_object": "delete",
    "delete_collection_namespaced_custom_object": "deletecollection",
}


THIN_VERBS = {"put": "update", "post": "create", "patch": "patch"}


def test_metal3_grants_only_verbs_some_code_calls() -> None:
    """The static side of the drift check, for every metal3.io kind (the running lifecycle
    above reaches only the host's): a verb RBAC grants on metal3.io must be one bmo's code
    calls somewhere (informers list and watch; finalizers need update)."""
    import re
    from pathlib import Path

    source = "\n".join(
        p.read_text()
        for p in (Path(__file__).resolve().parents[2] / "bmo").rglob("*.py")
        if "commands/explain" not in str(p)  # bmo explain runs with the user's credentials
    )
    called = {
        CALL_VERBS[m]
        for m in re.findall(r"\.([a-z_]+_custom_object(?:_status)?)\(", source)
        if m in CALL_VERBS
    }
    # The hot writes' thin JSON path (``bmo.runtime.jsonapi``): ``.put(custom_object_path(``.
    called |= {
        THIN_VERBS[m] for m in re.findall(r"\.(put|post|patch)\(\s*custom_object_path\(", source)
    }
    # Informers list (and watch) through it too: ``JsonApi(...).open(path, ...)`` of a
    # ``collection_path(self.group, ...)`` in ``Resource.list``.
    if re.search(r"collection_path\(\s*self\.group", source) and ".open(" in source:
        called.add("list")
    called |= {"watch"} if "list" in called else set()
    granted = {verb for verb, group, _ in rbac_grants(render("rbac")) if group == "metal3.io"}
    assert granted - called == set(), "metal3.io verbs granted that no code calls"
    assert "delete" not in granted
    # The one patch: a HostFirmwareSettings appending itself to a shared FirmwareSchema.
    patched = {
        res
        for verb, group, res in rbac_grants(render("rbac"))
        if verb == "patch" and group == "metal3.io"
    }
    assert patched <= {"firmwareschemas"}
