"""The HTTPS server the API server calls for BareMetalHost admission.

HTTP/1.1 keep-alive (the API server reuses its connections). The listening socket is plain
TCP; each accepted connection is wrapped with the *current* TLS context (see
:mod:`bmo.webhook.certs`), so a rotated certificate is used from the next handshake on
without a restart. Accepted connections go through a :class:`~bmo.httpgate.ConnectionGate`:
silent ones hold no thread, at most ``max_active`` connections are served at once, and the
handshake and each request must complete within the request deadline - so no number of
slow or silent clients can exhaust memory or starve the API server's own reviews (with
``failurePolicy: Fail`` a starved webhook would deny every BareMetalHost change).

If the certificate is not there yet the server listens anyway and closes connections until
it appears; :meth:`WebhookServer.ready` stays false meanwhile, so ``/readyz`` keeps the pod
out of the Service instead of the process crash-looping while cert-manager catches up.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import structlog

from bmo.httpgate import ConnectionGate, GatedRequestHandler, GateLimits
from bmo.tlspolicy import TLSPolicy
from bmo.webhook.admission import (
    ADMISSION_API_VERSIONS,
    AdmissionRequest,
    Decision,
    decide,
    parse_review,
    review_response,
)
from bmo.webhook.certs import CertificateReloader
from bmo.webhook.config import BAREMETALHOST_PATH, WEBHOOK_PATHS, HostLookup, WebhookConfig
from bmo.webhook.errors import MalformedReviewError, ServerStartError
from bmo.webhook.firmware import (
    HOSTFIRMWARECOMPONENTS_PATH,
    HOSTFIRMWARESETTINGS_PATH,
    SchemaLookup,
    decide_components,
    decide_settings,
)

log = structlog.get_logger(__name__)

MAX_REQUEST_BYTES = 7 * 1024 * 1024
"""controller-runtime's limit; a BareMetalHost is a few KiB."""

Decider = Callable[[AdmissionRequest], Decision]

HANDSHAKE_TIMEOUT = 10.0
JSON_CONTENT_TYPE = "application/json"


