"""The counting / outage proxy itself, in front of a stand-in upstream (no Ironic needed)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from testenv.ironic_proxy import IronicProxy, ProxyError, _peak, path_template

UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"


class _Upstream(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status = 202 if self.command == "PUT" else 200
        payload = json.dumps({"path": self.path, "echo": body.decode()}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _answer


@pytest.fixture
def proxy() -> Iterator[IronicProxy]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        with IronicProxy(f"http://127.0.0.1:{upstream.server_address[1]}") as running:
            yield running
    finally:
        upstream.shutdown()
        upstream.server_close()
        thread.join(5)


def _call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_templates_hide_identifiers() -> None:
    assert path_template(f"/v1/nodes/{UUID}/states/provision") == (
        "/v1/nodes/*/states/provision",
        UUID,
    )
    assert path_template("/v1/nodes/ns~host?fields=uuid") == ("/v1/nodes/*", "ns~host")
    assert path_template("/v1/nodes/detail") == ("/v1/nodes/detail", None)
    assert path_template(f"/v1/ports/{UUID}") == ("/v1/ports/*", None)
    assert path_template("/v1/nodes") == ("/v1/nodes", None)


def test_peak_is_the_busiest_window() -> None:
    assert _peak([], 1.0) == 0
    assert _peak([0.0, 0.5, 0.9, 1.0, 1.95], 1.0) == 3
    assert _peak([0.0, 2.0, 4.0], 1.0) == 1


def test_counts_by_method_template_and_target(proxy: IronicProxy) -> None:
    status, answer = _call(f"{proxy.url}/v1/nodes/{UUID}")
    assert status == 200 and answer["path"] == f"/v1/nodes/{UUID}"
    url = f"{proxy.url}/v1/nodes/{UUID}/states/provision"
    assert _call(url, "PUT", {"target": "active"})[0] == 202
    assert _call(url, "PUT", {"target": "active"})[1]["echo"] == '{"target": "active"}'
    assert _call(url, "PUT", {"target": "adopt"})[0] == 202
    assert proxy.counts()[("PUT", "/v1/nodes/*/states/provision", "active")] == 2
    assert proxy.deploys() == {UUID: 2}
    assert proxy.provision_targets("adopt") == {UUID: 1}
    assert proxy.count(method="GET", nodes=[UUID]) == 1
    assert proxy.peak_rate() == 4
    proxy.reset()
    assert proxy.requests() == []


def test_injected_503_and_node_locked(proxy: IronicProxy) -> None:
    proxy.fail(503)
    status, answer = _call(f"{proxy.url}/v1/nodes")
    assert status == 503 and "faultstring" in answer["error_message"]
    proxy.restore()
    assert _call(f"{proxy.url}/v1/nodes")[0] == 200

    proxy.lock_nodes([UUID], times=1)
    url = f"{proxy.url}/v1/nodes/{UUID}/states/provision"
    status, answer = _call(url, "PUT", {"target": "active"})
    assert status == 409 and "is locked by host" in answer["error_message"]
    assert _call(f"{proxy.url}/v1/nodes/{UUID}")[0] == 200, "reads are never locked"
    assert _call(url, "PUT", {"target": "active"})[0] == 202, "only once"
    assert [r.status for r in proxy.requests() if r.method == "PUT"] == [409, 202]


def test_refuse_and_drop_then_restore(proxy: IronicProxy) -> None:
    port = proxy.port
    proxy.refuse()
    with pytest.raises(urllib.error.URLError) as refused:
        _call(f"http://127.0.0.1:{port}/v1/nodes")
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    proxy.restore()
    assert proxy.port == port
    assert _call(f"{proxy.url}/v1/nodes")[0] == 200

    proxy.drop()
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        _call(f"{proxy.url}/v1/nodes")
    assert proxy.requests()[-1].status == 0, "dropped attempts are counted"
    proxy.restore()
    assert _call(f"{proxy.url}/v1/nodes")[0] == 200


def test_control_endpoints(proxy: IronicProxy) -> None:
    assert _call(f"{proxy.url}/_proxy/fail?status=502", "POST", {})[0] == 200
    assert _call(f"{proxy.url}/v1/nodes")[0] == 502
    assert _call(f"{proxy.url}/_proxy/restore", "POST", {})[0] == 200
    status, stats = _call(f"{proxy.url}/_proxy/stats")
    assert status == 200 and stats["requests"] == 1
    assert _call(f"{proxy.url}/_proxy/nope", "POST", {})[0] == 404


def test_upstream_must_be_loopback_http() -> None:
    with pytest.raises(ProxyError):
        IronicProxy("http://192.0.2.1:6385")
    with pytest.raises(ProxyError):
        IronicProxy("https://127.0.0.1:6385")
