"""JSON-patch builder, log-safe rendering and the capabilities string."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bmo.ironic.capabilities import build_capabilities
from bmo.ironic.updates import REDACTED, NodeUpdateBuilder, PatchOp, redact, render_ops

CURRENT: dict[str, Any] = {
    "name": "ns~host",
    "automated_clean": True,
    "disable_power_off": None,
    "instance_info": {"image_source": "http://old", "image_checksum": "abc"},
    "properties": {"cpu_arch": "x86_64", "capabilities": "boot_mode:uefi", "cpus": 1},
    "driver_info": {"redfish_address": "https://bmc", "redfish_password": "******"},
}


def ops_of(builder: NodeUpdateBuilder) -> list[dict[str, Any]]:
    return [op.to_json() for op in builder.ops]


@pytest.mark.parametrize(
    ("section", "settings", "expected"),
    [
        ("instance_info", {"image_source": "http://old"}, []),
        (
            "instance_info",
            {"image_source": "http://new"},
            [{"op": "add", "path": "/instance_info/image_source", "value": "http://new"}],
        ),
        (
            "instance_info",
            {"image_checksum": None},
            [{"op": "remove", "path": "/instance_info/image_checksum"}],
        ),
        ("instance_info", {"image_os_hash_value": None}, []),
        (
            "properties",
            {"cpu_arch": "aarch64", "capabilities": "boot_mode:uefi"},
            [{"op": "add", "path": "/properties/cpu_arch", "value": "aarch64"}],
        ),
        ("properties", {"cpus": 1.0}, []),
        ("properties", {"cpus": True}, [{"op": "add", "path": "/properties/cpus", "value": True}]),
        (
            "driver_info",
            {"deploy_kernel": "http://k", "a/b~c": 1},
            [
                {"op": "add", "path": "/driver_info/deploy_kernel", "value": "http://k"},
                {"op": "add", "path": "/driver_info/a~1b~0c", "value": 1},
            ],
        ),
    ],
)
def test_section_ops(
    section: str, settings: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    builder = NodeUpdateBuilder(CURRENT).set_section(section, settings)
    assert ops_of(builder) == expected
    assert bool(builder) is bool(expected)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("name", "ns~host", []),
        ("name", "ns~other", [{"op": "add", "path": "/name", "value": "ns~other"}]),
        ("automated_clean", True, []),
        ("automated_clean", False, [{"op": "add", "path": "/automated_clean", "value": False}]),
        ("automated_clean", None, [{"op": "remove", "path": "/automated_clean"}]),
        ("disable_power_off", None, []),
        ("disable_power_off", True, [{"op": "add", "path": "/disable_power_off", "value": True}]),
    ],
)
def test_top_level_ops(name: str, value: Any, expected: list[dict[str, Any]]) -> None:
    assert ops_of(NodeUpdateBuilder(CURRENT).set_top_level(name, value)) == expected


def test_unknown_current_always_sends() -> None:
    builder = (
        NodeUpdateBuilder(None)
        .set_instance_info({"image_source": "http://old", "image_checksum": None})
        .set_top_level("name", None)
    )
    assert ops_of(builder) == [
        {"op": "add", "path": "/instance_info/image_source", "value": "http://old"},
        {"op": "remove", "path": "/instance_info/image_checksum"},
        {"op": "remove", "path": "/name"},
    ]


def test_nested_values_compare_deeply() -> None:
    current = {"instance_info": {"root_device": {"name": "s== /dev/sda", "rotational": False}}}
    same = NodeUpdateBuilder(current).set_instance_info(
        {"root_device": {"rotational": False, "name": "s== /dev/sda"}}
    )
    assert not same
    changed = NodeUpdateBuilder(current).set_instance_info(
        {"root_device": {"name": "s== /dev/sda", "rotational": 0}}
    )
    assert len(changed) == 1


def test_unknown_section_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown node section"):
        NodeUpdateBuilder(CURRENT).set_section("driver_internal_info", {"x": 1})


def test_render_redacts_secrets() -> None:
    ops = [
        PatchOp("add", "/driver_info/redfish_password", "hunter2"),
        PatchOp("add", "/driver_info", {"ipmi_address": "10.0.0.1", "ipmi_password": "pw1"}),
        PatchOp("add", "/instance_info/configdrive", {"user_data": "secret-ud"}),
        PatchOp("add", "/instance_info/image_source", "http://img"),
        PatchOp("remove", "/driver_info/redfish_password"),
    ]
    text = render_ops(ops)
    for secret in ("hunter2", "pw1", "secret-ud"):
        assert secret not in text
    assert "hunter2" not in repr(ops)
    rendered = json.loads(text)
    assert rendered[0]["value"] == REDACTED
    assert rendered[1]["value"] == {"ipmi_address": "10.0.0.1", "ipmi_password": REDACTED}
    assert rendered[3]["value"] == "http://img"
    assert rendered[4] == {"op": "remove", "path": "/driver_info/redfish_password"}


def test_redact_nested_lists() -> None:
    value = {"items": [{"auth_token": "t"}, {"name": "n"}], "SecretKey": "s"}
    assert redact(value) == {
        "items": [{"auth_token": REDACTED}, {"name": "n"}],
        "SecretKey": REDACTED,
    }


@pytest.mark.parametrize(
    ("boot_mode", "existing", "expected"),
    [
        ("UEFI", None, "boot_mode:uefi"),
        ("UEFI", "", "boot_mode:uefi"),
        ("UEFISecureBoot", None, "boot_mode:uefi,secure_boot:true"),
        ("legacy", None, "boot_mode:bios"),
        ("legacy", "boot_mode:uefi,secure_boot:true", "boot_mode:bios"),
        (
            "UEFI",
            "cpu_vt:true,boot_mode:bios,cpu_aes:true",
            "cpu_vt:true,cpu_aes:true,boot_mode:uefi",
        ),
        (
            "UEFISecureBoot",
            "secure_boot:false, cpu_vt:true",
            "cpu_vt:true,boot_mode:uefi,secure_boot:true",
        ),
        ("UEFI", "cpu_vt:true,,", "cpu_vt:true,boot_mode:uefi"),
        ("UEFI", {"cpu_vt": "true", "boot_mode": "bios"}, "cpu_vt:true,boot_mode:uefi"),
    ],
)
def test_capabilities(boot_mode: str, existing: Any, expected: str) -> None:
    assert build_capabilities(boot_mode, existing) == expected


@pytest.mark.parametrize("boot_mode", ["", "uefi", "bios", "Legacy"])
def test_capabilities_unknown_boot_mode(boot_mode: str) -> None:
    with pytest.raises(ValueError, match="unknown boot mode"):
        build_capabilities(boot_mode)
