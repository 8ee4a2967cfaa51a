"""Private OCI images: the registry credential for Ironic, from a docker-config Secret.

Cases follow upstream's ``pkg/secretutils/dockerconfig_test.go`` and the dockercfg library
it resolves entries with; every failure is also checked to keep the Secret out of the text.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bmo.api import imageauth
from bmo.api.host import Image
from bmo.api.imageauth import (
    EVENT_IMAGE_AUTH_FORMAT_UNSUPPORTED,
    EVENT_IMAGE_AUTH_PARSE_ERROR,
    MAX_DOCKER_CONFIG_BYTES,
    ImageAuthFormatUnsupported,
    ImageAuthParseError,
    RegistryCredentialsError,
    auth_secret_name,
    extract_registry_credentials,
    pull_secret,
    registry_host,
    secret_not_found,
)

USER, PASSWORD = "robot$deployer", "s3cr3t-Pa55:with-colon"
SECRETS = (USER, PASSWORD)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def creds(user: str = USER, password: str = PASSWORD) -> str:
    """What Ironic must receive: base64 of ``user:password``."""
    return b64(f"{user}:{password}")


def config(auths: dict[str, Any], **extra: Any) -> dict[str, bytes]:
    return {".dockerconfigjson": json.dumps({"auths": auths, **extra}).encode()}


def entry(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"auth": b64(f"{user}:{password}")}


def secret(data: dict[str, bytes], type_: str = "kubernetes.io/dockerconfigjson") -> dict[str, Any]:
    """A Secret as the API returns it: base64 ``data``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pull", "namespace": "metal3"},
        "type": type_,
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def assert_secret_free(text: str, *also: str) -> None:
    for value in (*SECRETS, b64(f"{USER}:{PASSWORD}"), *also):
        assert value not in text, f"{value!r} leaked into {text!r}"


def extraction_error(data: dict[str, bytes], url: str) -> str:
    with pytest.raises(RegistryCredentialsError) as info:
        extract_registry_credentials(data, url)
    message = str(info.value)
    assert_secret_free(message)
    # No chained exception carries the document along into a traceback.
    err = info.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    return message


# --- registry lookup --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("registry.example.com", "oci://registry.example.com/repo/image:tag"),
        ("registry.example.com:5000", "oci://registry.example.com:5000/repo/image:tag"),
        ("quay.io", "oci://quay.io/org/team/image@sha256:abcd"),
        ("quay.io", "oci://quay.io"),
    ],
)
def test_exact_registry_match(key: str, url: str) -> None:
    data = config({key: entry(), "other.example.com": entry("x", "y")})
    assert extract_registry_credentials(data, url) == creds()


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("registry.example.com", "oci://registry.example.com:5000/repo:tag"),
        ("registry.example.com:5000", "oci://registry.example.com/repo:tag"),
        ("https://registry.example.com", "oci://registry.example.com/repo:tag"),
        ("Registry.Example.com", "oci://registry.example.com/repo:tag"),
        ("different-registry.com", "oci://registry.example.com/repo/image:tag"),
    ],
)
def test_no_fuzzy_registry_match(key: str, url: str) -> None:
    host = url.removeprefix("oci://").split("/")[0]
    message = extraction_error(config({key: entry()}), url)
    assert message == f"registry {host} not found in auth config"


@pytest.mark.parametrize(
    "url",
    [
        "oci://docker.io/library/busybox:1",
        "oci://index.docker.io/library/busybox:1",
        "oci://registry-1.docker.io/library/busybox:1",
    ],
)
def test_docker_hub_names_resolve_to_the_index_key(url: str) -> None:
    data = config({"https://index.docker.io/v1/": entry()})
    assert extract_registry_credentials(data, url) == creds()


def test_docker_hub_is_only_found_under_the_index_key() -> None:
    # dockercfg.ResolveRegistryHost maps docker.io to the index URL and looks up only that.
    message = extraction_error(config({"docker.io": entry()}), "oci://docker.io/library/x:1")
    assert message == "registry docker.io not found in auth config"


def test_explicit_username_and_password_win_over_auth() -> None:
    data = config({"r.example": {"username": "u", "password": "p", "auth": b64("a:b")}})
    assert extract_registry_credentials(data, "oci://r.example/x") == creds("u", "p")


def test_password_with_colons_survives_the_auth_field() -> None:
    data = config({"r.example": {"auth": b64("myuser:pass:with:colons")}})
    assert extract_registry_credentials(data, "oci://r.example/x") == creds(
        "myuser", "pass:with:colons"
    )


