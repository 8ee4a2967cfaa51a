"""Root device hints → Ironic's hint syntax (``devicehints.go MakeHintMap``), and the
hardware profile fallback (``profile.go``)."""

from __future__ import annotations

import pytest

from bmo.api.host import RootDeviceHints
from bmo.api.profiles import get_profile
from bmo.ironic.capabilities import build_capabilities
from bmo.ironic.hints import hint_map, root_device_for


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        (None, {}),
        (RootDeviceHints(), {}),
        (RootDeviceHints(device_name="/dev/sda"), {"name": "s== /dev/sda"}),
        (
            RootDeviceHints(device_name="/dev/disk/by-path/pci-0000:00:1f.2-ata-1"),
            {"by_path": "s== /dev/disk/by-path/pci-0000:00:1f.2-ata-1"},
        ),
        (RootDeviceHints(hctl="1:2:3:4"), {"hctl": "s== 1:2:3:4"}),
        (RootDeviceHints(model="Micron 5300"), {"model": "<in> Micron 5300"}),
        (RootDeviceHints(vendor="ATA"), {"vendor": "<in> ATA"}),
        (RootDeviceHints(serial_number="S123"), {"serial": "s== S123"}),
        (RootDeviceHints(min_size_gigabytes=120), {"size": ">= 120"}),
        (RootDeviceHints(wwn="0x5000"), {"wwn": "s== 0x5000"}),
        (
            RootDeviceHints(wwn_with_extension="0x5000a"),
            {"wwn_with_extension": "s== 0x5000a"},
        ),
        (
            RootDeviceHints(wwn_vendor_extension="0xa"),
            {"wwn_vendor_extension": "s== 0xa"},
        ),
        (RootDeviceHints(rotational=True), {"rotational": "true"}),
        (RootDeviceHints(rotational=False), {"rotational": "false"}),
        (
            RootDeviceHints(device_name="/dev/vda", min_size_gigabytes=10, rotational=False),
            {"name": "s== /dev/vda", "size": ">= 10", "rotational": "false"},
        ),
    ],
)
def test_hint_map(hints: RootDeviceHints | None, expected: dict[str, str]) -> None:
    assert hint_map(hints) == expected


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("unknown", {"name": "s== /dev/sda"}),
        ("libvirt", {"name": "s== /dev/vda"}),
        ("dell", {"hctl": "s== 0:0:0:0"}),
        ("empty", {}),
    ],
)
def test_profile_fallback_without_hints(profile: str, expected: dict[str, str]) -> None:
    assert root_device_for(None, get_profile(profile)) == expected


def test_explicit_hints_win_over_the_profile() -> None:
    hints = RootDeviceHints(serial_number="X1")
    assert root_device_for(hints, get_profile("unknown")) == {"serial": "s== X1"}


@pytest.mark.parametrize(
    ("boot_mode", "existing", "expected"),
    [
        ("UEFI", None, "boot_mode:uefi"),
        ("legacy", "", "boot_mode:bios"),
        ("UEFISecureBoot", None, "boot_mode:uefi,secure_boot:true"),
        ("UEFI", "cpu_vt:true,boot_mode:bios,secure_boot:true", "cpu_vt:true,boot_mode:uefi"),
        ("legacy", {"cpu_aes": "true", "boot_mode": "uefi"}, "cpu_aes:true,boot_mode:bios"),
    ],
)
def test_capabilities(boot_mode: str, existing: object, expected: str) -> None:
    assert build_capabilities(boot_mode, existing) == expected  # type: ignore[arg-type]
