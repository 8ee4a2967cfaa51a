"""The webhook server's settings and the flags that set them.

Flag names and defaults are the Go operator's (``main.go``) and controller-runtime's
(``pkg/webhook/server.go Options``):
``--tls-min-version`` / ``--tls-max-version`` take ``TLS12`` or ``TLS13``; the certificate
directory defaults to controller-runtime's ``/tmp/k8s-webhook-server/serving-certs`` holding
``tls.crt`` and ``tls.key``, where the Deployment mounts cert-manager's Secret.
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bmo.api.secretpolicy import CredentialsSecretPolicy
from bmo.webhook.errors import WebhookConfigError

DEFAULT_PORT = 9443
DEFAULT_CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"
CERT_NAME = "tls.crt"
KEY_NAME = "tls.key"
BAREMETALHOST_PATH = "/validate-metal3-io-v1alpha1-baremetalhost"
DATAIMAGE_PATH = "/validate-metal3-io-v1alpha1-dataimage"
BMCEVENTSUBSCRIPTION_PATH = "/validate-metal3-io-v1alpha1-bmceventsubscription"

WEBHOOK_PATHS: dict[str, str] = {
    BAREMETALHOST_PATH: "BareMetalHost",
    DATAIMAGE_PATH: "DataImage",
    BMCEVENTSUBSCRIPTION_PATH: "BMCEventSubscription",
}
"""Each path controller-runtime's ``builder.WebhookManagedBy`` derives (``/validate-`` +
group with dots as dashes + version + lower-case kind) and the kind validated there."""

TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
"""The Go operator accepts exactly these; older protocols are not offered at all."""


SecretLabels = Callable[[str, str], Mapping[str, str] | None]
"""The labels of Secret ``(namespace, name)``, ``None`` when it does not exist. The webhook
has no Kubernetes client: ``bmo run`` injects one fed from a Secret cache."""


HostLookup = Callable[[str, str], bool | None]
"""Whether BareMetalHost ``(namespace, name)`` exists: ``True``, ``False``, or ``None`` when
that cannot be told (the lookup failed). The BMCEventSubscription webhook refuses a new
subscription only on ``False``; ``bmo run`` injects one fed from its BareMetalHost cache."""


@dataclass(frozen=True)
class CredentialsCheck:
    """bmo's opt-in credentials policy and how to read a Secret's labels (see
    :mod:`bmo.api.secretpolicy` for the threat it closes)."""

    policy: CredentialsSecretPolicy
    labels: SecretLabels


@dataclass(frozen=True)
class WebhookConfig:
    """How the webhook server listens and what it serves.

    ``host`` empty means every interface (IPv6 and IPv4 where the system allows both), like
    Go's ``:9443``. ``idle_timeout`` bounds how long a kept-alive connection may sit unused.
    """

    port: int = DEFAULT_PORT
    host: str = ""
    cert_dir: str = DEFAULT_CERT_DIR
    cert_name: str = CERT_NAME
    key_name: str = KEY_NAME
    tls_min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    tls_max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    allow_development: bool = False
    idle_timeout: float = 60.0
    credentials: CredentialsCheck | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise WebhookConfigError(
                f"webhook port {self.port} is out of range: use 1-65535 (0 picks a free port)"
            )
        if self.tls_min_version > self.tls_max_version:
            raise WebhookConfigError(
                f"--tls-min-version {_flag_name(self.tls_min_version)} is above "
                f"--tls-max-version {_flag_name(self.tls_max_version)}: lower the minimum "
                "or raise the maximum"
            )


def parse_tls_version(value: str, flag: str) -> ssl.TLSVersion:
    """``TLS12`` -> ``ssl.TLSVersion.TLSv1_2``; anything else is a :class:`WebhookConfigError`."""
    try:
        return TLS_VERSIONS[value.strip().upper()]
    except KeyError:
        raise WebhookConfigError(
            f"{flag} {value!r} is not supported: use one of {', '.join(TLS_VERSIONS)}"
        ) from None


def _flag_name(version: ssl.TLSVersion) -> str:
    for name, candidate in TLS_VERSIONS.items():
        if candidate == version:
            return name
    return version.name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--webhook-cert-dir``, ``--tls-min-version`` and ``--tls-max-version``.

    Defaults are ``None`` so :func:`from_args` owns the effective defaults.
    """
    parser.add_argument(
        "--webhook-cert-dir",
        help=f"directory holding the webhook's {CERT_NAME} and {KEY_NAME}, re-read when they "
        f"change (default: {DEFAULT_CERT_DIR})",
    )
    parser.add_argument(
        "--tls-min-version",
        help="minimum TLS version of the webhook server: TLS12 or TLS13 (default: TLS12)",
    )
    parser.add_argument(
        "--tls-max-version",
        help="maximum TLS version of the webhook server: TLS12 or TLS13 (default: TLS13)",
    )


def from_args(
    args: argparse.Namespace, *, port: int, allow_development: bool = False
) -> WebhookConfig:
    """Build the config from flags added by :func:`add_arguments`; raises
    :class:`WebhookConfigError` naming the offending flag."""
    cert_dir = getattr(args, "webhook_cert_dir", None) or DEFAULT_CERT_DIR
    raw_min = getattr(args, "tls_min_version", None) or "TLS12"
    raw_max = getattr(args, "tls_max_version", None) or "TLS13"
    return WebhookConfig(
        port=port,
        cert_dir=cert_dir,
        tls_min_version=parse_tls_version(raw_min, "--tls-min-version"),
        tls_max_version=parse_tls_version(raw_max, "--tls-max-version"),
        allow_development=allow_development,
    )
