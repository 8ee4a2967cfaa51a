"""Private OCI images: the pull credential Ironic needs, read from a docker-config Secret.

``spec.image.ociAuthSecretName`` names a ``kubernetes.io/dockerconfigjson`` (or legacy
``kubernetes.io/dockercfg``) Secret in the host's namespace. For an ``oci://`` image the
entry of the image's registry is looked up and handed to Ironic as
``instance_info.image_pull_secret``: base64 of ``username:password``, never the whole config.
This ports ``internal/controller/metal3.io/image_auth_validator.go Validate`` (its pure
part: the controller fetches the Secret and records the events) and
``pkg/secretutils/dockerconfig.go ExtractRegistryCredentials``, which resolves entries with
``github.com/cpuguy83/dockercfg`` (``ResolveRegistryHost``, ``Config.GetRegistryCredentials``).

The Secret holds credentials: no exception raised here carries any part of its data, and
the decoding is bounded (size and nesting) so a hostile Secret cannot exhaust the operator.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Final

from bmo.api.errors import APIError
from bmo.api.golang.strconv import go_quote
from bmo.api.host import Image

__all__ = [
    "DOCKERCFG_KEY",
    "DOCKER_CONFIG_JSON_KEY",
    "EVENT_IMAGE_AUTH_FORMAT_UNSUPPORTED",
    "EVENT_IMAGE_AUTH_PARSE_ERROR",
    "MAX_DOCKER_CONFIG_BYTES",
    "MAX_DOCKER_CONFIG_DEPTH",
    "SECRET_TYPE_DOCKERCFG",
    "SECRET_TYPE_DOCKER_CONFIG_JSON",
    "ImageAuthError",
    "ImageAuthFormatUnsupported",
    "ImageAuthParseError",
    "ImageAuthSecretNotFound",
    "RegistryCredentialsError",
    "auth_secret_name",
    "extract_registry_credentials",
    "pull_secret",
    "registry_host",
    "secret_not_found",
]

SECRET_TYPE_DOCKER_CONFIG_JSON: Final = "kubernetes.io/dockerconfigjson"
SECRET_TYPE_DOCKERCFG: Final = "kubernetes.io/dockercfg"
DOCKER_CONFIG_JSON_KEY: Final = ".dockerconfigjson"
DOCKERCFG_KEY: Final = ".dockercfg"

EVENT_IMAGE_AUTH_FORMAT_UNSUPPORTED: Final = "ImageAuthFormatUnsupported"
EVENT_IMAGE_AUTH_PARSE_ERROR: Final = "ImageAuthParseError"

MAX_DOCKER_CONFIG_BYTES: Final = 256 * 1024
"""A docker config naming a few hundred registries is a few tens of KiB."""
MAX_DOCKER_CONFIG_DEPTH: Final = 16
"""The format nests three objects deep; Python's decoder recurses per level."""

_DOCKER_HUB: Final = "https://index.docker.io/v1/"
_DOCKER_HUB_ALIASES: Final = frozenset(
    {"index.docker.io", "docker.io", _DOCKER_HUB, "registry-1.docker.io"}
)
# dockercfg.Config / dockercfg.AuthConfig fields that take part in the lookup; any other key
# is ignored here (Go would type-check a few more, unused, fields).
_CONFIG_FIELDS: Final = {"auths": "map", "credsStore": "str", "credHelpers": "strmap"}
_AUTH_FIELDS: Final = (
    "username",
    "password",
    "auth",
    "email",
    "serveraddress",
    "identitytoken",
    "registrytoken",
)
_AUTH_CONFIG_TYPE: Final = "dockercfg.AuthConfig"
_AUTHS_TYPE: Final = f"map[string]{_AUTH_CONFIG_TYPE}"


# --- errors --------------------------------------------------------------------------------


class ImageAuthError(APIError):
    """The image's pull secret cannot be used.

    ``str()`` is upstream's error text, which names the Secret but never its data;
    ``event_reason``/``event_message`` are the Warning event upstream records on the host,
    when it records one.
    """

    event_reason: str | None = None

    def __init__(self, message: str, event_message: str | None = None) -> None:
        super().__init__(message)
        self.event_message = event_message


class ImageAuthSecretNotFound(ImageAuthError):
    """The named Secret does not exist in the host's namespace (no event upstream)."""


class ImageAuthFormatUnsupported(ImageAuthError):
    """The Secret is not a docker-config Secret."""

    event_reason = EVENT_IMAGE_AUTH_FORMAT_UNSUPPORTED


