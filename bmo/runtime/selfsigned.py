"""A self-signed serving certificate for the metrics endpoint, made in memory at start.

controller-runtime's ``pkg/metrics/server/server.go`` does the same when ``SecureServing``
is on and no ``CertDir`` is given: the scrape is encrypted and authenticated by bearer token
(see :mod:`bmo.runtime.authfilter`); Prometheus is told to skip verifying this certificate
(the ServiceMonitor's ``insecureSkipVerify``), as with upstream's default manifests.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bmo.tlspolicy import TLSPolicy

__all__ = ["self_signed_context"]


def self_signed_context(
    common_name: str = "bmo-metrics", policy: TLSPolicy | None = None
) -> ssl.SSLContext:
    """A server context holding a fresh P-256 key and a one-year self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName(common_name),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    (policy or TLSPolicy()).apply(context)
    context.set_alpn_protocols(["http/1.1"])
    # load_cert_chain reads files only: write both to a private temporary file, load, delete.
    fd, path = tempfile.mkstemp(prefix="bmo-metrics-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
    return context
