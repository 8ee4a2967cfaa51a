"""The probe and metrics endpoints are bounded like the webhook: silent connections hold no
thread, a slow sender is cut at the request deadline, a vanishing client logs no traceback."""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from bmo.httpgate import GateLimits
from bmo.runtime.health import Checks, HttpEndpoint


@pytest.fixture
def endpoint() -> Iterator[HttpEndpoint]:
    checks = Checks("healthz")
    checks.add("ping", lambda: True)
    ep = HttpEndpoint(
        "127.0.0.1",
        0,
        {"/healthz": checks.route},
        name="health",
        limits=GateLimits(max_active=3, first_byte_timeout=30, request_timeout=1.5),
    )
    ep.start()
    try:
        yield ep
    finally:
        ep.stop()


def get(ep: HttpEndpoint, path: str = "/healthz") -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{ep.port}{path}", timeout=10) as resp:
        return resp.status, resp.read()


def test_silent_connections_hold_no_thread_and_probes_still_answer(
    endpoint: HttpEndpoint,
) -> None:
    before = threading.active_count()
    silent = [socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) for _ in range(60)]
    try:
        assert get(endpoint) == (200, b"ok\n")
        assert threading.active_count() - before <= 3 + 1, threading.enumerate()
    finally:
        for s in silent:
            s.close()


def test_a_slow_sender_is_cut_at_the_request_deadline(endpoint: HttpEndpoint) -> None:
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        cut = None
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"a")
            except OSError:
                cut = time.monotonic() - started
                break
            time.sleep(0.2)
        assert cut is not None, "a trickling client was never cut"
        assert cut < 1.5 + 1.5, cut


def test_a_client_vanishing_mid_request_logs_no_traceback(
    endpoint: HttpEndpoint, capfd: pytest.CaptureFixture[str]
) -> None:
    with capture_logs() as logs:
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n\r\n" * 50)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST before the answer is written
        assert get(endpoint)[0] == 200
    assert "Traceback" not in capfd.readouterr().err
    assert not [e for e in logs if e.get("log_level") in ("error", "exception", "critical")]
