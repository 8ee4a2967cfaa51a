"""The TLS settings bmo's servers (webhook, metrics) share, from the Go operator's flags.

Upstream ``main.go`` ``GetTLSOptionOverrideFuncs`` turns ``-tls-min-version``,
``-tls-max-version`` and ``-tls-cipher-suites`` (Go cipher suite names, checked by
``k8s.io/component-base/cli/flag`` ``TLSCipherSuites``) into ``tls.Config`` overrides; the
``-tls-curve-preferences`` flag of newer releases names Go curve IDs. Python's ``ssl`` is
OpenSSL underneath, so each Go name is mapped to its OpenSSL name and applied with
``set_ciphers`` / ``set_ecdh_curve``. What cannot be honoured is refused with an error naming
the flag - never silently ignored, because an operator who restricted ciphers for a
compliance reason must not believe a restriction that is not in force.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Final

__all__ = ["GO_CIPHER_SUITES", "GO_CURVES", "TLSPolicy", "TLSPolicyError", "parse_list"]


class TLSPolicyError(ValueError):
    """A TLS flag names something bmo cannot enforce."""


GO_CIPHER_SUITES: Final[dict[str, str]] = {
    # TLS 1.2 suites Go (crypto/tls) and component-base know, by Go name -> OpenSSL name.
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
}
"""Go cipher suite name -> OpenSSL name (TLS 1.2)."""

GO_TLS13_SUITES: Final = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)
"""Accepted by component-base but not configurable in Go (always on with TLS 1.3); the same
holds in OpenSSL through Python's ``ssl``, so naming them changes nothing either way."""

GO_CURVES: Final[dict[str, str]] = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "P256": "prime256v1",
    "P384": "secp384r1",
    "P521": "secp521r1",
}
"""Go ``tls.CurveID`` names Python's ``ssl.SSLContext.set_ecdh_curve`` can enforce."""


def parse_list(raw: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``; ``None`` or empty -> ``()``."""
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


@dataclass(frozen=True)
class TLSPolicy:
    """Versions, TLS 1.2 cipher suites and the key exchange curve a server enforces."""

    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    cipher_suites: tuple[str, ...] = ()
    curve_preferences: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [
            c for c in self.cipher_suites if c not in GO_CIPHER_SUITES and c not in GO_TLS13_SUITES
        ]
        if unknown:
            raise TLSPolicyError(
                f"--tls-cipher-suites: {', '.join(unknown)} not supported; use Go cipher suite "
                f"names such as {', '.join(list(GO_CIPHER_SUITES)[:4])}"
            )
        unknown = [c for c in self.curve_preferences if c not in GO_CURVES]
        if unknown:
            raise TLSPolicyError(
                f"--tls-curve-preferences: {', '.join(unknown)} cannot be enforced by bmo "
                f"(Python's ssl sets NIST curves only); use one of "
                f"{', '.join(sorted({k for k in GO_CURVES if k.startswith('Curve')}))}"
            )
        if len(self.curve_preferences) > 1:
            raise TLSPolicyError(
                "--tls-curve-preferences: bmo can enforce exactly one curve (Python's ssl "
                f"sets a single ECDH curve), got {len(self.curve_preferences)}: "
                f"{', '.join(self.curve_preferences)}"
            )

    @property
    def openssl_ciphers(self) -> str:
        """The OpenSSL cipher string for the TLS 1.2 suites named ('' when none)."""
        names = [GO_CIPHER_SUITES[c] for c in self.cipher_suites if c in GO_CIPHER_SUITES]
        return ":".join(dict.fromkeys(names))

    def apply(self, context: ssl.SSLContext) -> ssl.SSLContext:
        """Enforce the policy on a server context (returned for chaining)."""
        context.minimum_version = self.min_version
        context.maximum_version = self.max_version
        ciphers = self.openssl_ciphers
        # Upstream GetTLSOptionOverrideFuncs: suites do not apply when TLS 1.3 is the
        # minimum (1.3 suites are fixed); with a 1.2 minimum they restrict 1.2 handshakes.
        if ciphers and self.min_version < ssl.TLSVersion.TLSv1_3:
            context.set_ciphers(ciphers)
        if self.curve_preferences:
            context.set_ecdh_curve(GO_CURVES[self.curve_preferences[0]])
        return context
