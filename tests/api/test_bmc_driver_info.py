"""``driver_info`` per BMC scheme: the Ironic fields the Metal3 operator sends for each address.

Expected values restate ``pkg/hardwareutils/bmc`` (``ipmi.go``, ``redfish.go``, ``idrac.go``
``DriverInfo``), including the defaults (port ``623``, privilege level, ``https`` for Redfish).
"""

from __future__ import annotations

from typing import Any

import pytest

from bmo.api.bmc import Credentials, access_details

IPV6 = "fe80::fc33:62ff:fe83:8a76"

CREDS = Credentials("admin", "password")
RF = {"redfish_username": "admin", "redfish_password": "password"}
IPMI = {"ipmi_username": "admin", "ipmi_password": "password"}

# (address, disable certificate verification, expected driver_info)
DRIVER_INFO: list[tuple[str, bool, dict[str, Any]]] = [
    (
        "ipmi://192.168.122.1",
        False,
        {
            **IPMI,
            "ipmi_address": "192.168.122.1",
            "ipmi_port": "623",
            "ipmi_priv_level": "ADMINISTRATOR",
        },
    ),
    (
        "ipmi://192.168.122.1",
        True,
        {
            **IPMI,
            "ipmi_address": "192.168.122.1",
            "ipmi_port": "623",
            "ipmi_priv_level": "ADMINISTRATOR",
            "ipmi_verify_ca": False,
        },
    ),
    (
        "192.168.122.1:6233",
        False,
        {
            **IPMI,
            "ipmi_address": "192.168.122.1",
            "ipmi_port": "6233",
            "ipmi_priv_level": "ADMINISTRATOR",
        },
    ),
    (
        f"[{IPV6}]:6233",
        False,
        {**IPMI, "ipmi_address": IPV6, "ipmi_port": "6233", "ipmi_priv_level": "ADMINISTRATOR"},
    ),
    (
        "ipmi://192.168.122.1?privilegelevel=OPERATOR",
        False,
        {
            **IPMI,
            "ipmi_address": "192.168.122.1",
            "ipmi_port": "623",
            "ipmi_priv_level": "OPERATOR",
        },
    ),
    (
        "ipmi://192.168.122.1?privilegelevel=USER&privilegelevel=OPERATOR",
        False,
        {**IPMI, "ipmi_address": "192.168.122.1", "ipmi_port": "623", "ipmi_priv_level": "USER"},
    ),
    # A malformed query (Go's ParseQuery reports an error) falls back to the default.
    (
        "ipmi://192.168.122.1?privilegelevel=OPERATOR&a;b",
        False,
        {
            **IPMI,
            "ipmi_address": "192.168.122.1",
            "ipmi_port": "623",
            "ipmi_priv_level": "ADMINISTRATOR",
        },
    ),
    (
        "libvirt://192.168.122.1:6233/",
        False,
        {
            **IPMI,
            "ipmi_address": "192.168.122.1",
            "ipmi_port": "6233",
            "ipmi_priv_level": "ADMINISTRATOR",
        },
    ),
    (
        "redfish://192.168.122.1/redfish/v1/foo/bar",
        True,
        {
            **RF,
            "redfish_address": "https://192.168.122.1",
            "redfish_system_id": "/redfish/v1/foo/bar",
            "redfish_verify_ca": False,
        },
    ),
    (
        "redfish://192.168.122.1/redfish/v1/Systems/1",
        False,
        {
            **RF,
            "redfish_address": "https://192.168.122.1",
            "redfish_system_id": "/redfish/v1/Systems/1",
        },
    ),
    (
        "redfish+http://192.168.122.1/foo/bar",
        False,
        {**RF, "redfish_address": "http://192.168.122.1", "redfish_system_id": "/foo/bar"},
    ),
    (
        "redfish+https://192.168.122.1/foo/bar",
        False,
        {**RF, "redfish_address": "https://192.168.122.1", "redfish_system_id": "/foo/bar"},
    ),
    (
        "redfish://192.168.122.1:8080/foo/bar",
        False,
        {**RF, "redfish_address": "https://192.168.122.1:8080", "redfish_system_id": "/foo/bar"},
    ),
    (
        f"redfish://[{IPV6}]/foo/bar",
        False,
        {**RF, "redfish_address": f"https://[{IPV6}]", "redfish_system_id": "/foo/bar"},
    ),
    (
        f"redfish://[{IPV6}]:8080/foo",
        False,
        {**RF, "redfish_address": f"https://[{IPV6}]:8080", "redfish_system_id": "/foo"},
    ),
    ("redfish://192.168.122.1", False, {**RF, "redfish_address": "https://192.168.122.1"}),
    ("redfish+https://192.168.122.1/", False, {**RF, "redfish_address": "https://192.168.122.1"}),
    (
        "redfish://192.168.122.1/redfish/v1",
        False,
        {**RF, "redfish_address": "https://192.168.122.1"},
    ),
    (
        "redfish://192.168.122.1/redfish/v1/",
        False,
        {**RF, "redfish_address": "https://192.168.122.1"},
    ),
    ("redfish:192.168.122.1", False, {**RF, "redfish_address": "https://192.168.122.1"}),
    (
        "redfish-virtualmedia://192.168.122.1/redfish/v1/foo/bar",
        False,
        {
            **RF,
            "redfish_address": "https://192.168.122.1",
            "redfish_system_id": "/redfish/v1/foo/bar",
        },
    ),
    (
        "redfish-virtualmedia+http://192.168.122.1/redfish/v1/",
        True,
        {**RF, "redfish_address": "http://192.168.122.1", "redfish_verify_ca": False},
    ),
    (
        "ilo5-virtualmedia://192.168.122.1/foo/bar",
        False,
        {**RF, "redfish_address": "https://192.168.122.1", "redfish_system_id": "/foo/bar"},
    ),
    (
        "ilo5-redfish+http://192.168.122.1/foo",
        False,
        {**RF, "redfish_address": "http://192.168.122.1", "redfish_system_id": "/foo"},
    ),
    (
        "idrac-redfish://192.168.122.1/foo/bar",
        False,
        {**RF, "redfish_address": "https://192.168.122.1", "redfish_system_id": "/foo/bar"},
    ),
    (
        "idrac-virtualmedia://192.168.122.1/redfish/v1/foo/bar",
        False,
        {
            **RF,
            "redfish_address": "https://192.168.122.1",
            "redfish_system_id": "/redfish/v1/foo/bar",
        },
    ),
    (
        "idrac-virtualmedia://192.168.122.1/redfish/v1/",
        False,
        {**RF, "redfish_address": "https://192.168.122.1"},
    ),
    # redfish-uefihttp always sends the system id, even when empty.
    (
        "redfish-uefihttp://192.168.122.1",
        False,
        {**RF, "redfish_address": "https://192.168.122.1", "redfish_system_id": ""},
    ),
    (
        "redfish-uefihttp+http://192.168.122.1/redfish/v1/",
        True,
        {
            **RF,
            "redfish_address": "http://192.168.122.1",
            "redfish_system_id": "/redfish/v1/",
            "redfish_verify_ca": False,
        },
    ),
    # Userinfo in the address never reaches driver_info.
    (
        "redfish://someone:else@192.168.122.1/redfish/v1/Systems/1",
        False,
        {
            **RF,
            "redfish_address": "https://192.168.122.1",
            "redfish_system_id": "/redfish/v1/Systems/1",
        },
    ),
]


@pytest.mark.parametrize(
    ("address", "disable_verify", "expected"),
    DRIVER_INFO,
    ids=[f"{r[0]}-noverify={r[1]}" for r in DRIVER_INFO],
)
def test_driver_info(address: str, disable_verify: bool, expected: dict[str, Any]) -> None:
    assert access_details(address, disable_verify).driver_info(CREDS) == expected


def test_driver_info_has_string_port() -> None:
    info = access_details("ipmi://192.168.122.1:6230").driver_info(CREDS)
    assert info["ipmi_port"] == "6230"
    assert isinstance(info["ipmi_port"], str)