def test_identity_token_is_passed_as_password() -> None:
    data = config({"r.example": {"identitytoken": "tok-123", "username": "u", "password": "p"}})
    assert extract_registry_credentials(data, "oci://r.example/x") == b64(":tok-123")


def test_field_names_match_case_insensitively_as_encoding_json_does() -> None:
    data = {
        ".dockerconfigjson": json.dumps({"Auths": {"r.example": {"Auth": b64("u:p")}}}).encode()
    }
    assert extract_registry_credentials(data, "oci://r.example/x") == creds("u", "p")


def test_legacy_dockercfg_is_the_auths_map_itself() -> None:
    data = {".dockercfg": json.dumps({"quay.io": {"username": "q", "password": "p"}}).encode()}
    assert extract_registry_credentials(data, "oci://quay.io/org/image:v1") == creds("q", "p")


def test_dockerconfigjson_wins_over_dockercfg() -> None:
    data = {
        **config({"r.example": entry("new", "1")}),
        ".dockercfg": json.dumps({"r.example": entry("old", "2")}).encode(),
    }
    assert extract_registry_credentials(data, "oci://r.example/x") == creds("new", "1")


def test_credential_helpers_cannot_run_in_the_operator() -> None:
    data = config({"r.example": entry()}, credHelpers={"r.example": "ecr-login"})
    assert "not found in auth config" in extraction_error(data, "oci://r.example/x")
    # A credential store is consulted first, finds nothing, and the auths entry is used.
    data = config({"r.example": entry()}, credsStore="desktop")
    assert extract_registry_credentials(data, "oci://r.example/x") == creds()


@pytest.mark.parametrize(
    "auth",
    [{}, {"email": "ops@example.com"}, {"username": USER}, None],
    ids=["empty", "email-only", "username-only", "null"],
)
def test_entry_without_credentials_is_missing(auth: Any) -> None:
    message = extraction_error(config({"r.example": auth}), "oci://r.example/x")
    assert message == "registry r.example not found in auth config"


# --- malformed input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://example.com/image.qcow2",
            "failed to extract registry host from image URL: "
            "image URL does not have oci:// scheme: http://example.com/image.qcow2",
        ),
        (
            "OCI://r.example/x",
            "failed to extract registry host from image URL: "
            "image URL does not have oci:// scheme: OCI://r.example/x",
        ),
        (
            "oci://",
            "failed to extract registry host from image URL: "
            "failed to extract hostname from image URL: oci://",
        ),
        (
            "oci:///repo",
            "failed to extract registry host from image URL: "
            "failed to extract hostname from image URL: oci:///repo",
        ),
    ],
)
def test_bad_image_urls(url: str, message: str) -> None:
    assert extraction_error(config({"r.example": entry()}), url) == message


def test_registry_host() -> None:
    assert registry_host("oci://registry.example.com:5000/org/team/repo/image:tag") == (
        "registry.example.com:5000"
    )
    with pytest.raises(RegistryCredentialsError):
        registry_host("")


def test_secret_without_either_key() -> None:
    message = extraction_error({"wrong-key": b"data"}, "oci://r.example/x")
    assert message == "secret does not contain .dockerconfigjson or .dockercfg key"