class ImageAuthParseError(ImageAuthError):
    """No credential for the image's registry could be read from the Secret."""

    event_reason = EVENT_IMAGE_AUTH_PARSE_ERROR


class RegistryCredentialsError(APIError, ValueError):
    """``ExtractRegistryCredentials`` failed; ``str()`` is its (secret-free) message."""


# --- the controller-facing part (image_auth_validator.go Validate) -------------------------


def auth_secret_name(image: Image | None) -> str | None:
    """The Secret to fetch for ``image``, or ``None`` when no pull credential is involved.

    Only ``oci://`` images with ``ociAuthSecretName`` set use one; for anything else Ironic
    gets no ``image_pull_secret``.
    """
    if image is None or not image.is_oci() or not image.oci_auth_secret_name:
        return None
    return image.oci_auth_secret_name


def secret_not_found(secret_name: str, namespace: str) -> ImageAuthSecretNotFound:
    """The error upstream returns when the named Secret does not exist."""
    return ImageAuthSecretNotFound(
        f"auth secret {go_quote(secret_name)} not found in namespace {go_quote(namespace)}"
    )


def pull_secret(secret_name: str, secret: Mapping[str, Any], image_url: str) -> str:
    """The ``instance_info.image_pull_secret`` value for ``image_url`` from ``secret``.

    ``secret`` is the Secret object as the API returns it (``type``, base64 ``data``).
    Raises :class:`ImageAuthFormatUnsupported` for a Secret of another type and
    :class:`ImageAuthParseError` when no credential for the registry can be read.
    """
    secret_type = str(secret.get("type") or "")
    if secret_type not in (SECRET_TYPE_DOCKER_CONFIG_JSON, SECRET_TYPE_DOCKERCFG):
        name, kind = go_quote(secret_name), go_quote(secret_type)
        raise ImageAuthFormatUnsupported(
            f"secret {name} has unsupported type {kind} "
            f"(expected {SECRET_TYPE_DOCKER_CONFIG_JSON} or {SECRET_TYPE_DOCKERCFG})",
            f"Secret {name} has unsupported type {kind}",
        )
    try:
        return extract_registry_credentials(_secret_data(secret), image_url)
    except RegistryCredentialsError as exc:
        name = go_quote(secret_name)
        raise ImageAuthParseError(
            f"failed to extract credentials from secret {name}: {exc}",
            f"Failed to extract credentials from secret {name}: {exc}",
        ) from None