class WebhookServer:
    """Serves the BareMetalHost, DataImage and BMCEventSubscription webhooks over HTTPS.

    ``start()`` binds and returns; ``stop()`` closes the listener and every open
    connection and joins their threads. ``ready()`` is the ``/readyz`` check.
    """

    def __init__(
        self,
        config: WebhookConfig,
        *,
        limits: GateLimits | None = None,
        tls_policy: TLSPolicy | None = None,
        schema_lookup: SchemaLookup | None = None,
        host_lookup: HostLookup | None = None,
    ) -> None:
        self.config = config
        self.limits = limits or GateLimits()
        #: FirmwareSchemas by ``(namespace, name)``, for HostFirmwareSettings admission.
        self.schema_lookup = schema_lookup
        #: Whether a BareMetalHost exists, for BMCEventSubscription creates.
        self.host_lookup = host_lookup
        cert_dir = Path(config.cert_dir)
        self.certificates = CertificateReloader(
            cert_dir / config.cert_name,
            cert_dir / config.key_name,
            min_version=config.tls_min_version,
            max_version=config.tls_max_version,
            policy=tls_policy,
        )
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _routes(self) -> dict[str, Decider]:
        """Path → decision, one per validated kind (controller-runtime registers one path
        per webhook on the same server)."""
        allow_development = self.config.allow_development
        credentials = self.config.credentials

        def by_kind(kind: str) -> Decider:
            # ``host_lookup`` is read at request time, like ``schema_lookup`` below.
            return lambda r: decide(
                r,
                allow_development=allow_development,
                kind=kind,
                credentials=credentials,
                host_lookup=self.host_lookup,
            )

        routes = {path: by_kind(kind) for path, kind in WEBHOOK_PATHS.items()}
        routes[HOSTFIRMWARECOMPONENTS_PATH] = decide_components
        # Read at request time: ``bmo run`` sets the lookup once its cache exists.
        routes[HOSTFIRMWARESETTINGS_PATH] = lambda r: decide_settings(r, self.schema_lookup)
        return routes

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in a background thread; raises :class:`ServerStartError`."""
        with self._lock:
            if self._server is not None:
                raise ServerStartError("webhook server already started")
            self.certificates.context()  # load now when present, so ready() is true at once
            try:
                server = _TLSServer(self.config, self.certificates, self._routes(), self.limits)
            except OSError as exc:
                where = f"{self.config.host or '*'}:{self.config.port}"
                raise ServerStartError(
                    f"webhook server cannot listen on {where}: {exc.strerror or exc}; "
                    "choose another --webhook-port, or 0 to disable the webhook"
                ) from None
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="webhook-server",
                daemon=True,
            )
            self._thread.start()
        log.info(
            "webhook server listening",
            host=self.host,
            port=self.port,
            paths=list(self._routes()),
            cert_dir=self.config.cert_dir,
        )

    def stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join()
        server.server_close()
        server.gate.close()
        log.info("webhook server stopped")

    def __enter__(self) -> WebhookServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------

    def ready(self) -> bool:
        """Listening with a loaded certificate (checked against the files each time)."""
        with self._lock:
            listening = self._server is not None
        return listening and self.certificates.context() is not None

    @property
    def host(self) -> str:
        server = self._require()
        return str(server.server_address[0])

    @property
    def port(self) -> int:
        server = self._require()
        return int(server.server_address[1])

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port}{BAREMETALHOST_PATH}"

    def _require(self) -> _TLSServer:
        server = self._server
        if server is None:
            raise ServerStartError("webhook server is not running")
        return server


class _TLSServer(socketserver.TCPServer):
    """TCPServer (not HTTPServer: no reverse DNS lookup at bind) wrapping each accepted
    connection in TLS with the context current at accept time."""

    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        config: WebhookConfig,
        certificates: CertificateReloader,
        routes: dict[str, Decider],
        limits: GateLimits,
    ) -> None:
        self.config = config
        self.certificates = certificates
        self._dual_stack = not config.host and socket.has_dualstack_ipv6()
        self.address_family = _address_family(config.host, self._dual_stack)
        host = config.host or ("::" if self._dual_stack else "0.0.0.0")
        super().__init__((host, config.port), _make_handler(routes))
        self.gate = ConnectionGate("webhook", self._serve_connection, limits)

    def server_bind(self) -> None:
        if self._dual_stack:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        context = self.certificates.context()
        if context is None:
            # No certificate yet: refuse rather than complete a handshake we cannot.
            sock.close()
            raise OSError("no serving certificate loaded")
        try:
            tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError:
            sock.close()
            raise
        return tls, address

    def process_request(self, request: Any, client_address: Any) -> None:
        self.gate.admit(request, client_address)

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        """On a gate thread, once the client has sent its first bytes: the handshake (under
        the request deadline) and then HTTP until the connection ends."""
        self.gate.arm(request)
        request.settimeout(min(HANDSHAKE_TIMEOUT, self.gate.limits.request_timeout))
        try:
            request.do_handshake()
        except (OSError, ValueError) as exc:
            log.debug("webhook TLS handshake failed", peer=str(client_address), error=str(exc))
            return
        finally:
            self.gate.disarm(request)
        request.settimeout(self.config.idle_timeout)
        self.finish_request(request, client_address)


def _address_family(host: str, dual_stack: bool) -> socket.AddressFamily:
    if dual_stack or ":" in host:
        return socket.AF_INET6
    return socket.AF_INET


def _make_handler(routes: dict[str, Decider]) -> type[BaseHTTPRequestHandler]:
    class Handler(GatedRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "bmo-webhook"
        sys_version = ""

        def do_POST(self) -> None:
            path = self.path.partition("?")[0]
            decider = routes.get(path)
            if decider is None:
                self._drain_or_close()
                self._text(
                    404,
                    f"no webhook at {path}; the webhooks are at {', '.join(routes)}",
                )
                return
            content_type = self.headers.get("Content-Type", "")
            if content_type.partition(";")[0].strip().lower() != JSON_CONTENT_TYPE:
                self._drain_or_close()
                self._malformed(
                    f"contentType={content_type or '(none)'}, expected {JSON_CONTENT_TYPE}"
                )
                return
            length_header = self.headers.get("Content-Length")
            if length_header is None:
                self.close_connection = True
                self._malformed("Content-Length is required", status=411)
                return
            try:
                length = int(length_header)
            except ValueError:
                self.close_connection = True
                self._malformed(f"Content-Length {length_header!r} is not a number")
                return
            if length < 0 or length > MAX_REQUEST_BYTES:
                self.close_connection = True
                self._malformed(
                    f"request entity is too large; limit is {MAX_REQUEST_BYTES} bytes",
                    status=413,
                )
                return
            body = self.read_body(length)
            try:
                request = parse_review(body)
            except MalformedReviewError as exc:
                log.warning("webhook request rejected: malformed", error=exc.message)
                self._malformed(exc.message, uid=exc.uid)
                return
            decision = decider(request)
            log.info(
                "webhook decision",
                uid=request.uid,
                operation=request.operation,
                kind=request.kind.kind,
                namespace=request.namespace,
                name=request.name,
                allowed=decision.allowed,
                code=decision.code,
                fields=list(decision.fields) or None,
            )
            answer = review_response(request.review_api_version, request.uid, decision)
            self._json(200, answer)

        def do_GET(self) -> None:
            self._drain_or_close()
            self._text(405, "the webhook only accepts POST")

        do_PUT = do_PATCH = do_DELETE = do_GET

        def _drain_or_close(self) -> None:
            raw = self.headers.get("Content-Length", "")
            if raw.isdigit() and int(raw) <= MAX_REQUEST_BYTES:
                self.read_body(int(raw))
            else:
                self.close_connection = True

        def _malformed(self, message: str, *, uid: str = "", status: int = 400) -> None:
            """HTTP error with an AdmissionReview body, so any client reads the reason."""
            answer = review_response(
                ADMISSION_API_VERSIONS[0], uid, Decision.errored(status, message)
            )
            self._json(status, answer)

        def _json(self, status: int, document: dict[str, Any]) -> None:
            self._send(status, JSON_CONTENT_TYPE, json.dumps(document).encode())

        def _text(self, status: int, text: str) -> None:
            self._send(status, "text/plain; charset=utf-8", (text + "\n").encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """Decisions are logged with their context in do_POST; skip access lines."""

        def log_error(self, format: str, *args: Any) -> None:
            # Only the template: the arguments can quote the raw request, object and all.
            log.debug("webhook http error", detail=format)

    return Handler
