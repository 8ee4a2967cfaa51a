"""Admission of the firmware kinds: HostFirmwareComponents (upstream's URL checks, messages
joined like ``kerrors.NewAggregate``) and HostFirmwareSettings (checked against the host's
FirmwareSchema through the injected lookup), decided purely and served over HTTPS."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bmo.api.firmware import FirmwareUpdate, SettingSchema
from bmo.api.firmware_rules import firmware_update_url_errors, validate_setting
from bmo.webhook import (
    HOSTFIRMWARECOMPONENTS_PATH,
    HOSTFIRMWARESETTINGS_PATH,
    WebhookConfig,
    WebhookServer,
    decide_components,
    decide_settings,
    parse_review,
)
from tests.webhook.conftest import Client
from tests.webhook.test_server import response, review

HFC = {"group": "metal3.io", "version": "v1alpha1", "kind": "HostFirmwareComponents"}
HFS = {"group": "metal3.io", "version": "v1alpha1", "kind": "HostFirmwareSettings"}
SCHEMA = {
    "ProcTurboMode": SettingSchema(
        attribute_type="Enumeration", allowable_values=("Enabled", "Disabled")
    ),
    "NumCores": SettingSchema(attribute_type="Integer", lower_bound=1, upper_bound=64),
}


def components(*updates: tuple[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HostFirmwareComponents",
        "metadata": {"name": "node-1", "namespace": "metal3"},
        "spec": {"updates": [{"component": c, "url": u} for c, u in updates]},
    }


def settings(values: dict[str, Any], schema_name: str | None = "schema-1234abcd") -> dict[str, Any]:
    status: dict[str, Any] = {"settings": {"ProcTurboMode": "Enabled", "NumCores": "8"}}
    if schema_name:
        status["schema"] = {"namespace": "metal3", "name": schema_name}
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HostFirmwareSettings",
        "metadata": {"name": "node-1", "namespace": "metal3"},
        "spec": {"settings": values},
        "status": status,
    }


def lookup(namespace: str, name: str) -> Mapping[str, SettingSchema] | None:
    return SCHEMA if (namespace, name) == ("metal3", "schema-1234abcd") else None


def decide_review(document: dict[str, Any]) -> Any:
    return parse_review(json.dumps(document).encode())


# --- HostFirmwareComponents ----------------------------------------------------------------


def test_valid_update_urls_are_allowed() -> None:
    obj = components(("bios", "https://192.0.2.5/bios.bin"), ("bmc", "oci://registry/bmc:1"))
    decision = decide_components(decide_review(review("CREATE", obj, kind=HFC)))
    assert decision.allowed


def test_one_bad_url_is_denied_with_upstreams_message() -> None:
    obj = components(("bios", "ftp://192.0.2.5/bios.bin"))
    decision = decide_components(decide_review(review("UPDATE", obj, obj, kind=HFC)))
    assert not decision.allowed
    assert (decision.code, decision.reason) == (403, "Forbidden")
    assert decision.message == (
        'invalid URL "ftp://192.0.2.5/bios.bin" in FirmwareUpdate in component "bios": '
        'invalid scheme in URL, "ftp" not allowed'
    )


def test_several_bad_urls_are_aggregated() -> None:
    updates = (("bios", "ftp://a/b"), ("bmc", "not a url"))
    decision = decide_components(decide_review(review("CREATE", components(*updates), kind=HFC)))
    expected = firmware_update_url_errors([FirmwareUpdate(c, u) for c, u in updates])
    assert len(expected) == 2
    assert decision.message == "[" + ", ".join(expected) + "]"


def test_component_names_are_left_to_the_controller() -> None:
    """Upstream's webhook checks URLs only; ``raid`` is the controller's InvalidComponent."""
    obj = components(("raid", "https://192.0.2.5/raid.bin"))
    assert decide_components(decide_review(review("CREATE", obj, kind=HFC))).allowed


def test_delete_and_other_kinds_are_allowed() -> None:
    obj = components(("bios", "ftp://a/b"))
    assert decide_components(decide_review(review("DELETE", None, obj, kind=HFC))).allowed
    assert decide_components(decide_review(review("CREATE", obj, kind=HFS))).allowed


# --- HostFirmwareSettings ------------------------------------------------------------------


def test_settings_valid_for_the_schema_are_allowed() -> None:
    obj = settings({"ProcTurboMode": "Disabled", "NumCores": 16})
    assert decide_settings(decide_review(review("UPDATE", obj, obj, kind=HFS)), lookup).allowed


def test_invalid_settings_are_denied_with_the_controllers_messages() -> None:
    obj = settings({"ProcTurboMode": "Turbo", "NumCores": 99, "AdminPassword": "x"})
    decision = decide_settings(decide_review(review("UPDATE", obj, obj, kind=HFS)), lookup)
    assert not decision.allowed
    assert decision.code == 403
    expected = [
        "Invalid BIOS setting: cannot set Password field",
        f"Invalid BIOS setting: {validate_setting('NumCores', 99, SCHEMA)}",
        f"Invalid BIOS setting: {validate_setting('ProcTurboMode', 'Turbo', SCHEMA)}",
    ]
    assert decision.message == "[" + ", ".join(expected) + "]"
    assert decision.fields == (
        "spec.settings[AdminPassword]",
        "spec.settings[NumCores]",
        "spec.settings[ProcTurboMode]",
    )


@pytest.mark.parametrize("schema_name", [None, "schema-unknown"])
def test_settings_are_allowed_while_no_schema_is_known(schema_name: str | None) -> None:
    obj = settings({"ProcTurboMode": "Turbo"}, schema_name=schema_name)
    assert decide_settings(decide_review(review("CREATE", obj, kind=HFS)), lookup).allowed
    assert decide_settings(decide_review(review("CREATE", obj, kind=HFS)), None).allowed


def test_a_failing_lookup_does_not_block_edits() -> None:
    def broken(namespace: str, name: str) -> Mapping[str, SettingSchema] | None:
        raise RuntimeError("cache gone")

    obj = settings({"ProcTurboMode": "Turbo"})
    assert decide_settings(decide_review(review("UPDATE", obj, obj, kind=HFS)), broken).allowed


def test_undecodable_settings_are_a_400() -> None:
    obj = settings({"NumCores": [1, 2]})
    decision = decide_settings(decide_review(review("CREATE", obj, kind=HFS)), lookup)
    assert (decision.allowed, decision.code) == (False, 400)
    assert "HostFirmwareSettings" in decision.message


# --- served over HTTPS ----------------------------------------------------------------------


@pytest.fixture
def firmware_client(cert_dir: Path, client_context: ssl.SSLContext) -> Iterator[Client]:
    server = WebhookServer(
        WebhookConfig(host="127.0.0.1", port=0, cert_dir=str(cert_dir)), schema_lookup=lookup
    )
    server.start()
    client = Client(server, client_context)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def test_both_paths_are_served(firmware_client: Client) -> None:
    bad_hfc = components(("bios", "ftp://a/b"))
    answer = response(
        *firmware_client.post(review("CREATE", bad_hfc, kind=HFC), path=HOSTFIRMWARECOMPONENTS_PATH)
    )
    assert answer["allowed"] is False
    assert answer["status"]["message"].startswith('invalid URL "ftp://a/b"')
    bad_hfs = settings({"ProcTurboMode": "Turbo"})
    answer = response(
        *firmware_client.post(
            review("UPDATE", bad_hfs, bad_hfs, kind=HFS), path=HOSTFIRMWARESETTINGS_PATH
        )
    )
    assert answer["allowed"] is False
    assert answer["status"]["message"] == (
        f"Invalid BIOS setting: {validate_setting('ProcTurboMode', 'Turbo', SCHEMA)}"
    )
    good = settings({"ProcTurboMode": "Disabled"})
    answer = response(
        *firmware_client.post(
            review("UPDATE", good, good, kind=HFS), path=HOSTFIRMWARESETTINGS_PATH
        )
    )
    assert answer["allowed"] is True
