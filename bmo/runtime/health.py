"""Probe and metrics HTTP endpoints: ``/healthz``, ``/readyz`` and ``/metrics``.

``/healthz`` answers "is the process alive" (the kubelet restarts it otherwise), ``/readyz``
"should it get traffic" - only once every informer has synced and, when configured, extra
named checks (the webhook server) pass. Bodies follow the Kubernetes convention (``[+]name
ok`` / ``[-]name failed``) so ``?verbose`` output reads the same as the API server's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = structlog.get_logger(__name__)

Check = Callable[[], bool]
"""A named probe: True when healthy. Exceptions count as failures."""

Route = Callable[[str], tuple[int, str, bytes]]
"""Query string -> (status, content type, body)."""


class Checks:
    """An ordered, thread-safe set of named checks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        with self._lock:
            if name in self._checks:
                raise ValueError(f"check {name!r} already registered")
            self._checks[name] = check

    def run(self) -> tuple[bool, list[tuple[str, bool]]]:
        with self._lock:
            checks = list(self._checks.items())
        results: list[tuple[str, bool]] = []
        for name, check in checks:
            try:
                ok = bool(check())
            except Exception:
                log.exception("health check raised", check=name)
                ok = False
            results.append((name, ok))
        return all(ok for _, ok in results), results

    def route(self, query: str) -> tuple[int, str, bytes]:
        ok, results = self.run()
        lines = [
            f"[{'+' if good else '-'}]{name} {'ok' if good else 'failed'}" for name, good in results
        ]
        verbose = "verbose" in query
        if ok and not verbose:
            body = "ok\n"
        else:
            status_line = f"{self.name} check {'passed' if ok else 'failed'}"
            body = "\n".join([*lines, status_line]) + "\n"
        return (200 if ok else 500), "text/plain; charset=utf-8", body.encode()


def metrics_route(registry: CollectorRegistry) -> Route:
    def route(_query: str) -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE_LATEST, generate_latest(registry)

    return route


class HttpEndpoint:
    """A tiny threaded HTTP server for GET routes; port 0 picks a free one."""

    def __init__(self, host: str, port: int, routes: dict[str, Route], name: str) -> None:
        self.name = name
        self.routes = dict(routes)
        handler = _make_handler(self.routes)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"http-{self.name}",
            daemon=True,
        )
        self._thread.start()
        log.info("http endpoint listening", endpoint=self.name, host=self.host, port=self.port)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()


def _make_handler(routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            route = routes.get(path.rstrip("/") or "/")
            if route is None:
                status, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
            else:
                status, ctype, body = route(query)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes arrive every few seconds; do not log each one."""

    return Handler
