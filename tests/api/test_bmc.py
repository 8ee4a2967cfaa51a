"""BMC address parsing, the driver registry and credentials against the Metal3 operator's rules.

Expected values restate the Go operator's behaviour (``GetParsedURL`` on top of Go's
``net/url``), including its quirks, because users and the webhook see the same messages.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmo.api.bmc import (
    DEVELOPMENT_DRIVERS_HINT,
    REMOVED_TYPES,
    AccessDetails,
    BMCAddressError,
    BMCError,
    Credentials,
    CredentialsError,
    DevelopmentDriverDisabledError,
    ParsedAddress,
    UnknownBMCTypeError,
    access_details,
    driver_spec,
    parse_address,
    supported_types,
)

PARSE_PREFIX = "failed to parse BMC address information: "
IPV6 = "fe80::fc33:62ff:fe83:8a76"


def invalid_host(hostname: str) -> str:
    return f"{PARSE_PREFIX}BMC address hostname/IP : [{hostname}] is invalid"


# --- parsing: accepted shapes -------------------------------------------------------------------

# (address, scheme, host (Go URL.Host), hostname, port, path, raw_query)
PARSE_OK: list[tuple[str, str, str, str, str, str, str]] = [
    ("192.168.122.1", "ipmi", "192.168.122.1", "192.168.122.1", "", "", ""),
    ("my.favoritebmc.com", "ipmi", "my.favoritebmc.com", "my.favoritebmc.com", "", "", ""),
    ("bmc-1", "ipmi", "bmc-1", "bmc-1", "", "", ""),
    ("192.168.122.1:6233", "ipmi", "192.168.122.1:6233", "192.168.122.1", "6233", "", ""),
    (f"[{IPV6}]:6233", "ipmi", f"[{IPV6}]:6233", IPV6, "6233", "", ""),
    ("ipmi://192.168.122.1", "ipmi", "192.168.122.1", "192.168.122.1", "", "", ""),
    ("ipmi://192.168.122.1:6233", "ipmi", "192.168.122.1:6233", "192.168.122.1", "6233", "", ""),
    ("ipmi:192.168.122.1", "ipmi", "192.168.122.1", "192.168.122.1", "", "", ""),
    ("ipmi:192.168.122.1:6233", "ipmi", "192.168.122.1:6233", "192.168.122.1", "6233", "", ""),
    ("IPMI://192.168.122.1", "ipmi", "192.168.122.1", "192.168.122.1", "", "", ""),
    ("ipmi://", "ipmi", "", "", "", "", ""),
    # Go quirk: the parser allows an empty host, also as ":port".
    (":623", "ipmi", ":623", "", "623", "", ""),
    (
        "ipmi://192.168.122.1?privilegelevel=OPERATOR",
        "ipmi",
        "192.168.122.1",
        "192.168.122.1",
        "",
        "",
        "privilegelevel=OPERATOR",
    ),
    (
        "libvirt://192.168.122.1:6233/?abc=def",
        "libvirt",
        "192.168.122.1:6233",
        "192.168.122.1",
        "6233",
        "/",
        "abc=def",
    ),
    ("redfish://192.168.122.1", "redfish", "192.168.122.1", "192.168.122.1", "", "", ""),
    (
        "redfish://192.168.122.1:6233/foo",
        "redfish",
        "192.168.122.1:6233",
        "192.168.122.1",
        "6233",
        "/foo",
        "",
    ),
    (f"redfish://[{IPV6}]", "redfish", f"[{IPV6}]", IPV6, "", "", ""),
    (f"redfish://[{IPV6}]:6233/foo", "redfish", f"[{IPV6}]:6233", IPV6, "6233", "/foo", ""),
    ("redfish:192.168.122.1", "redfish", "192.168.122.1", "192.168.122.1", "", "", ""),
    (
        "redfish+http://10.1.2.3/redfish/v1/Systems/1",
        "redfish+http",
        "10.1.2.3",
        "10.1.2.3",
        "",
        "/redfish/v1/Systems/1",
        "",
    ),
    (
        "redfish-virtualmedia+https://bmc.example.com:8443/redfish/v1/Systems/abc#frag",
        "redfish-virtualmedia+https",
        "bmc.example.com:8443",
        "bmc.example.com",
        "8443",
        "/redfish/v1/Systems/abc",
        "",
    ),
    # Go's URL.Path is %-decoded.
    ("redfish://h/Systems/a%2Fb%20c", "redfish", "h", "h", "", "/Systems/a/b c", ""),
    # Userinfo is parsed and dropped.
    (
        "ipmi://admin:secret@192.168.122.1:623",
        "ipmi",
        "192.168.122.1:623",
        "192.168.122.1",
        "623",
        "",
        "",
    ),
    ("fake:node-0", "fake", "node-0", "node-0", "", "", ""),
    ("fake://127.0.0.1/node-0", "fake", "127.0.0.1", "127.0.0.1", "", "/node-0", ""),
    # 63-character labels are the limit.
    (
        "a" * 63 + ".example.com",
        "ipmi",
        "a" * 63 + ".example.com",
        "a" * 63 + ".example.com",
        "",
        "",
        "",
    ),
    # Go quirk: "name:port" with a letter first is scheme "name" and opaque "port".
    ("bmc.example.com:623", "bmc.example.com", "623", "623", "", "", ""),
    # Go quirk: a bare IPv6 address is scheme "fe80" (and then an unknown type).
    ("fe80::1", "fe80", ":1", "", "1", "", ""),
]


@pytest.mark.parametrize(
    ("address", "scheme", "host", "hostname", "port", "path", "raw_query"),
    PARSE_OK,
    ids=[row[0] for row in PARSE_OK],
)
def test_parse_address_accepts(
    address: str, scheme: str, host: str, hostname: str, port: str, path: str, raw_query: str
) -> None:
    parsed = parse_address(address)
    assert parsed == ParsedAddress(
        scheme=scheme,
        host=host,
        hostname=hostname,
        port=port,
        path=path,
        raw_query=raw_query,
        raw=address,
    )


def test_parsed_address_query_and_repr_hide_userinfo() -> None:
    parsed = parse_address("ipmi://admin:hunter2@10.0.0.1/?privilegelevel=USER&x=1&x=2")
    assert dict(parsed.query) == {"privilegelevel": ("USER",), "x": ("1", "2")}
    assert "hunter2" not in repr(parsed)
    assert "hunter2" not in str(parsed)


# --- parsing: rejected shapes -------------------------------------------------------------------

PARSE_ERRORS: list[tuple[str, str]] = [
    ("-host.example.com.org", invalid_host("-host.example.com.org")),
    ("my-.examplehost.com", invalid_host("my-.examplehost.com")),
    ("ipmi://host_name.example.com", invalid_host("host_name.example.com")),
    ("ipmi://bmc.example.com.", invalid_host("bmc.example.com.")),
    ("a" * 64 + ".example.com", invalid_host("a" * 64 + ".example.com")),
    ("redfish://" + "b" * 64, invalid_host("b" * 64)),
    # Bracketed IPv6 without a port is not a host:port, and url.Parse refuses it.
    (
        f"[{IPV6}]",
        f'{PARSE_PREFIX}parse "[{IPV6}]": first path segment in URL cannot contain colon',
    ),
    ("[fe80::fc33:62ff:fe33:8xff]:6223", invalid_host("fe80::fc33:62ff:fe33:8xff")),
    ("ipmi://[fe80::fc33:62ff:fe33:8xff]:6223", invalid_host("fe80::fc33:62ff:fe33:8xff")),
    # Brackets are for IPv6 only (Go >= 1.25.2 refuses these too).
    ("redfish://[192.168.122.1]:443/", invalid_host("192.168.122.1")),
    ("redfish://[bmc.example.com]/", invalid_host("bmc.example.com")),
    # IPv6 zones are not IP addresses for net.ParseIP.
    ("redfish://[fe80::1%25eth0]/", invalid_host("fe80::1%eth0")),
    # Bare IPv6 addresses are rejected one way or another.
    ("::1", f'{PARSE_PREFIX}parse "::1": missing protocol scheme'),
    (
        "2001:db8::1",
        f'{PARSE_PREFIX}parse "2001:db8::1": first path segment in URL cannot contain colon',
    ),
    ("ipmi://1.2.3.4:x", f'{PARSE_PREFIX}parse "ipmi://1.2.3.4:x": invalid port ":x" after host'),
    ("ipmi://[fe80::1", f"{PARSE_PREFIX}parse \"ipmi://[fe80::1\": missing ']' in host"),
    (
        "ipmi://[fe80::1]x:623",
        f'{PARSE_PREFIX}parse "ipmi://[fe80::1]x:623": invalid port "x:623" after host',
    ),
    (
        "redfish://h:1/%zz",
        f'{PARSE_PREFIX}parse "redfish://h:1/%zz": invalid URL escape "%zz"',
    ),
    (
        "ipmi://us er@1.2.3.4:623",
        f'{PARSE_PREFIX}parse "ipmi://us er@1.2.3.4:623": net/url: invalid userinfo',
    ),
    ("redfish://host:80:90/", invalid_host("host:80")),
    # Go quirk: when url.Parse fails but net.SplitHostPort accepts the string (it does not
    # check the port), the whole string is taken as an IPMI host and fails the DNS check.
    ("ipmi://a b", invalid_host("ipmi://a b")),
    ("%zz", invalid_host("%zz")),
    ("1.2.3.4\n", invalid_host("1.2.3.4\n")),
    (":ipmi", invalid_host(":ipmi")),
]


@pytest.mark.parametrize(("address", "message"), PARSE_ERRORS, ids=[r[0] for r in PARSE_ERRORS])
def test_parse_address_rejects(address: str, message: str) -> None:
    with pytest.raises(BMCAddressError) as info:
        parse_address(address)
    assert str(info.value) == message
    # And access_details reports the same error.
    with pytest.raises(BMCAddressError) as again:
        access_details(address)
    assert str(again.value) == message


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "ipmi://admin:pa ss@1.2.3.4:623",
            f'{PARSE_PREFIX}parse "ipmi://admin:xxxxx@1.2.3.4:623": net/url: invalid userinfo',
        ),
        (
            'ipmi:admin:pa"ss@1.2.3.4:623',
            f'{PARSE_PREFIX}parse "ipmi://admin:xxxxx@1.2.3.4:623": net/url: invalid userinfo',
        ),
        # url.Parse fails, SplitHostPort accepts: the whole address becomes the "hostname".
        ("//admin:p^ss@1.2.3.4", invalid_host("//admin:xxxxx@1.2.3.4")),
    ],
)
def test_parse_error_never_shows_a_password_from_the_address(address: str, message: str) -> None:
    with pytest.raises(BMCAddressError) as info:
        parse_address(address)
    assert str(info.value) == message


def test_empty_address_parses_but_has_no_access_details() -> None:
    assert parse_address("") == ParsedAddress("ipmi", "", "", "", "", "", "")
    with pytest.raises(BMCAddressError, match=r"^missing BMC address$"):
        access_details("")


# --- unknown and removed types ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("test:127.0.1.1", "Unknown BMC type 'test' for address test:127.0.1.1"),
        ("foo://192.168.122.1", "Unknown BMC type 'foo' for address foo://192.168.122.1"),
        ("FOO://192.168.122.1", "Unknown BMC type 'foo' for address FOO://192.168.122.1"),
        (
            "bmc.example.com:623",
            "Unknown BMC type 'bmc.example.com' for address bmc.example.com:623",
        ),
        ("fe80::1", "Unknown BMC type 'fe80' for address fe80::1"),
        (
            "redfish+ftp://1.2.3.4",
            "Unknown BMC type 'redfish+ftp' for address redfish+ftp://1.2.3.4",
        ),
        ("ipmi+https://1.2.3.4", "Unknown BMC type 'ipmi+https' for address ipmi+https://1.2.3.4"),
        (
            "libvirt+http://1.2.3.4",
            "Unknown BMC type 'libvirt+http' for address libvirt+http://1.2.3.4",
        ),
        (
            "foo://admin:secret@1.2.3.4",
            "Unknown BMC type 'foo' for address foo://admin:xxxxx@1.2.3.4",
        ),
    ],
)
def test_unknown_types(address: str, message: str) -> None:
    with pytest.raises(UnknownBMCTypeError) as info:
        access_details(address)
    assert str(info.value) == message
    assert not isinstance(info.value, DevelopmentDriverDisabledError)


@pytest.mark.parametrize("scheme", REMOVED_TYPES)
def test_removed_drivers_are_unknown(scheme: str) -> None:
    address = f"{scheme}://192.168.122.1"
    with pytest.raises(UnknownBMCTypeError) as info:
        access_details(address, allow_development=True)
    assert str(info.value) == f"Unknown BMC type '{scheme}' for address {address}"
    assert info.value.bmc_type == scheme
    assert info.value.address == address
    assert scheme not in supported_types(allow_development=True)


def test_removed_types_cover_every_removed_upstream_driver() -> None:
    for name in ("irmc", "ilo4", "ilo4-virtualmedia", "ilo5", "idrac", "ibmc"):
        assert name in REMOVED_TYPES


# --- the registry: interfaces and capabilities per scheme ---------------------------------------

SUPPORTED = [
    "idrac-redfish",
    "idrac-redfish+http",
    "idrac-redfish+https",
    "idrac-virtualmedia",
    "idrac-virtualmedia+http",
    "idrac-virtualmedia+https",
    "ilo5-redfish",
    "ilo5-redfish+http",
    "ilo5-redfish+https",
    "ilo5-virtualmedia",
    "ilo5-virtualmedia+http",
    "ilo5-virtualmedia+https",
    "ipmi",
    "libvirt",
    "redfish",
    "redfish+http",
    "redfish+https",
    "redfish-uefihttp",
    "redfish-uefihttp+http",
    "redfish-uefihttp+https",
    "redfish-virtualmedia",
    "redfish-virtualmedia+http",
    "redfish-virtualmedia+https",
]


def test_supported_types() -> None:
    assert supported_types() == SUPPORTED
    assert supported_types(allow_development=True) == sorted([*SUPPORTED, "fake"])


# One row per family, as registered in ``pkg/hardwareutils/bmc/*.go``:
# driver, boot, bios, firmware, management, power, raid, vendor, inspect(fast),
# needs_mac, secure_boot, iso_preprovisioning, provisioning_network
Row = tuple[str, str, str, str, str, str, str, str, str, bool, bool, bool, bool]
IPMI_ROW: Row = ("ipmi", "ipxe", "", "", "", "", "no-raid", "", "", False, False, False, True)
LIBVIRT_ROW: Row = ("ipmi", "ipxe", "", "", "", "", "no-raid", "", "", True, False, False, True)
REDFISH_ROW: Row = (
    "redfish", "ipxe", "", "redfish", "", "", "redfish", "", "redfish", False, True, False, True
)  # fmt: skip
REDFISH_VM_ROW: Row = (
    "redfish", "redfish-virtual-media", "", "redfish", "", "", "redfish", "", "redfish",
    False, True, True, False,
)  # fmt: skip
UEFIHTTP_ROW: Row = (
    "redfish", "redfish-https", "", "redfish", "", "", "redfish", "", "redfish",
    False, True, True, False,
)  # fmt: skip
IDRAC_ROW: Row = (
    "idrac", "ipxe", "idrac-redfish", "redfish", "idrac-redfish", "idrac-redfish",
    "idrac-redfish", "idrac-redfish", "redfish", False, True, False, True,
)  # fmt: skip
IDRAC_VM_ROW: Row = (
    "idrac", "idrac-redfish-virtual-media", "idrac-redfish", "redfish", "idrac-redfish",
    "idrac-redfish", "idrac-redfish", "idrac-redfish", "redfish", False, True, True, False,
)  # fmt: skip

FAMILIES: dict[str, Row] = {
    "ipmi": IPMI_ROW,
    "libvirt": LIBVIRT_ROW,
    "redfish": REDFISH_ROW,
    "ilo5-redfish": REDFISH_ROW,
    "redfish-virtualmedia": REDFISH_VM_ROW,
    "ilo5-virtualmedia": REDFISH_VM_ROW,
    "redfish-uefihttp": UEFIHTTP_ROW,
    "idrac-redfish": IDRAC_ROW,
    "idrac-virtualmedia": IDRAC_VM_ROW,
}


def family_of(scheme: str) -> str:
    return scheme.partition("+")[0]


@pytest.mark.parametrize("scheme", SUPPORTED)
def test_interfaces_and_capabilities(scheme: str) -> None:
    acc = access_details(f"{scheme}://192.168.122.1")
    got: Row = (
        acc.driver,
        acc.boot_interface,
        acc.bios_interface,
        acc.firmware_interface,
        acc.management_interface,
        acc.power_interface,
        acc.raid_interface,
        acc.vendor_interface,
        acc.inspect_interface,
        acc.needs_mac,
        acc.supports_secure_boot,
        acc.supports_iso_preprovisioning,
        acc.requires_provisioning_network,
    )
    assert got == FAMILIES[family_of(scheme)]
    assert acc.type == scheme
    assert acc.supports_raid == (acc.raid_interface != "no-raid")
    assert acc.supports_fast_inspection == (family_of(scheme) not in ("ipmi", "libvirt"))
    assert not acc.development_only


def test_bare_address_is_ipmi() -> None:
    acc = access_details("192.168.122.1")
    assert acc.type == "ipmi"
    assert acc.driver == "ipmi"
    assert not acc.needs_mac


def test_node_interfaces_leave_defaults_to_ironic() -> None:
    assert access_details("ipmi://1.2.3.4").node_interfaces() == {
        "boot_interface": "ipxe",
        "raid_interface": "no-raid",
    }
    assert access_details("idrac-virtualmedia://1.2.3.4").node_interfaces() == {
        "bios_interface": "idrac-redfish",
        "boot_interface": "idrac-redfish-virtual-media",
        "firmware_interface": "redfish",
        "management_interface": "idrac-redfish",
        "power_interface": "idrac-redfish",
        "raid_interface": "idrac-redfish",
        "vendor_interface": "idrac-redfish",
    }


def test_driver_spec_lookup() -> None:
    spec = driver_spec("redfish-virtualmedia+http")
    assert spec is not None
    assert spec.name == "redfish-virtualmedia"
    assert driver_spec("ilo4") is None
    assert driver_spec("fake") is None
    fake = driver_spec("fake", allow_development=True)
    assert fake is not None
    assert fake.driver == "fake-hardware"


# --- the development-only scheme ----------------------------------------------------------------


@pytest.mark.parametrize("address", ["fake://127.0.0.1/node-0", "fake:node-0", "FAKE://node-1"])
def test_fake_scheme_is_refused_by_default(address: str) -> None:
    with pytest.raises(DevelopmentDriverDisabledError) as info:
        access_details(address)
    assert str(info.value) == (
        "BMC type 'fake' is for development only: start bmo with --development-drivers "
        "(BMO_DEVELOPMENT_DRIVERS=true) to use it"
    )
    assert DEVELOPMENT_DRIVERS_HINT in str(info.value)
    # Callers that handle unknown types (no requeue, webhook rejection) handle this too.
    assert isinstance(info.value, UnknownBMCTypeError)
    assert info.value.bmc_type == "fake"


@pytest.mark.parametrize("address", ["fake://127.0.0.1/node-0", "fake:node-0"])
def test_fake_scheme_with_development_drivers(address: str) -> None:
    acc = access_details(address, allow_development=True)
    assert isinstance(acc, AccessDetails)
    assert acc.type == "fake"
    assert acc.driver == "fake-hardware"
    assert acc.node_interfaces() == {}
    assert acc.driver_info(Credentials("admin", "password")) == {}
    assert acc.driver_info(Credentials("", "")) == {}
    assert not acc.needs_mac
    assert acc.supports_secure_boot
    assert not acc.requires_provisioning_network
    assert acc.supports_raid
    assert not acc.supports_fast_inspection
    assert acc.development_only


def test_fake_has_no_transport_variants() -> None:
    with pytest.raises(UnknownBMCTypeError) as info:
        access_details("fake+http://127.0.0.1", allow_development=True)
    assert not isinstance(info.value, DevelopmentDriverDisabledError)


# --- credentials --------------------------------------------------------------------------------


def test_credentials_are_trimmed() -> None:
    creds = Credentials("  admin\n", "\tpass word \r\n")
    assert creds.username == "admin"
    assert creds.password == "pass word"
    assert creds == Credentials("admin", "pass word")
    # Only Go's whitespace is trimmed: U+001F is not space to strings.TrimSpace.
    assert Credentials("\x1fadmin", "p\u3000").username == "\x1fadmin"
    assert Credentials("a", "p\u3000").password == "p"


@pytest.mark.parametrize(
    ("username", "password", "detail"),
    [
        ("", "password", "Missing BMC connection detail 'username' in credentials"),
        (" \n", "password", "Missing BMC connection detail 'username' in credentials"),
        ("", "", "Missing BMC connection detail 'username' in credentials"),
        ("admin", "", "Missing BMC connection details 'password' in credentials"),
        ("admin", "\n", "Missing BMC connection details 'password' in credentials"),
    ],
)
def test_credentials_validation(username: str, password: str, detail: str) -> None:
    with pytest.raises(CredentialsError) as info:
        Credentials(username, password).validate()
    assert info.value.detail == detail
    assert str(info.value) == f"Validation error with BMC credentials: {detail}"
    assert isinstance(info.value, BMCError)


def test_valid_credentials_pass() -> None:
    Credentials("admin", "password").validate()


def test_password_never_in_repr() -> None:
    creds = Credentials("admin", "s3cr3t-Pa55")
    for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}", repr([creds])):
        assert "s3cr3t-Pa55" not in text
        assert "admin" in text
    assert repr(creds) == "Credentials(username='admin', password=<redacted>)"
    assert repr(Credentials("admin", "")) == "Credentials(username='admin', password=<empty>)"


def test_credentials_are_immutable() -> None:
    creds = Credentials("admin", "password")
    with pytest.raises(AttributeError):
        creds.password = "other"  # type: ignore[misc]


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_parse_never_raises_anything_but_bmc_error(address: str) -> None:
    try:
        parsed = parse_address(address)
    except BMCError:
        return
    assert isinstance(parsed.scheme, str)
    assert isinstance(parsed.path, str)


URL_ALPHABET = st.sampled_from(list("abcXYZ019:/?#[]@%-._~+=&; \"'<>!$()*,\\|^`{}\x00\n\u00e9"))


@settings(max_examples=400, deadline=None)
@given(st.text(URL_ALPHABET, max_size=40), st.booleans(), st.booleans())
def test_access_details_never_raises_anything_but_bmc_error(
    tail: str, with_scheme: bool, development: bool
) -> None:
    address = f"redfish+http://{tail}" if with_scheme else tail
    try:
        acc = access_details(address, allow_development=development)
    except BMCError:
        return
    info = acc.driver_info(Credentials("u", "p"))
    assert all(isinstance(key, str) for key in info)


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(LABEL, min_size=1, max_size=4), st.integers(min_value=0, max_value=65535))
def test_valid_names_and_ports_round_trip(labels: list[str], port: int) -> None:
    name = ".".join(labels)
    for address in (f"ipmi://{name}:{port}", f"redfish+https://{name}:{port}/redfish/v1/Systems/x"):
        parsed = parse_address(address)
        assert (parsed.hostname, parsed.port) == (name, str(port))
    info = access_details(f"ipmi://{name}:{port}").driver_info(Credentials("admin", "password"))
    assert (info["ipmi_address"], info["ipmi_port"]) == (name, str(port))
