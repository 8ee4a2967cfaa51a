"""``bmo explain`` names pending firmware changes, refused ones and servicing: the pure
notes, and the command reading the host's firmware objects from the API emulator."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from bmo.api.constants import API_GROUP, API_VERSION
from bmo.explain import IronicLookup, explain
from testenv.kubeapi import KubeAPIServer
from tests.explain.helpers import NOW, host_dict
from tests.explain.test_command import create_host, create_secret, explain_cli

NO_IRONIC = IronicLookup.skipped()


def condition(kind: str, status: str, reason: str = "Success", message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": 2,
        "lastTransitionTime": "2025-03-01T11:00:00Z",
    }


def hfs(spec: dict[str, Any], changed: str, valid: str, message: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HostFirmwareSettings",
        "metadata": {"name": "worker-0", "namespace": "metal3", "generation": 2},
        "spec": {"settings": spec},
        "status": {
            "settings": {"ProcTurboMode": "Enabled", "NumCores": "8"},
            "conditions": [
                condition("ChangeDetected", changed),
                condition(
                    "Valid", valid, "Success" if valid == "True" else "ConfigurationError", message
                ),
            ],
        },
    }


def hfc(
    spec: list[dict[str, str]],
    applied: list[dict[str, str]] | None,
    valid: str = "True",
    message: str = "",
) -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HostFirmwareComponents",
        "metadata": {"name": "worker-0", "namespace": "metal3", "generation": 2},
        "spec": {"updates": spec},
        "status": {
            "updates": applied,
            "conditions": [
                condition("Valid", valid, "OK" if valid == "True" else "InvalidComponent", message),
                condition("ChangeDetected", "True", "OK"),
            ],
        },
    }


def notes(**kwargs: Any) -> tuple[str, ...]:
    host = kwargs.pop("host", host_dict("available", image_url=None))
    return explain(host, NO_IRONIC, [], NOW, **kwargs).notes


def test_pending_settings_change_is_named_with_when_it_applies() -> None:
    found = notes(
        firmware_settings=hfs({"ProcTurboMode": "Disabled", "NumCores": 8}, "True", "True")
    )
    assert found == (
        "Firmware settings change pending: ProcTurboMode=Disabled; applied when the host is "
        "next prepared",
    )


def test_provisioned_host_needs_an_update_policy() -> None:
    settings = hfs({"ProcTurboMode": "Disabled"}, "True", "True")
    (without,) = notes(host=host_dict("provisioned"), firmware_settings=settings)
    assert "create a HostUpdatePolicy with onReboot" in without
    policy = {"spec": {"firmwareSettings": "onReboot"}}
    (with_policy,) = notes(
        host=host_dict("provisioned"), firmware_settings=settings, update_policy=policy
    )
    assert with_policy.endswith(
        "applied by servicing when the host is next powered on (HostUpdatePolicy onReboot)"
    )


def test_refused_settings_and_components_say_why() -> None:
    found = notes(
        firmware_settings=hfs({"ProcTurboMode": "Turbo"}, "True", "False", "Invalid BIOS setting"),
        firmware_components=hfc(
            [{"component": "raid", "url": "https://192.0.2.5/x"}],
            None,
            "False",
            "Invalid Firmware Components: [component raid is invalid]",
        ),
    )
    assert found == (
        "HostFirmwareSettings spec.settings is refused (Invalid BIOS setting); its "
        "ValidationFailed events say which settings and why",
        "HostFirmwareComponents spec.updates is refused: Invalid Firmware Components: "
        "[component raid is invalid]",
    )


def test_pending_updates_exclude_what_was_flashed_and_hide_url_credentials() -> None:
    found = notes(
        firmware_components=hfc(
            [
                {"component": "bios", "url": "https://u:secret@192.0.2.5/bios.bin"},
                {"component": "bmc", "url": "https://192.0.2.5/bmc.bin"},
            ],
            [{"component": "bmc", "url": "https://192.0.2.5/bmc.bin"}],
        )
    )
    assert found == (
        "Firmware update pending: bios from https://***@192.0.2.5/bios.bin; applied when the "
        "host is next prepared",
    )


def test_nothing_pending_says_nothing() -> None:
    assert notes(firmware_settings=hfs({}, "False", "True")) == ()
    assert notes() == ()


def test_servicing_and_its_failure() -> None:
    host = host_dict(
        "provisioned",
        operational_status="error",
        error_type="servicing error",
        error_message="Servicing failed: bios step failed",
        error_count=1,
    )
    explanation = explain(host, NO_IRONIC, [], NOW)
    assert any(n.startswith("Servicing failed:") for n in explanation.notes)
    assert "bios step failed" in explanation.diagnosis
    running = explain(host_dict("provisioned", operational_status="servicing"), NO_IRONIC, [], NOW)
    assert any(n.startswith("Servicing: Ironic is applying") for n in running.notes)


def test_command_reads_the_firmware_objects(
    kube_server: KubeAPIServer,
    kube_api_client: client.ApiClient,
    kube_namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_host(
        kube_api_client,
        kube_namespace,
        "worker-0",
        {
            "provisioning": {"ID": "n-1", "state": "available"},
            "lastUpdated": "2025-03-01T11:00:00Z",
        },
    )
    create_secret(kube_api_client, kube_namespace, "worker-0-bmc")
    custom = client.CustomObjectsApi(kube_api_client)
    body = hfs({"ProcTurboMode": "Disabled"}, "True", "True")
    status = body.pop("status")
    body["metadata"] = {"name": "worker-0", "namespace": kube_namespace}
    custom.create_namespaced_custom_object(
        API_GROUP, API_VERSION, kube_namespace, "hostfirmwaresettings", body
    )
    for cond in status["conditions"]:
        cond["observedGeneration"] = 1
    custom.patch_namespaced_custom_object_status(
        API_GROUP,
        API_VERSION,
        kube_namespace,
        "hostfirmwaresettings",
        "worker-0",
        {"status": status},
    )
    code, out, err = explain_cli(capsys, kube_server, f"{kube_namespace}/worker-0", "--no-ironic")
    assert code == 0, err
    assert "Firmware settings change pending: ProcTurboMode=Disabled" in out
    assert "could not be read" not in out
