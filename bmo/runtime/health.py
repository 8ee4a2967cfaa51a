"""Probe and metrics HTTP endpoints: ``/healthz``, ``/readyz`` and ``/metrics``.

``/healthz`` answers "is the process alive" (the kubelet restarts it otherwise), ``/readyz``
"should it get traffic" - only once every informer has synced and, when configured, extra
named checks (the webhook server) pass. Bodies follow the Kubernetes convention (``[+]name
ok`` / ``[-]name failed``) so ``?verbose`` output reads the same as the API server's.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bmo.httpgate import ConnectionGate, GatedRequestHandler, GateLimits

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


Authorizer = Callable[[str, Mapping[str, str]], "tuple[int, str] | None"]
"""(path, request headers) -> ``None`` to serve the request, or (status, reason) to refuse it
(e.g. the metrics endpoint's TokenReview + SubjectAccessReview filter)."""


class HttpEndpoint:
    """A small HTTP(S) server for GET routes; port 0 picks a free one.

    Connections pass through a :class:`~bmo.httpgate.ConnectionGate` (bounded threads, an
    absolute per-request deadline, silent peers hold no thread), so a port scanner or a
    slowloris cannot take the probes down and get the pod restarted. ``tls`` returns the
    context to wrap each connection in (HTTPS); ``authorize`` vets each request first.
    """

    def __init__(
        self,
        host: str,
        port: int,
        routes: dict[str, Route],
        name: str,
        *,
        limits: GateLimits | None = None,
        tls: Callable[[], ssl.SSLContext] | None = None,
        authorize: Authorizer | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.routes = dict(routes)
        self.tls = tls
        handler = _make_handler(self.routes, authorize)
        self._server = _GatedServer(
            (host, port), handler, name=name, limits=limits, tls=tls, idle_timeout=idle_timeout
        )
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"http-{self.name}",
            daemon=True,
        )
        self._thread.start()
        log.info(
            "http endpoint listening",
            endpoint=self.name,
            host=self.host,
            port=self.port,
            scheme=self.scheme,
        )

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._server.gate.close()


class _GatedServer(socketserver.TCPServer):
    """TCPServer (no reverse DNS at bind) handing accepted connections to a gate."""

    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str,
        limits: GateLimits | None,
        tls: Callable[[], ssl.SSLContext] | None,
        idle_timeout: float,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.tls = tls
        self.idle_timeout = idle_timeout
        super().__init__(address, handler)
        self.gate = ConnectionGate(name, self._serve_connection, limits)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        if self.tls is None:
            return sock, address
        try:
            wrapped = self.tls().wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError):
            sock.close()
            raise
        return wrapped, address

    def process_request(self, request: Any, client_address: Any) -> None:
        self.gate.admit(request, client_address)

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            self.gate.arm(request)
            request.settimeout(self.gate.limits.request_timeout)
            try:
                request.do_handshake()
            except (OSError, ValueError) as exc:
                log.debug("TLS handshake failed", peer=str(client_address), error=str(exc))
                return
            finally:
                self.gate.disarm(request)
        request.settimeout(self.idle_timeout)
        self.finish_request(request, client_address)


def _make_handler(
    routes: dict[str, Route], authorize: Authorizer | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(GatedRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            route = routes.get(path.rstrip("/") or "/")
            refusal = None
            if route is not None and authorize is not None:
                refusal = authorize(path, {k.lower(): v for k, v in self.headers.items()})
            if route is None:
                status, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
            elif refusal is not None:
                status, ctype = refusal[0], "text/plain; charset=utf-8"
                body = (refusal[1] + "\n").encode()
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
