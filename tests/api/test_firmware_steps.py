"""The BIOS/firmware clean and service steps: shape, order, and integers kept integers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bmo.api.firmware import FirmwareUpdate, IntOrString
from bmo.api.firmware_rules import pending_updates
from bmo.api.firmware_steps import (
    bios_settings_to_apply,
    firmware_steps,
    firmware_update_settings,
    manual_cleaning_steps,
    service_steps,
)

RAID = [
    {"interface": "raid", "step": "delete_configuration", "args": {}},
    {"interface": "raid", "step": "create_configuration", "args": {}},
]
BIOS = FirmwareUpdate("bios", "http://192.0.2.1/bios.bin")
BMC = FirmwareUpdate("bmc", "https://192.0.2.1/bmc.bin")
NIC = FirmwareUpdate("nic:NIC.Slot.1-1", "oci://registry.example/nic:2.0")


def test_integers_stay_integers_on_the_wire() -> None:
    settings = bios_settings_to_apply(
        {"NetworkBootRetryCount": "10", "ProcVirtualization": "Disabled", "Count": "1"},
        {"NetworkBootRetryCount": 20, "ProcVirtualization": "Enabled", "Count": "2"},
    )
    assert settings == [
        {"name": "Count", "value": "2"},
        {"name": "NetworkBootRetryCount", "value": 20},
        {"name": "ProcVirtualization", "value": "Enabled"},
    ]
    assert type(settings[1]["value"]) is int
    assert type(settings[0]["value"]) is str
    assert json.dumps(settings[1]) == '{"name": "NetworkBootRetryCount", "value": 20}'


@pytest.mark.parametrize(
    ("actual", "target", "converted", "expected"),
    [
        # only the keys whose desired value differs (as text) are sent
        ({"A": "1", "B": "x"}, {"A": 1, "B": "y"}, (), [("B", "y")]),
        ({"A": "1"}, {"A": "1"}, (), []),
        # a name Ironic does not report compares as "" (getNewFirmwareSettings)
        ({}, {"New": "v"}, (), [("New", "v")]),
        ({}, {"Empty": ""}, (), []),
        # actual unknown (no HFS change to apply): only the vendor-converted settings
        (None, {"A": 5}, (("VT", "Enabled"),), [("VT", "Enabled")]),
        (None, {}, (), []),
        # converted settings first, only when known to Ironic and different
        (
            {"VT": "Disabled", "HT": "Enabled"},
            {"Z": 1},
            (("VT", "Enabled"), ("HT", "Enabled"), ("Unknown", "x")),
            [("VT", "Enabled"), ("Z", 1)],
        ),
        # a name is sent once: the converted value wins over the target
        ({"VT": "Disabled"}, {"VT": "Off"}, (("VT", "Enabled"),), [("VT", "Enabled")]),
    ],
)
def test_bios_settings_to_apply(
    actual: dict[str, str] | None,
    target: dict[str, IntOrString],
    converted: tuple[tuple[str, str], ...],
    expected: list[tuple[str, IntOrString]],
) -> None:
    got = bios_settings_to_apply(actual, target, converted)
    assert [(s["name"], s["value"]) for s in got] == expected


def test_firmware_update_settings_keep_spec_order() -> None:
    assert firmware_update_settings([BMC, BIOS, NIC]) == [
        {"component": "bmc", "url": "https://192.0.2.1/bmc.bin"},
        {"component": "bios", "url": "http://192.0.2.1/bios.bin"},
        {"component": "nic:NIC.Slot.1-1", "url": "oci://registry.example/nic:2.0"},
    ]


def test_manual_cleaning_order_is_raid_bios_firmware() -> None:
    steps = manual_cleaning_steps(
        RAID,
        actual_settings={"ProcVirtualization": "Disabled", "Retries": "1"},
        target_settings={"ProcVirtualization": "Enabled", "Retries": 3},
        updates=[BIOS, BMC],
    )
    assert [(s["interface"], s["step"]) for s in steps] == [
        ("raid", "delete_configuration"),
        ("raid", "create_configuration"),
        ("bios", "apply_configuration"),
        ("firmware", "update"),
    ]
    assert steps[2]["args"] == {
        "settings": [
            {"name": "ProcVirtualization", "value": "Enabled"},
            {"name": "Retries", "value": 3},
        ]
    }
    assert steps[3]["args"] == {
        "settings": [
            {"component": "bios", "url": "http://192.0.2.1/bios.bin"},
            {"component": "bmc", "url": "https://192.0.2.1/bmc.bin"},
        ]
    }
    # The caller's RAID steps are copied, not aliased.
    assert steps[0] == RAID[0] and steps[0] is not RAID[0]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, []),
        ({"actual_settings": {"A": "1"}, "target_settings": {"A": 1}}, []),
        ({"actual_settings": {"A": "1"}, "target_settings": {"A": 2}}, ["bios"]),
        ({"updates": [BIOS]}, ["firmware"]),
        (
            {"actual_settings": {"A": "1"}, "target_settings": {"A": 2}, "updates": [NIC]},
            ["bios", "firmware"],
        ),
    ],
)
def test_steps_only_when_something_to_do(kwargs: dict[str, Any], expected: list[str]) -> None:
    assert [s["interface"] for s in firmware_steps(**kwargs)] == expected
    assert [s["interface"] for s in manual_cleaning_steps([], **kwargs)] == expected


def test_service_steps_are_the_firmware_steps_without_raid() -> None:
    kwargs: dict[str, Any] = {
        "actual_settings": {"A": "off"},
        "target_settings": {"A": "on", "N": 7},
        "updates": [BMC],
    }
    assert service_steps(**kwargs) == firmware_steps(**kwargs)
    assert [s["interface"] for s in service_steps(**kwargs)] == ["bios", "firmware"]
    assert service_steps(**kwargs)[0]["args"]["settings"][1] == {"name": "N", "value": 7}


def test_only_pending_updates_are_flashed() -> None:
    """The controller passes getUpdatesDifference's result, not all of spec.updates."""
    pending = pending_updates((BIOS, BMC), (BIOS,))
    steps = firmware_steps(updates=pending)
    assert steps == [
        {
            "interface": "firmware",
            "step": "update",
            "args": {"settings": [{"component": "bmc", "url": "https://192.0.2.1/bmc.bin"}]},
        }
    ]
