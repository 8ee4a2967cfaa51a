"""Hardware profiles: names, root device hints and the choice rule of the Metal3 operator."""

from __future__ import annotations

import pytest

from bmo.api.profiles import (
    DEFAULT_PROFILE_NAME,
    EMPTY_PROFILE_NAME,
    HardwareProfile,
    HardwareProfileError,
    ProfileRootHints,
    choose_profile,
    choose_profile_name,
    get_profile,
    profile_names,
)


@pytest.mark.parametrize(
    ("name", "hints", "as_json"),
    [
        ("unknown", ProfileRootHints(device_name="/dev/sda"), {"deviceName": "/dev/sda"}),
        ("libvirt", ProfileRootHints(device_name="/dev/vda"), {"deviceName": "/dev/vda"}),
        ("dell", ProfileRootHints(hctl="0:0:0:0"), {"hctl": "0:0:0:0"}),
        ("dell-raid", ProfileRootHints(hctl="0:2:0:0"), {"hctl": "0:2:0:0"}),
        ("openstack", ProfileRootHints(device_name="/dev/vdb"), {"deviceName": "/dev/vdb"}),
        ("empty", ProfileRootHints(), {}),
    ],
)
def test_profiles(name: str, hints: ProfileRootHints, as_json: dict[str, str]) -> None:
    profile = get_profile(name)
    assert profile == HardwareProfile(name, hints)
    assert profile.root_device_hints.as_json() == as_json
    assert profile.root_device_hints.is_empty == (not as_json)


def test_profile_names() -> None:
    assert profile_names() == ["dell", "dell-raid", "empty", "libvirt", "openstack", "unknown"]
    assert DEFAULT_PROFILE_NAME == "unknown"
    assert EMPTY_PROFILE_NAME == "empty"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", 'no hardware profile named "nope"'),
        ("", 'no hardware profile named ""'),
        ("Dell", 'no hardware profile named "Dell"'),
        ('a"b\n', 'no hardware profile named "a\\"b\\n"'),
    ],
)
def test_unknown_profile(name: str, message: str) -> None:
    with pytest.raises(HardwareProfileError) as info:
        get_profile(name)
    assert str(info.value) == message
    assert info.value.name == name
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("status", "spec", "address", "chosen"),
    [
        # status wins so the choice never changes once recorded.
        ("dell", "openstack", "libvirt://1.2.3.4", "dell"),
        ("", "openstack", "libvirt://1.2.3.4", "openstack"),
        ("", "", "libvirt://192.168.122.1:6233/", "libvirt"),
        # A prefix match, as upstream does: any address starting with "libvirt".
        ("", "", "libvirtual.example.com", "libvirt"),
        ("", "", "redfish://1.2.3.4/redfish/v1/Systems/1", "unknown"),
        ("", "", "192.168.122.1", "unknown"),
        ("", "", "", "unknown"),
        ("", "", "ipmi://libvirt", "unknown"),
        # Names are not checked when chosen; get_profile refuses them.
        ("", "custom", "", "custom"),
    ],
)
def test_choose_profile_name(status: str, spec: str, address: str, chosen: str) -> None:
    assert choose_profile_name(status, spec, address) == chosen


def test_choose_profile() -> None:
    assert choose_profile("", "", "libvirt://h").root_device_hints.device_name == "/dev/vda"
    assert choose_profile("", "", "ipmi://h").root_device_hints.device_name == "/dev/sda"
    with pytest.raises(HardwareProfileError, match=r'^no hardware profile named "custom"$'):
        choose_profile("", "custom", "")
