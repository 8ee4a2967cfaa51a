"""The HostFirmwareSettings controller (and the host controller's firmware side) against the
Kubernetes API emulator with the fixture provisioner: the HostFirmwareSettings created empty
at registration, Ironic's settings cached in its status, the shared FirmwareSchema, the
``Valid``/``ChangeDetected`` conditions with upstream's messages, and a valid change applied
through ``preparing``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from bmo.api.firmware import SettingSchema
from bmo.api.firmware_rules import schema_name, validate_setting
from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from testenv.kubeapi import KubeAPIServer
from tests.controllers.firmware_operator import Objects, condition, firmware_operator
from tests.integration.operator import (
    Hosts,
    create_secret,
    events_for,
    host_body,
    wait_for,
)

FAST_DELAYS = {op: Delay(1) for op in ("inspect", "prepare", "provision", "deprovision")}

SCHEMA = {
    "ProcTurboMode": SettingSchema(
        attribute_type="Enumeration", allowable_values=("Enabled", "Disabled")
    ),
    "NumCores": SettingSchema(attribute_type="Integer", lower_bound=1, upper_bound=64),
    "AssetTag": SettingSchema(attribute_type="String", max_length=16),
    "AdminPassword": SettingSchema(attribute_type="Password"),
}
REPORTED = {
    "ProcTurboMode": "Enabled",
    "NumCores": "8",
    "AssetTag": "",
    "AdminPassword": "secret-value",
}
STORED = {k: v for k, v in REPORTED.items() if "Password" not in k}


def seed(registry: FixtureRegistry, namespace: str, name: str) -> None:
    state = registry.host(namespace, name)
    state.bios_settings = dict(REPORTED)
    state.bios_schema = dict(SCHEMA)


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


def test_settings_schema_conditions_and_a_change_applied(
    running: None,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    hfs_api = Objects(kube_api_client, kube_namespace, "hostfirmwaresettings")
    schemas = Objects(kube_api_client, kube_namespace, "firmwareschemas")
    seed(registry, kube_namespace, "host-0")
    create_secret(kube_api_client, kube_namespace)
    host = hosts.create(host_body("host-0"))

    # Created empty at registration, owned (as controller) by the host.
    hfs = wait_for(lambda: hfs_api.get("host-0"), what="HostFirmwareSettings created")
    assert hfs["spec"] == {"settings": {}}
    (owner,) = hfs["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "BareMetalHost",
        "host-0",
        host["metadata"]["uid"],
    )
    assert owner["controller"] is True and owner["blockOwnerDeletion"] is True

    # Ironic's settings, Password ones left out; the schema named from the registry.
    name = schema_name(SCHEMA)
    status = wait_for(
        lambda: (s := (hfs_api.get("host-0") or {}).get("status") or {}).get("settings") and s,
        what="status.settings",
    )
    assert status["settings"] == STORED
    assert status["schema"] == {"namespace": kube_namespace, "name": name}
    assert status["lastUpdated"]
    hfs = hfs_api.get("host-0")
    assert condition(hfs, "Valid")["status"] == "True"
    assert condition(hfs, "Valid")["reason"] == "Success"
    assert condition(hfs, "ChangeDetected")["status"] == "False"
    schema = schemas.get(name)
    assert schema is not None
    assert "AdminPassword" not in schema["spec"]["schema"]
    assert schema["spec"]["schema"]["ProcTurboMode"]["allowable_values"] == ["Enabled", "Disabled"]
    assert [r["name"] for r in schema["metadata"]["ownerReferences"]] == ["host-0"]
    assert schema["metadata"]["ownerReferences"][0]["kind"] == "HostFirmwareSettings"
    hosts.wait_state("host-0", "available")

    # An invalid value: ChangeDetected, not Valid, and one event per problem.
    hfs_api.replace_spec("host-0", {"settings": {"ProcTurboMode": "Turbo", "NumCores": 99}})
    wait_for(
        lambda: condition(hfs_api.get("host-0"), "Valid").get("status") == "False",
        what="Valid=False",
    )
    hfs = hfs_api.get("host-0")
    valid = condition(hfs, "Valid")
    assert (valid["reason"], valid["message"]) == ("ConfigurationError", "Invalid BIOS setting")
    assert valid["observedGeneration"] == hfs["metadata"]["generation"]
    assert condition(hfs, "ChangeDetected")["status"] == "True"
    expected = {
        f"Invalid BIOS setting: {validate_setting(n, v, SCHEMA)}"
        for n, v in (("NumCores", 99), ("ProcTurboMode", "Turbo"))
    }
    wait_for(
        lambda: (
            expected
            <= {
                e["message"]
                for e in events_for(kube_api_client, kube_namespace, "host-0")
                if e["reason"] == "ValidationFailed"
            }
        ),
        what="ValidationFailed events",
    )
    failed = [
        e
        for e in events_for(kube_api_client, kube_namespace, "host-0")
        if e["reason"] == "ValidationFailed"
    ]
    assert {e["involvedObject"]["kind"] for e in failed} == {"HostFirmwareSettings"}
    assert {e["source"]["component"] for e in failed} == {"metal3-hostfirmwaresettings-controller"}
    # An invalid change is never applied: the host stays available.
    assert hosts.status("host-0")["provisioning"]["state"] == "available"
    assert registry.host(kube_namespace, "host-0").bios_settings["ProcTurboMode"] == "Enabled"

    # A valid change: the host prepares, Ironic's value changes, the status follows.
    hfs_api.replace_spec("host-0", {"settings": {"ProcTurboMode": "Disabled", "NumCores": 16}})
    wait_for(
        lambda: (
            ((hfs_api.get("host-0") or {}).get("status") or {}).get("settings", {})
            == {**STORED, "ProcTurboMode": "Disabled", "NumCores": "16"}
        ),
        what="the change applied and read back",
    )
    wait_for(
        lambda: condition(hfs_api.get("host-0"), "ChangeDetected").get("status") == "False",
        what="ChangeDetected=False",
    )
    assert registry.host(kube_namespace, "host-0").calls_to("prepare")
    hosts.wait_state("host-0", "available")


def test_hosts_of_one_model_share_their_schema(
    running: None,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    schemas = Objects(kube_api_client, kube_namespace, "firmwareschemas")
    hfs_api = Objects(kube_api_client, kube_namespace, "hostfirmwaresettings")
    create_secret(kube_api_client, kube_namespace)
    for i, name in enumerate(("host-a", "host-b")):
        seed(registry, kube_namespace, name)
        hosts.create(host_body(name, mac=f"00:00:5e:00:53:0{i + 1}"))
    name = schema_name(SCHEMA)
    owners = wait_for(
        lambda: (
            len(
                refs := ((schemas.get(name) or {}).get("metadata") or {}).get("ownerReferences")
                or []
            )
            == 2
            and refs
        ),
        what="both HostFirmwareSettings own the schema",
    )
    assert sorted(r["name"] for r in owners) == ["host-a", "host-b"]
    uids = {(hfs_api.get(n) or {})["metadata"]["uid"] for n in ("host-a", "host-b")}
    assert {r["uid"] for r in owners} == uids
    assert [s["metadata"]["name"] for s in schemas.list()] == [name]


def _owner_names(schemas: Objects, name: str) -> list[str]:
    refs = ((schemas.get(name) or {}).get("metadata") or {}).get("ownerReferences") or []
    return sorted(str(r["name"]) for r in refs)


def test_a_fleet_of_one_model_joins_its_schema_without_conflicts(
    running: None,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    kube_server: KubeAPIServer,
) -> None:
    """Hosts enrolled together all append themselves to one FirmwareSchema, each with one
    small patch (never re-sending every other host's reference), and none meets a conflict
    (a conflict costs a request of the API budget and a retried pass)."""
    schemas = Objects(kube_api_client, kube_namespace, "firmwareschemas")
    create_secret(kube_api_client, kube_namespace)
    names = [f"host-{i}" for i in range(6)]
    for i, host in enumerate(names):
        seed(registry, kube_namespace, host)
        hosts.create(host_body(host, mac=f"00:00:5e:00:53:{i + 1:02x}"))
    name = schema_name(SCHEMA)
    wait_for(lambda: _owner_names(schemas, name) == names, what="every host owns the schema")
    path = f"/namespaces/{kube_namespace}/firmwareschemas/{name}"
    # The emulator logs a request once its answer is sent: the last may lag the object.
    wait_for(
        lambda: kube_server.count_requests("PATCH", path_contains=path) >= len(names) - 1,
        what="every owner-reference update is logged",
    )
    assert kube_server.count_requests(path_contains=path, status=409) == 0
    assert kube_server.count_requests(path_contains=path, status=422) == 0
    # One create and one appended owner reference per other host, nothing more.
    assert kube_server.count_requests("PATCH", path_contains=path) == len(names) - 1
    assert kube_server.count_requests("PUT", path_contains=path) == 0


def test_a_schema_changed_by_someone_else_keeps_their_change(
    running: None,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """bmo starts a schema update from its own last write; another client's change made
    since is kept (an appended reference needs no resourceVersion)."""
    schemas = Objects(kube_api_client, kube_namespace, "firmwareschemas")
    create_secret(kube_api_client, kube_namespace)
    seed(registry, kube_namespace, "host-a")
    hosts.create(host_body("host-a", mac="00:00:5e:00:53:01"))
    name = schema_name(SCHEMA)
    wait_for(lambda: _owner_names(schemas, name) == ["host-a"], what="the schema exists")
    schemas.patch(name, {"metadata": {"labels": {"example.com/audited": "yes"}}})
    seed(registry, kube_namespace, "host-b")
    hosts.create(host_body("host-b", mac="00:00:5e:00:53:02"))
    wait_for(
        lambda: _owner_names(schemas, name) == ["host-a", "host-b"],
        what="the second host owns the schema too",
    )
    labels = ((schemas.get(name) or {}).get("metadata") or {}).get("labels") or {}
    assert labels.get("example.com/audited") == "yes"


def test_paused_or_unregistered_host_gets_no_settings(
    running: None,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """A host whose BMC Secret is missing never registers: no HostFirmwareSettings."""
    hfs_api = Objects(kube_api_client, kube_namespace, "hostfirmwaresettings")
    seed(registry, kube_namespace, "host-0")
    hosts.create(host_body("host-0", credentials="missing"))
    wait_for(
        lambda: hosts.status("host-0").get("errorType") == "registration error",
        what="registration error",
    )
    create_secret(kube_api_client, kube_namespace, "other")
    hosts.create(host_body("host-1", credentials="other", mac="00:00:5e:00:53:09"))
    seed(registry, kube_namespace, "host-1")
    wait_for(lambda: hfs_api.get("host-1"), what="the registered host's settings")
    assert hfs_api.get("host-0") is None


IMAGE = {"url": "http://192.0.2.9/image.qcow2", "checksum": "0123456789abcdef"}


def test_provisioned_host_is_serviced_under_its_update_policy(
    running: None,
    hosts: Hosts,
    registry: FixtureRegistry,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """With a HostUpdatePolicy ``firmwareSettings: onReboot`` a provisioned host gets a
    settings change applied by servicing when it is powered back on; bmo adds the host as an
    owner of the policy."""
    hfs_api = Objects(kube_api_client, kube_namespace, "hostfirmwaresettings")
    policies = Objects(kube_api_client, kube_namespace, "hostupdatepolicies")
    seed(registry, kube_namespace, "host-0")
    create_secret(kube_api_client, kube_namespace)
    host = hosts.create(host_body("host-0", image=IMAGE))
    hosts.wait_state("host-0", "provisioned")
    policies.api.create_namespaced_custom_object(
        "metal3.io",
        "v1alpha1",
        kube_namespace,
        "hostupdatepolicies",
        {
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "HostUpdatePolicy",
            "metadata": {"name": "host-0"},
            "spec": {"firmwareSettings": "onReboot"},
        },
    )
    owners = wait_for(
        lambda: ((policies.get("host-0") or {}).get("metadata") or {}).get("ownerReferences"),
        what="the policy adopted",
    )
    assert [(o["kind"], o["uid"]) for o in owners] == [("BareMetalHost", host["metadata"]["uid"])]

    hosts.patch("host-0", {"spec": {"online": False}})
    wait_for(lambda: hosts.status("host-0").get("poweredOn") is False, what="powered off")
    wait_for(lambda: (hfs_api.get("host-0") or {}).get("status", {}).get("settings"), what="HFS")
    hfs_api.replace_spec("host-0", {"settings": {"ProcTurboMode": "Disabled"}})
    wait_for(
        lambda: condition(hfs_api.get("host-0"), "ChangeDetected").get("status") == "True",
        what="ChangeDetected=True",
    )
    hosts.patch("host-0", {"spec": {"online": True}})
    wait_for(
        lambda: (
            registry.host(kube_namespace, "host-0").bios_settings["ProcTurboMode"] == "Disabled"
        ),
        what="the setting applied by servicing",
    )
    assert registry.host(kube_namespace, "host-0").services >= 1
    wait_for(lambda: hosts.status("host-0").get("poweredOn") is True, what="powered on")
    assert hosts.status("host-0")["provisioning"]["state"] == "provisioned"
    wait_for(
        lambda: condition(hfs_api.get("host-0"), "ChangeDetected").get("status") == "False",
        what="ChangeDetected=False once Ironic reports the new value",
    )
