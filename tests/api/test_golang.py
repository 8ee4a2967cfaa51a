"""bmo.api.golang: Go standard-library behaviour behind the webhook and BMC messages."""

from __future__ import annotations

import pytest

from bmo.api.golang.json import GoJSONError, go_json_decode
from bmo.api.golang.net import parse_mac_error
from bmo.api.golang.strconv import go_quote
from bmo.api.golang.url import GoURLError, parse_query, parse_request_uri
from bmo.api.golang.uuid import is_uuid
from bmo.api.hardware import HardwareDetails
from bmo.api.host import BareMetalHostStatus


@pytest.mark.parametrize(
    "mac",
    ["00:00:5e:00:53:01", "00-00-5E-00-53-01", "0000.5e00.5301", "02:00:5e:10:00:00:00:01"],
)
def test_parse_mac_accepts(mac: str) -> None:
    assert parse_mac_error(mac) is None


@pytest.mark.parametrize(
    "mac", ["00:00:00:00:00", "00:00:00:00:00:0g", "00:00:00-00:00:00", "0000.5e00.530", "x" * 17]
)
def test_parse_mac_rejects(mac: str) -> None:
    assert parse_mac_error(mac) == f"address {mac}: invalid MAC address"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07564256-96ae-4315-ab03-8d34ece60fbb", True),
        ("0756425696ae4315ab038d34ece60fbb", True),
        ("{07564256-96ae-4315-ab03-8d34ece60fbb}", True),
        ("urn:uuid:07564256-96ae-4315-ab03-8d34ece60fbb", True),
        ("07564256-96ae-4315-ab03-8d34ece60fbz", False),
        ("worker-0", False),
    ],
)
def test_is_uuid(text: str, expected: bool) -> None:
    assert is_uuid(text) is expected


@pytest.mark.parametrize(
    ("url", "result"),
    [
        ("https://example.com/image", "https"),
        ("HTTP://example.com/image", "http"),
        ("oci://quay.io/x:tag", "oci"),
        ("/relative/path", ""),
        ("test1", 'parse "test1": invalid URI for request'),
        ("", 'parse "": empty url'),
        ("http://a b/", 'parse "http://a b/": invalid character " " in host name'),
        ("http://x:y/", 'parse "http://x:y/": invalid port ":y" after host'),
        ("http://[::1/", "parse \"http://[::1/\": missing ']' in host"),
        ("http://x/%zz", 'parse "http://x/%zz": invalid URL escape "%zz"'),
        (":foo", 'parse ":foo": missing protocol scheme'),
        ("http://x/\n", 'parse "http://x/\\n": net/url: invalid control character in URL'),
    ],
)
def test_parse_request_uri(url: str, result: str) -> None:
    if result.startswith("parse "):
        with pytest.raises(GoURLError) as info:
            parse_request_uri(url)
        assert str(info.value) == result
    else:
        assert parse_request_uri(url).scheme == result


def test_go_quote() -> None:
    assert go_quote('a"b\\c\td') == '"a\\"b\\\\c\\td"'


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("abc", '"abc"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\n\t\x00\x7f", '"\\n\\t\\x00\\x7f"'),
        ("é€", '"é€"'),
        ("\u200b\xa0", '"\\u200b\\u00a0"'),
        ("\U000e0001", '"\\U000e0001"'),
    ],
)
def test_go_quote_escapes(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


@pytest.mark.parametrize(
    ("query", "values", "failed"),
    [
        ("", {}, False),
        ("a=1&b=2&a=3", {"a": ["1", "3"], "b": ["2"]}, False),
        ("a=x+y%21&&b", {"a": ["x y!"], "b": [""]}, False),
        ("a=1;b=2", {}, True),
        ("a=%zz&b=2", {"b": ["2"]}, True),
    ],
)
def test_parse_query(query: str, values: dict[str, list[str]], failed: bool) -> None:
    assert parse_query(query) == (values, failed)


@pytest.mark.parametrize(
    ("text", "stream", "message"),
    [
        ('{"operationalStatus":"OK"', True, "unexpected EOF"),
        ('{"operationalStatus":"OK"', False, "unexpected end of JSON input"),
        ("", True, "EOF"),
        ("{x}", True, "invalid character 'x' looking for beginning of object key string"),
        ('{"a" 1}', True, "invalid character '1' after object key"),
        ('{"a":1 "b"}', True, "invalid character '\"' after object key:value pair"),
        ("tru", False, "unexpected end of JSON input"),
        ("trux", True, "invalid character 'x' in literal true (expecting 'e')"),
        ("{} x", False, "invalid character 'x' after top-level value"),
        ('{"errorCount":"1"}', True,
         "json: cannot unmarshal string into Go struct field BareMetalHostStatus.errorCount "
         "of type int"),
        ('{"provisioning":{"bogus":1}}', True, 'json: unknown field "bogus"'),
        ("[]", True, "json: cannot unmarshal array into Go value of type "
         "v1alpha1.BareMetalHostStatus"),
    ],
)  # fmt: skip
def test_go_json_errors(text: str, stream: bool, message: str) -> None:
    with pytest.raises(GoJSONError) as info:
        go_json_decode(text, BareMetalHostStatus, strict=True, stream=stream)
    assert str(info.value) == message


def test_go_json_accepts_case_insensitive_keys_and_trailing_stream_data() -> None:
    assert go_json_decode('{"OperationalStatus":"OK"} junk', BareMetalHostStatus, strict=True,
                          stream=True) == {"OperationalStatus": "OK"}  # fmt: skip
    hwd = '{"cpu":{"clockMegahertz":2494.224},"nics":[{"vlans":[{"id":1}]}]}'
    assert go_json_decode(hwd, HardwareDetails, strict=True, stream=True)["cpu"]


@pytest.mark.parametrize("text", ["¹", '{"errorCount":1¹}', "-¹", '{"errorCount":1.5e¹}', "٣"])
def test_go_json_reads_only_ascii_digits(text: str) -> None:
    """Superscripts and other scripts' digits are no JSON digits: a syntax error (as Go's
    scanner reports it), never Python's decoder failing after the check let them through."""
    with pytest.raises(GoJSONError, match=r"^invalid character"):
        go_json_decode(text, BareMetalHostStatus, strict=True, stream=True)
