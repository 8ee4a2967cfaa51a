"""Ironic connection settings, read once from the environment.

Mirrors upstream ``pkg/provisioner/ironic/factory.go`` (``loadConfigFromEnv``,
``loadEndpointsFromEnv``, ``loadTLSConfigFromEnv``) and ``clients/auth.go`` (``LoadAuth``).

The variable names, defaults and file locations are those of the Go baremetal-operator so a
deployment's ConfigMap and mounted secrets work unchanged. Everything is resolved here —
files read, durations parsed, TLS files checked — so later code never touches ``os.environ``
or the filesystem for configuration, and a bad value fails at start-up naming the variable.

Endpoint form: ``IRONIC_ENDPOINT`` is conventionally ``http://host:6385/v1/``. openstacksdk
(through keystoneauth version discovery) accepts the root URL or the ``/v1`` URL with or
without the trailing slash and ends up at ``<root>/v1/`` either way, but with ``<root>/v1/``
it needs one discovery request instead of two (checked against openstacksdk 4.22). So
:attr:`IronicConfig.endpoint` is normalised to the root (no ``/v1``, no trailing slash) and
:attr:`IronicConfig.api_url` (``<root>/v1/``) is what the SDK is given.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from bmo.ironic.errors import IronicConfigError

__all__ = [
    "DEFAULT_AUTH_ROOT",
    "DEFAULT_CA_FILE",
    "DEFAULT_CLIENT_CERT_FILE",
    "DEFAULT_CLIENT_KEY_FILE",
    "BasicAuth",
    "ForcePersistentBootDevice",
    "IronicConfig",
    "IronicConfigError",
    "TLSConfig",
    "parse_duration",
]

DEFAULT_AUTH_ROOT = "/opt/metal3/auth"
DEFAULT_CA_FILE = "/opt/metal3/certs/ca/tls.crt"
DEFAULT_CLIENT_CERT_FILE = "/opt/metal3/certs/client/tls.crt"
DEFAULT_CLIENT_KEY_FILE = "/opt/metal3/certs/client/tls.key"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CACHE_TTL = 5.0
DEFAULT_PROVISIONING_LIMIT = 20


class ForcePersistentBootDevice(StrEnum):
    """Values of ``*_FORCE_PERSISTENT_BOOT_DEVICE`` (driver_info key of the same meaning)."""

    DEFAULT = "Default"
    ALWAYS = "Always"
    NEVER = "Never"


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic credentials for Ironic; the password never appears in ``repr``."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class TLSConfig:
    """TLS settings; file fields are ``None`` when the file does not exist (Go BMO ignores them)."""

    ca_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    insecure: bool = False
    skip_client_san_verify: bool = False

    @property
    def mutual(self) -> bool:
        """A client certificate is only presented when both halves exist."""
        return self.client_cert_file is not None and self.client_key_file is not None


@dataclass(frozen=True)
class IronicConfig:
    """Everything needed to talk to Ironic and to fill in node fields from the environment."""

    endpoint: str
    auth: BasicAuth | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)
    timeout: float = DEFAULT_TIMEOUT
    cache_ttl: float = DEFAULT_CACHE_TTL
    provisioning_limit: int = DEFAULT_PROVISIONING_LIMIT
    deploy_kernel_url: str | None = None
    deploy_ramdisk_url: str | None = None
    deploy_iso_url: str | None = None
    live_iso_force_persistent_boot_device: ForcePersistentBootDevice = (
        ForcePersistentBootDevice.DEFAULT
    )
    direct_deploy_force_persistent_boot_device: ForcePersistentBootDevice = (
        ForcePersistentBootDevice.DEFAULT
    )
    external_url_v6: str | None = None
    provisioning_network_disabled: bool = False

    @property
    def api_url(self) -> str:
        """The versioned API root handed to openstacksdk (see the module docstring)."""
        return self.endpoint + "/v1/"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, preprov_image_builder: bool = False
    ) -> IronicConfig:
        """Build from an environment mapping (pass ``os.environ`` at the edge, dicts in tests).

        ``preprov_image_builder``: with the PreprovisioningImage builder enabled a kernel URL
        alone is allowed (the ramdisk comes from the built image), as in the Go operator.
        """
        endpoint = _endpoint(environ)
        auth_root = _get(environ, "METAL3_AUTH_ROOT_DIR") or DEFAULT_AUTH_ROOT
        tls = TLSConfig(
            ca_file=_ca_file(environ),
            client_cert_file=_existing_file(
                environ, "IRONIC_CLIENT_CERT_FILE", DEFAULT_CLIENT_CERT_FILE
            ),
            client_key_file=_existing_file(
                environ, "IRONIC_CLIENT_PRIVATE_KEY_FILE", DEFAULT_CLIENT_KEY_FILE
            ),
            insecure=_bool(environ, "IRONIC_INSECURE"),
            skip_client_san_verify=_bool(environ, "IRONIC_SKIP_CLIENT_SAN_VERIFY"),
        )
        if not tls.mutual:
            tls = TLSConfig(
                ca_file=tls.ca_file,
                insecure=tls.insecure,
                skip_client_san_verify=tls.skip_client_san_verify,
            )
        kernel = _get(environ, "DEPLOY_KERNEL_URL")
        ramdisk = _get(environ, "DEPLOY_RAMDISK_URL")
        if ramdisk and not kernel:
            raise IronicConfigError(
                "DEPLOY_RAMDISK_URL is set but DEPLOY_KERNEL_URL is not: set DEPLOY_KERNEL_URL "
                "to the deploy kernel, or unset DEPLOY_RAMDISK_URL"
            )
        if kernel and not ramdisk and not preprov_image_builder:
            raise IronicConfigError(
                "DEPLOY_KERNEL_URL is set but DEPLOY_RAMDISK_URL is not: set both (or neither)"
            )
        return cls(
            endpoint=endpoint,
            auth=_auth(auth_root),
            tls=tls,
            timeout=_duration(environ, "IRONIC_CLIENT_TIMEOUT", DEFAULT_TIMEOUT, positive=True),
            cache_ttl=_duration(environ, "IRONIC_CLIENT_CACHE_TTL", DEFAULT_CACHE_TTL),
            provisioning_limit=_positive_int(
                environ, "PROVISIONING_LIMIT", DEFAULT_PROVISIONING_LIMIT
            ),
            deploy_kernel_url=_url(environ, "DEPLOY_KERNEL_URL"),
            deploy_ramdisk_url=_url(environ, "DEPLOY_RAMDISK_URL"),
            deploy_iso_url=_url(environ, "DEPLOY_ISO_URL"),
            live_iso_force_persistent_boot_device=_force_boot(
                environ, "LIVE_ISO_FORCE_PERSISTENT_BOOT_DEVICE"
            ),
            direct_deploy_force_persistent_boot_device=_force_boot(
                environ, "DIRECT_DEPLOY_FORCE_PERSISTENT_BOOT_DEVICE"
            ),
            external_url_v6=_url(environ, "IRONIC_EXTERNAL_URL_V6"),
            provisioning_network_disabled=_bool(environ, "PROVISIONING_NETWORK_DISABLED"),
        )


def _get(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _endpoint(environ: Mapping[str, str]) -> str:
    raw = _get(environ, "IRONIC_ENDPOINT")
    if not raw:
        raise IronicConfigError(
            "IRONIC_ENDPOINT is not set: set it to Ironic's API URL, e.g. http://127.0.0.1:6385/v1/"
        )
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IronicConfigError(
            f"IRONIC_ENDPOINT={raw!r} is not an http(s) URL: use e.g. https://ironic.example:6385/v1/"
        )
    if parts.username is not None or parts.password is not None:
        # Do not echo the value: it holds a password.
        raise IronicConfigError(
            "IRONIC_ENDPOINT must not contain credentials: put them in "
            "$METAL3_AUTH_ROOT_DIR/ironic/username and .../password"
        )
    if parts.query or parts.fragment:
        raise IronicConfigError(
            f"IRONIC_ENDPOINT={raw!r} must not have a query or fragment: use the API URL only"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _auth(auth_root: str) -> BasicAuth | None:
    directory = Path(auth_root) / "ironic"
    if not directory.is_dir():
        return None
    values: dict[str, str] = {}
    for key in ("username", "password"):
        path = directory / key
        try:
            values[key] = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            values[key] = ""
        except OSError as exc:
            raise IronicConfigError(
                f"cannot read Ironic {key} file {path} (from METAL3_AUTH_ROOT_DIR): "
                f"{exc.strerror}; fix its permissions or remove {directory} to disable auth"
            ) from None
        if not values[key]:
            raise IronicConfigError(
                f"Ironic {key} file {path} is missing or empty (METAL3_AUTH_ROOT_DIR="
                f"{auth_root}): write the {key} there, or remove {directory} to use no auth"
            )
    return BasicAuth(username=values["username"], password=values["password"])


def _ca_file(environ: Mapping[str, str]) -> str | None:
    """The CA bundle: the default path only when it exists, but a path the operator set
    must exist - silently dropping it would trust the system CAs instead of the one meant
    (upstream ``clients/client.go`` ignores a missing file; bmo refuses to start)."""
    explicit = _get(environ, "IRONIC_CACERT_FILE")
    if not explicit:
        return _existing_file(environ, "IRONIC_CACERT_FILE", DEFAULT_CA_FILE)
    if not os.path.isfile(explicit):
        raise IronicConfigError(
            f"IRONIC_CACERT_FILE={explicit!r} does not exist or is not a file: mount the CA "
            "certificate there, or unset IRONIC_CACERT_FILE to use the default "
            f"{DEFAULT_CA_FILE} when present"
        )
    return explicit


def plaintext_credentials_warning(config: IronicConfig) -> str | None:
    """Why ``config`` sends HTTP basic credentials where anyone on the path can read them,
    or ``None``: credentials over ``http://`` travel in clear (base64 is no encryption)."""
    if config.auth is None or not config.endpoint.lower().startswith("http://"):
        return None
    return (
        f"HTTP basic credentials for Ironic are sent unencrypted to {config.endpoint}: "
        "anyone on the network path can read them; use an https:// IRONIC_ENDPOINT "
        "(with IRONIC_CACERT_FILE)"
    )


