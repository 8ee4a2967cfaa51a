"""Fixtures for the webhook tests: a CA per session, a fresh certificate directory and a
running server per test (on 127.0.0.1, a free port), and a client that verifies the
server against the CA."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bmo.webhook import BAREMETALHOST_PATH, WebhookConfig, WebhookServer
from tests.webhook.certs import TestCA, install


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    return TestCA()


@pytest.fixture
def cert_dir(tmp_path: Path, test_ca: TestCA) -> Path:
    directory = tmp_path / "serving-certs"
    install(test_ca.issue(), directory)
    return directory


@pytest.fixture
def client_context(test_ca: TestCA) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=test_ca.pem.decode())
    return context


@pytest.fixture
def webhook(cert_dir: Path) -> Iterator[WebhookServer]:
    server = WebhookServer(WebhookConfig(host="127.0.0.1", port=0, cert_dir=str(cert_dir)))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Client:
    """One HTTPS connection to the webhook (kept alive across calls)."""

    def __init__(self, server: WebhookServer, context: ssl.SSLContext) -> None:
        self.connection = http.client.HTTPSConnection(
            server.host, server.port, context=context, timeout=10
        )

    def post(
        self,
        body: bytes | dict[str, Any],
        *,
        path: str = BAREMETALHOST_PATH,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, Any]]:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        self.connection.request("POST", path, body=raw, headers={"Content-Type": content_type})
        response = self.connection.getresponse()
        data = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(data)
        return response.status, {"text": data.decode()}

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def client(webhook: WebhookServer, client_context: ssl.SSLContext) -> Iterator[Client]:
    c = Client(webhook, client_context)
    try:
        yield c
    finally:
        c.close()