TRUNCATED = f'{{"auths": {{"r.example": {{"password": "{PASSWORD}"'
BAD_ESCAPE = f'{{"auths": {{"r.example": {{"auth": "{PASSWORD}\\q"}}}}}}'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            TRUNCATED,
            "failed to parse dockerconfigjson: invalid JSON: Expecting ',' delimiter "
            f"at line 1 column {len(TRUNCATED) + 1}",
        ),
        (
            BAD_ESCAPE,
            "failed to parse dockerconfigjson: invalid JSON: Invalid \\escape "
            f"at line 1 column {BAD_ESCAPE.index(chr(92)) + 1}",
        ),
        (
            '{"auths": []}',
            "failed to parse dockerconfigjson: json: cannot unmarshal array into Go struct "
            "field Config.auths of type map[string]dockercfg.AuthConfig",
        ),
        (
            '{"auths": {"r.example": "user:pass"}}',
            "failed to parse dockerconfigjson: json: cannot unmarshal string into Go struct "
            "field Config.auths of type dockercfg.AuthConfig",
        ),
        (
            '{"auths": {"r.example": {"password": 12345}}}',
            "failed to parse dockerconfigjson: json: cannot unmarshal number into Go struct "
            "field AuthConfig.auths.password of type string",
        ),
        (
            '{"credHelpers": {"r.example": true}}',
            "failed to parse dockerconfigjson: json: cannot unmarshal bool into Go struct "
            "field Config.credHelpers of type string",
        ),
        (
            '{"credsStore": ["x"]}',
            "failed to parse dockerconfigjson: json: cannot unmarshal array into Go struct "
            "field Config.credsStore of type string",
        ),
        (
            '["r.example"]',
            "failed to parse dockerconfigjson: json: cannot unmarshal array into Go value "
            "of type dockercfg.Config",
        ),
        (
            '{"auths": {"r.example": {"password": NaN}}}',
            "failed to parse dockerconfigjson: invalid JSON: NaN and Infinity are not JSON",
        ),
    ],
    ids=[
        "truncated",
        "bad-escape",
        "auths-array",
        "entry-string",
        "field-number",
        "helper-bool",
        "store-array",
        "top-array",
        "nan",
    ],
)
def test_malformed_dockerconfigjson(raw: str, message: str) -> None:
    got = extraction_error({".dockerconfigjson": raw.encode()}, "oci://r.example/x")
    assert got == message
    assert_secret_free(got, "\\q")


def test_malformed_dockercfg() -> None:
    got = extraction_error({".dockercfg": b'{"r.example": 7}'}, "oci://r.example/x")
    assert got == (
        "failed to parse dockercfg: json: cannot unmarshal number into Go value of type "
        "dockercfg.AuthConfig"
    )
    got = extraction_error({".dockercfg": b'"r.example"'}, "oci://r.example/x")
    assert got == (
        "failed to parse dockercfg: json: cannot unmarshal string into Go value of type "
        "map[string]dockercfg.AuthConfig"
    )


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        # encoding/base64 offsets, as Go reports them
        ("not-valid-base64!!!", "decode auth: illegal base64 data at input byte 3"),
        ("dXNlcjpwYXNz!", "decode auth: illegal base64 data at input byte 12"),
        ("dXNlcjpwYXM", "decode auth: illegal base64 data at input byte 8"),
        ("dXNlcjpwYQ=", "decode auth: illegal base64 data at input byte 11"),
        ("dXNlcjpwYQ=x", "decode auth: illegal base64 data at input byte 10"),
        ("dXNlcjpwYQ==dA==", "decode auth: illegal base64 data at input byte 12"),
        ("=XNl", "decode auth: illegal base64 data at input byte 0"),
        (b64("no-colon-here"), 'invalid auth: missing ":" separator'),
    ],
)
def test_undecodable_auth_field(auth: str, message: str) -> None:
    got = extraction_error(config({"r.example": {"auth": auth}}), "oci://r.example/x")
    assert got == f"failed to get credentials for registry r.example: {message}"
    assert_secret_free(got, auth, "no-colon-here")


def test_auth_field_may_wrap_lines_as_go_allows() -> None:
    wrapped = b64(f"{USER}:{PASSWORD}")
    wrapped = wrapped[:8] + "\r\n" + wrapped[8:] + "\n"
    data = config({"r.example": {"auth": wrapped}})
    assert extract_registry_credentials(data, "oci://r.example/x") == creds()