def _secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """The docker-config keys of ``secret.data``, base64-decoded, each within the size cap."""
    raw = secret.get("data") or {}
    if not isinstance(raw, Mapping):
        raise RegistryCredentialsError("secret data is not a map")
    out: dict[str, bytes] = {}
    for key in (DOCKER_CONFIG_JSON_KEY, DOCKERCFG_KEY):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise RegistryCredentialsError(f"secret data {key} is not a base64 string")
        # Checked before decoding: base64 is 4/3 the size of what it holds.
        if len(value) // 4 * 3 > MAX_DOCKER_CONFIG_BYTES:
            raise RegistryCredentialsError(_too_large(key, len(value) // 4 * 3))
        try:
            out[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise RegistryCredentialsError(f"secret data {key} is not valid base64") from None
    return out


# --- pkg/secretutils/dockerconfig.go -------------------------------------------------------


def registry_host(image_url: str) -> str:
    """The registry of an ``oci://`` URL: everything before the first ``/`` after the scheme
    (``extractRegistryHost``; a port stays, the prefix is case-sensitive)."""
    if not image_url.startswith("oci://"):
        raise RegistryCredentialsError(f"image URL does not have oci:// scheme: {image_url}")
    host = image_url.removeprefix("oci://").split("/", 1)[0]
    if not host:
        raise RegistryCredentialsError(f"failed to extract hostname from image URL: {image_url}")
    return host


def extract_registry_credentials(data: Mapping[str, bytes], image_url: str) -> str:
    """Base64 ``username:password`` for ``image_url``'s registry from decoded Secret data.

    ``.dockerconfigjson`` wins over ``.dockercfg``. Docker Hub names (``docker.io``,
    ``index.docker.io``, ``registry-1.docker.io``) are looked up under
    ``https://index.docker.io/v1/`` as ``dockercfg.ResolveRegistryHost`` does; every other
    registry must match its ``auths`` key exactly (``host`` or ``host:port``). Credential
    helpers cannot run inside the operator: a registry routed to one has no credential.
    """
    try:
        host = registry_host(image_url)
    except RegistryCredentialsError as exc:
        raise RegistryCredentialsError(
            f"failed to extract registry host from image URL: {exc}"
        ) from None
    if DOCKER_CONFIG_JSON_KEY in data:
        try:
            config = _parse_config(data[DOCKER_CONFIG_JSON_KEY], DOCKER_CONFIG_JSON_KEY)
        except RegistryCredentialsError as exc:
            raise RegistryCredentialsError(f"failed to parse dockerconfigjson: {exc}") from None
    elif DOCKERCFG_KEY in data:
        try:
            config = {"auths": _parse_auths(data[DOCKERCFG_KEY], DOCKERCFG_KEY)}
        except RegistryCredentialsError as exc:
            raise RegistryCredentialsError(f"failed to parse dockercfg: {exc}") from None
    else:
        raise RegistryCredentialsError(
            f"secret does not contain {DOCKER_CONFIG_JSON_KEY} or {DOCKERCFG_KEY} key"
        )
    resolved = _DOCKER_HUB if host in _DOCKER_HUB_ALIASES else host
    try:
        username, password = _registry_credentials(config, resolved)
    except RegistryCredentialsError as exc:
        raise RegistryCredentialsError(
            f"failed to get credentials for registry {host}: {exc}"
        ) from None
    if not username and not password:
        raise RegistryCredentialsError(f"registry {host} not found in auth config")
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _registry_credentials(config: Mapping[str, Any], hostname: str) -> tuple[str, str]:
    """``dockercfg.Config.GetRegistryCredentials`` without running helper programs.

    A helper named for the registry (``credHelpers``) is all upstream consults, and in the
    operator's container it is never installed, so it yields nothing; a ``credsStore``
    yields nothing either and the ``auths`` entry is used.
    """
    if hostname in config.get("credHelpers", {}):
        return "", ""
    auth = config.get("auths", {}).get(hostname)
    if auth is None:
        return "", ""
    if auth.get("identitytoken"):
        return "", auth["identitytoken"]
    if auth.get("username") and auth.get("password"):
        return auth["username"], auth["password"]
    return _decode_base64_auth(auth.get("auth", ""))


def _decode_base64_auth(value: str) -> tuple[str, str]:
    """``dockercfg.DecodeBase64Auth``: ``user:pass`` from the legacy ``auth`` field."""
    if not value:
        return "", ""
    decoded = _go_base64_decode(value).decode("utf-8", "replace")
    user, colon, password = decoded.partition(":")
    if not colon:
        raise RegistryCredentialsError('invalid auth: missing ":" separator')
    return user, password


_B64_ALPHABET: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)


def _go_base64_decode(text: str) -> bytes:
    """``base64.StdEncoding.DecodeString`` with its ``illegal base64 data at input byte N``
    offsets (``encoding/base64 decodeQuantum``); CR and LF are skipped as Go skips them."""
    src = text.encode("utf-8", "surrogateescape")
    kept = bytearray()
    i, n = 0, len(src)
    while i < n:
        quantum = 0
        while quantum < 4:
            if i == n:
                if quantum == 0:
                    return _b64(kept)
                raise RegistryCredentialsError(_illegal(i - quantum))
            c = src[i]
            i += 1
            if c in _B64_ALPHABET:
                kept.append(c)
                quantum += 1
            elif c in b"\r\n":
                continue
            elif c != ord("=") or quantum < 2:
                raise RegistryCredentialsError(_illegal(i - 1))
            else:
                return _b64_padding_tail(src, i, quantum, kept)
    return _b64(kept)


def _b64_padding_tail(src: bytes, i: int, quantum: int, kept: bytearray) -> bytes:
    """The end of ``decodeQuantum`` once a ``=`` was read at position ``i - 1``."""
    n = len(src)
    if quantum == 2:
        while i < n and src[i] in b"\r\n":
            i += 1
        if i == n:
            raise RegistryCredentialsError(_illegal(n))
        if src[i] != ord("="):
            raise RegistryCredentialsError(_illegal(i - 1))
        i += 1
    while i < n and src[i] in b"\r\n":
        i += 1
    if i < n:
        raise RegistryCredentialsError(_illegal(i))
    kept.extend(b"=" * (4 - quantum))
    return _b64(kept)


def _b64(data: bytearray) -> bytes:
    return base64.b64decode(bytes(data), validate=True)


def _illegal(offset: int) -> str:
    return f"decode auth: illegal base64 data at input byte {offset}"


# --- bounded JSON decoding with encoding/json's type errors --------------------------------


def _too_large(what: str, size: int) -> str:
    return (
        f"{what} is {size} bytes, more than the {MAX_DOCKER_CONFIG_BYTES} allowed: "
        "keep only the registries this image needs"
    )


def _check_depth(text: str, what: str) -> None:
    """Reject nesting deeper than the format can have before Python's recursive decoder
    sees it; brackets inside strings do not count."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            if depth > MAX_DOCKER_CONFIG_DEPTH:
                raise RegistryCredentialsError(
                    f"{what} nests deeper than {MAX_DOCKER_CONFIG_DEPTH} levels"
                )
        elif ch in "}]":
            depth -= 1


def _load_json(raw: bytes, what: str) -> Any:
    if len(raw) > MAX_DOCKER_CONFIG_BYTES:
        raise RegistryCredentialsError(_too_large(what, len(raw)))
    # Go replaces invalid UTF-8 with U+FFFD rather than failing.
    text = raw.decode("utf-8", "replace")
    _check_depth(text, what)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        # The message up to any quoted detail, and the position: never the document.
        reason = exc.msg.split(":", 1)[0].removesuffix(" at")
        raise RegistryCredentialsError(
            f"invalid JSON: {reason} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError:
        raise RegistryCredentialsError("invalid JSON: NaN and Infinity are not JSON") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _mismatch(value: Any, where: str, go_type: str) -> RegistryCredentialsError:
    into = f"Go struct field {where}" if where else "Go value"
    return RegistryCredentialsError(
        f"json: cannot unmarshal {_json_kind(value)} into {into} of type {go_type}"
    )


def _field(keys: dict[str, Any], name: str) -> Any:
    """A struct field's value as ``encoding/json`` picks it: the last key equal to ``name``
    ignoring case (an exact key and a case variant compete by position, as in Go)."""
    found = None
    for key, value in keys.items():
        if key.lower() == name.lower():
            found = value
    return found


def _parse_auths(raw: bytes, what: str) -> dict[str, dict[str, str]]:
    """A ``.dockercfg`` document: a map of registry to ``dockercfg.AuthConfig``."""
    doc = _load_json(raw, what)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise _mismatch(doc, "", _AUTHS_TYPE)
    return _auth_map(doc, "")


def _parse_config(raw: bytes, what: str) -> dict[str, Any]:
    """A ``.dockerconfigjson`` document as a ``dockercfg.Config`` (the fields in use)."""
    doc = _load_json(raw, what)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise _mismatch(doc, "", "dockercfg.Config")
    config: dict[str, Any] = {}
    for name, kind in _CONFIG_FIELDS.items():
        value = _field(doc, name)
        if value is None:
            continue
        where = f"Config.{name}"
        if kind == "str":
            if not isinstance(value, str):
                raise _mismatch(value, where, "string")
            config[name] = value
        elif kind == "strmap":
            if not isinstance(value, dict):
                raise _mismatch(value, where, "map[string]string")
            bad = next((v for v in value.values() if not isinstance(v, str | None)), None)
            if bad is not None:
                raise _mismatch(bad, where, "string")
            config[name] = {k: v or "" for k, v in value.items()}
        else:
            if not isinstance(value, dict):
                raise _mismatch(value, where, _AUTHS_TYPE)
            config[name] = _auth_map(value, name)
    return config


def _auth_map(value: dict[str, Any], path: str) -> dict[str, dict[str, str]]:
    auths: dict[str, dict[str, str]] = {}
    for registry, entry in value.items():
        if entry is None:
            auths[registry] = {}
            continue
        if not isinstance(entry, dict):
            where = f"Config.{path}" if path else ""
            raise _mismatch(entry, where, _AUTH_CONFIG_TYPE)
        fields: dict[str, str] = {}
        for name in _AUTH_FIELDS:
            field_value = _field(entry, name)
            if field_value is None:
                continue
            if not isinstance(field_value, str):
                where = f"AuthConfig.{path}.{name}" if path else f"AuthConfig.{name}"
                raise _mismatch(field_value, where, "string")
            fields[name] = field_value
        auths[registry] = fields
    return auths