def _existing_file(environ: Mapping[str, str], name: str, default: str) -> str | None:
    path = _get(environ, name) or default
    return path if os.path.isfile(path) else None


def _bool(environ: Mapping[str, str], name: str) -> bool:
    """Go BMO compares ``strings.ToLower(v) == "true"``; anything else but false/empty is a typo."""
    value = _get(environ, name).lower()
    if value == "true":
        return True
    if value in ("", "false"):
        return False
    raise IronicConfigError(f'{name}={environ[name]!r} is not a boolean: use "true" or "false"')


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(environ, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise IronicConfigError(f"{name}={raw!r} must be a positive integer, e.g. {default}")
    return value


def _url(environ: Mapping[str, str], name: str) -> str | None:
    raw = _get(environ, name)
    if not raw:
        return None
    parts = urlsplit(raw)
    if not parts.scheme or not (parts.netloc or parts.scheme == "file"):
        raise IronicConfigError(f"{name}={raw!r} is not a URL: use e.g. http://host/path")
    return raw


def _force_boot(environ: Mapping[str, str], name: str) -> ForcePersistentBootDevice:
    raw = _get(environ, name)
    if not raw:
        return ForcePersistentBootDevice.DEFAULT
    for member in ForcePersistentBootDevice:
        if raw.lower() == member.value.lower():
            return member
    allowed = ", ".join(m.value for m in ForcePersistentBootDevice)
    raise IronicConfigError(f"{name}={raw!r} is not valid: use one of {allowed}")


def _duration(
    environ: Mapping[str, str], name: str, default: float, *, positive: bool = False
) -> float:
    raw = _get(environ, name)
    if not raw:
        return default
    try:
        value = parse_duration(raw)
    except ValueError as exc:
        raise IronicConfigError(f"{name}={raw!r}: {exc}") from None
    if positive and value <= 0:
        raise IronicConfigError(f"{name}={raw!r} must be greater than zero, e.g. 30s")
    return value


_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go accepts both micro signs
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_COMPONENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (``30s``, ``1m30s``, ``500ms``, ``1.5h``).

    A bare number means seconds, a friendly extension over Go's ``time.ParseDuration`` (which
    accepts a bare number only for ``0``). Negative durations are rejected: no setting here
    has a meaning for them.
    """
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if number < 0 or not math.isfinite(number):
            raise ValueError("must be a non-negative duration such as 30s, 1m30s or 500ms")
        return number
    if value.startswith("+"):
        value = value[1:]
    pos = 0
    total = 0.0
    while pos < len(value):
        match = _COMPONENT.match(value, pos)
        if match is None:
            raise ValueError(
                "not a duration: use a number with a unit (ns, us, ms, s, m, h), "
                "e.g. 30s, 1m30s or 500ms"
            )
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError("empty duration: use e.g. 30s")
    return total