def test_oversized_config_is_refused_before_parsing() -> None:
    padding = {f"r{i}.example": entry() for i in range(MAX_DOCKER_CONFIG_BYTES // 60)}
    data = config(padding)
    assert len(data[".dockerconfigjson"]) > MAX_DOCKER_CONFIG_BYTES
    got = extraction_error(data, "oci://r1.example/x")
    assert got.startswith("failed to parse dockerconfigjson: .dockerconfigjson is ")
    assert f"more than the {MAX_DOCKER_CONFIG_BYTES} allowed" in got


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_nesting_is_refused_without_recursing(opener: str) -> None:
    raw = opener * 40_000  # far beyond the recursion limit, within the size limit
    got = extraction_error({".dockerconfigjson": raw.encode()}, "oci://r.example/x")
    assert got == (
        f"failed to parse dockerconfigjson: .dockerconfigjson nests deeper than "
        f"{imageauth.MAX_DOCKER_CONFIG_DEPTH} levels"
    )


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    password = '[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{\\"[['
    data = config({"r.example": {"username": "u", "password": json.loads(f'"{password}"')}})
    assert extract_registry_credentials(data, "oci://r.example/x") == creds(
        "u", json.loads(f'"{password}"')
    )


def test_invalid_utf8_is_replaced_as_go_does() -> None:
    raw = b'{"auths": {"r.example": {"username": "u\xff", "password": "p"}}}'
    assert extract_registry_credentials({".dockerconfigjson": raw}, "oci://r.example/x") == (
        base64.b64encode("u\ufffd:p".encode()).decode()
    )


# --- the controller-facing part ---------------------------------------------------------


def test_auth_secret_name_only_for_oci_images() -> None:
    assert auth_secret_name(None) is None
    assert auth_secret_name(Image(url="oci://r.example/x")) is None
    assert auth_secret_name(Image(url="oci://r.example/x", oci_auth_secret_name="")) is None
    assert auth_secret_name(Image(url="http://e/x.qcow2", oci_auth_secret_name="pull")) is None
    assert auth_secret_name(Image(url="OCI://r.example/x", oci_auth_secret_name="pull")) == "pull"


def test_pull_secret_from_api_secret() -> None:
    obj = secret(config({"r.example": entry()}))
    assert pull_secret("pull", obj, "oci://r.example/x:1") == creds()
    legacy = secret({".dockercfg": json.dumps({"r.example": entry()}).encode()})
    legacy["type"] = "kubernetes.io/dockercfg"
    assert pull_secret("pull", legacy, "oci://r.example/x:1") == creds()


@pytest.mark.parametrize("type_", ["Opaque", "", "kubernetes.io/basic-auth"])
def test_wrong_secret_type_is_format_unsupported(type_: str) -> None:
    obj = secret(config({"r.example": entry()}), type_=type_)
    with pytest.raises(ImageAuthFormatUnsupported) as info:
        pull_secret("pull", obj, "oci://r.example/x")
    err = info.value
    assert err.event_reason == EVENT_IMAGE_AUTH_FORMAT_UNSUPPORTED == "ImageAuthFormatUnsupported"
    assert str(err) == (
        f'secret "pull" has unsupported type "{type_}" '
        "(expected kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg)"
    )
    assert err.event_message == f'Secret "pull" has unsupported type "{type_}"'
    assert_secret_free(str(err))


def _parse_errors() -> Iterator[tuple[str, dict[str, Any], str]]:
    yield (
        "missing-registry",
        secret(config({"other.example": entry()})),
        "registry r.example not found in auth config",
    )
    yield (
        "bad-json",
        secret({".dockerconfigjson": f'{{"auths": "{PASSWORD}'.encode()}),
        "failed to parse dockerconfigjson: invalid JSON: Unterminated string starting at "
        "line 1 column 11",
    )
    yield (
        "no-key",
        secret({"config.json": b"{}"}),
        "secret does not contain .dockerconfigjson or .dockercfg key",
    )
    bad = secret({})
    bad["data"] = {".dockerconfigjson": "%%%" + b64(PASSWORD)}
    yield ("bad-base64-data", bad, "secret data .dockerconfigjson is not valid base64")
    big = secret({})
    big["data"] = {".dockerconfigjson": "A" * (MAX_DOCKER_CONFIG_BYTES * 2)}
    yield (
        "huge-data",
        big,
        f".dockerconfigjson is {MAX_DOCKER_CONFIG_BYTES * 3 // 2} bytes, more than the "
        f"{MAX_DOCKER_CONFIG_BYTES} allowed: keep only the registries this image needs",
    )


@pytest.mark.parametrize(
    ("obj", "reason"), [(obj, reason) for _, obj, reason in _parse_errors()],
    ids=[name for name, _, _ in _parse_errors()],
)  # fmt: skip
def test_unusable_secret_is_a_parse_error(obj: dict[str, Any], reason: str) -> None:
    with pytest.raises(ImageAuthParseError) as info:
        pull_secret("pull", obj, "oci://r.example/x")
    err = info.value
    assert err.event_reason == EVENT_IMAGE_AUTH_PARSE_ERROR == "ImageAuthParseError"
    assert str(err) == f'failed to extract credentials from secret "pull": {reason}'
    assert err.event_message == f'Failed to extract credentials from secret "pull": {reason}'
    assert err.__cause__ is None
    for text in (str(err), err.event_message or "", repr(err)):
        assert_secret_free(text)


def test_missing_secret_message() -> None:
    err = secret_not_found("pull", "metal3")
    assert str(err) == 'auth secret "pull" not found in namespace "metal3"'
    assert err.event_reason is None
