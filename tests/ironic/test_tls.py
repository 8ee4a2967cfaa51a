"""TLS settings against a real HTTPS server on 127.0.0.1 (certificates made per test run).

The server serves Ironic's version document and ``/v1/drivers`` only, which is all
``IronicClient.ready()`` needs; its certificate names ``ironic.invalid``, not 127.0.0.1, so
hostname checking must fail unless ``IRONIC_SKIP_CLIENT_SAN_VERIFY`` is set.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig, TLSConfig
from bmo.ironic.errors import IronicUnavailable, NotReady
from bmo.ironic.retry import RetryPolicy
from tests.ironic.conftest import version_doc


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> str:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def _write_cert(cert: x509.Certificate, path: Path) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _issue(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server_dns: str | None = None,
    client: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if server_dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(server_dns)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if client:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _issue("bmo test CA", ca_key, None, ca_key, ca=True)
    server_key, client_key = _key(), _key()
    server = _issue("ironic", server_key, ca, ca_key, server_dns="ironic.invalid")
    client = _issue("bmo", client_key, ca, ca_key, client=True)
    return Pki(
        ca=_write_cert(ca, d / "ca.crt"),
        server_cert=_write_cert(server, d / "server.crt"),
        server_key=_write_key(server_key, d / "server.key"),
        client_cert=_write_cert(client, d / "client.crt"),
        client_key=_write_key(client_key, d / "client.key"),
    )


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1":
            body = version_doc()
        elif self.path == "/v1/drivers":
            body = {"drivers": [{"name": "fake-hardware"}]}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(pki: Pki, *, require_client_cert: bool) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.load_verify_locations(pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def https_url(pki: Pki) -> Iterator[str]:
    yield from _serve(pki, require_client_cert=False)


@pytest.fixture
def mtls_url(pki: Pki) -> Iterator[str]:
    yield from _serve(pki, require_client_cert=True)


def client_for(url: str, tls: TLSConfig) -> IronicClient:
    config = IronicConfig(endpoint=url, tls=tls, timeout=10.0)
    return IronicClient(config, retry_policy=RetryPolicy(attempts=1))


def test_hostname_mismatch_fails_by_default(https_url: str, pki: Pki) -> None:
    client = client_for(https_url, TLSConfig(ca_file=pki.ca))
    with pytest.raises(NotReady, match="TLS error") as info:
        client.ensure_ready()
    assert isinstance(info.value.__cause__, IronicUnavailable)


def test_unknown_ca_fails(https_url: str) -> None:
    with pytest.raises(NotReady, match="TLS error"):
        client_for(https_url, TLSConfig(skip_client_san_verify=True)).ensure_ready()


def test_skip_san_verify_still_checks_the_chain(https_url: str, pki: Pki) -> None:
    client = client_for(https_url, TLSConfig(ca_file=pki.ca, skip_client_san_verify=True))
    client.ensure_ready()
    assert client.microversion == "1.110"


def test_insecure(https_url: str) -> None:
    client_for(https_url, TLSConfig(insecure=True)).ensure_ready()


def test_mutual_tls(mtls_url: str, pki: Pki) -> None:
    with_cert = TLSConfig(
        ca_file=pki.ca,
        client_cert_file=pki.client_cert,
        client_key_file=pki.client_key,
        skip_client_san_verify=True,
    )
    client_for(mtls_url, with_cert).ensure_ready()
    without = TLSConfig(ca_file=pki.ca, skip_client_san_verify=True)
    assert client_for(mtls_url, without).ready() is False
