"""A counting, fault-injecting reverse proxy in front of a real Ironic (127.0.0.1 only).

One module on purpose: forwarding, the request record and the faults share one server and lock.

Tests and benchmarks point bmo's ``IRONIC_ENDPOINT`` at the proxy to learn what bmo asked
Ironic - "was this node deployed?" is "was there a ``PUT /v1/nodes/*/states/provision``
with ``target: active``?", and "how hard did bmo hammer Ironic during an outage?" is the
peak number of requests in any one-second window - and to make Ironic misbehave on demand
without touching Ironic itself:

* :meth:`IronicProxy.refuse` closes the listening socket, so connections are *refused*
  exactly as when Ironic is down (:meth:`IronicProxy.restore` binds the same port again);
* :meth:`IronicProxy.fail` answers every request with a 5xx of the caller's choice;
* :meth:`IronicProxy.lock_nodes` answers writes to nodes with Ironic's 409 ``NodeLocked``.

An upstream Ironic that is stopped or restarting shows through as a dropped connection
(what a client of the real Ironic sees), not as a made-up HTTP status.

``python -m testenv.ironic_proxy --upstream http://127.0.0.1:6385`` runs it standalone; the
faults are then driven through ``/_proxy/...`` on the proxy's own port (see ``--help``).
Standard library only, so it runs from bmo's venv, the tests and the benchmarks alike.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Final

LOOPBACK: Final = "127.0.0.1"
CONTROL_PREFIX: Final = "/_proxy/"
UPSTREAM_TIMEOUT: Final = 120.0
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)
_UUID: Final = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
#: Collections whose next path segment names one object (UUID or name).
_NAMED_COLLECTIONS: Final = frozenset(
    {"nodes", "ports", "portgroups", "drivers", "allocations", "chassis", "conductors"}
)
PROVISION_TEMPLATE: Final = "/v1/nodes/*/states/provision"


class ProxyError(Exception):
    """The proxy could not start or rebind its port."""


@dataclass(frozen=True)
class ProxiedRequest:
    """One request as the proxy saw it (``status`` 0: the connection was dropped)."""

    at: float
    method: str
    path: str
    template: str
    node: str | None
    target: str | None
    status: int
    #: The query string (``fields=...&limit=1000``, ``node_uuid=...``), without the ``?``.
    query: str = ""
    #: Seconds Ironic took to answer (0 for answers the proxy made up or dropped).
    elapsed: float = 0.0

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.method, self.template, self.target)


def path_template(path: str) -> tuple[str, str | None]:
    """``(template, node ident)``: object identifiers become ``*`` so requests group by
    endpoint (``/v1/nodes/<uuid>/states/provision`` -> ``/v1/nodes/*/states/provision``)."""
    parts = urllib.parse.urlsplit(path).path.rstrip("/").split("/")
    node: str | None = None
    out: list[str] = []
    for index, part in enumerate(parts):
        previous = parts[index - 1] if index else ""
        if previous in _NAMED_COLLECTIONS and index >= 3 and part not in ("detail", "validate"):
            if previous == "nodes" and index == 3:
                node = urllib.parse.unquote(part)
            out.append("*")
        elif _UUID.match(part):
            out.append("*")
        else:
            out.append(part)
    return "/".join(out) or "/", node


def _provision_target(body: bytes) -> str | None:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None
    target = data.get("target") if isinstance(data, dict) else None
    return str(target) if target is not None else None


def _peak(times: Sequence[float], window: float) -> int:
    """The largest number of ``times`` (sorted) inside any half-open ``window``."""
    best = 0
    start = 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class _Fault:
    """The proxy's fault switchboard; every field is read under the proxy's lock."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.locked: set[str] | None = None  # None: no lock; empty set: every node
        self.locked_remaining: int | None = None

    def clear(self) -> None:
        self.status = None
        self.locked = None
        self.locked_remaining = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], proxy: IronicProxy) -> None:
        self.proxy = proxy
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def setup(self) -> None:
        super().setup()
        self.server.proxy._opened(self.connection)

    def finish(self) -> None:
        self.server.proxy._closed(self.connection)
        super().finish()

    def _handle(self) -> None:
        self.server.proxy._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def send_body(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, status: int, data: Any) -> None:
        self.send_body(status, json.dumps(data).encode(), [("Content-Type", "application/json")])


class IronicProxy:
    """See the module docstring. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, upstream: str, *, port: int = 0, host: str = LOOPBACK) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ProxyError(f"upstream must be an http:// URL, not {upstream!r}")
        if parsed.hostname not in (LOOPBACK, "localhost", "::1"):
            raise ProxyError(f"upstream must be on loopback, not {parsed.hostname!r}")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._records: list[ProxiedRequest] = []
        self._fault = _Fault()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._refused = False
        self._dropping = False
        self._connections: set[socket.socket] = set()
        self._clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return f"IronicProxy({self.url} -> {self.upstream_host}:{self.upstream_port})"

    def __enter__(self) -> IronicProxy:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        try:
            server = _Server((self.host, self.port), self)
        except OSError as exc:
            raise ProxyError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"ironic-proxy-{self.port}",
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(10)

    # -- faults -------------------------------------------------------------------------

    def refuse(self) -> None:
        """Close the listening socket and every client connection: connections are refused
        until :meth:`restore`, as when Ironic is down. Refused connections never reach the
        proxy, so they are not counted; use :meth:`drop` to count the attempts."""
        with self._lock:
            self._refused = True
        self.stop()
        self._reset_connections()

    def drop(self) -> None:
        """Accept connections but drop every request unanswered (counted, status 0): an
        Ironic that is unreachable, with each attempt visible in the counts."""
        with self._lock:
            self._dropping = True
        self._reset_connections()

    def _reset_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def fail(self, status: int = 503) -> None:
        """Answer every request with ``status`` (Ironic's JSON error shape) until cleared."""
        with self._lock:
            self._fault.status = status

    def lock_nodes(self, nodes: Iterable[str] | None = None, *, times: int | None = None) -> None:
        """Answer writes (PUT/PATCH/POST/DELETE) under ``/v1/nodes/<ident>`` with 409
        NodeLocked: for ``nodes`` (UUIDs or names; ``None`` = all), ``times`` times or
        until cleared."""
        with self._lock:
            self._fault.locked = set(nodes or ())
            self._fault.locked_remaining = times

    def restore(self) -> None:
        """End every fault: listen again on the same port, forward everything."""
        with self._lock:
            self._fault.clear()
            self._dropping = False
            refused, self._refused = self._refused, False
        if refused:
            deadline = time.monotonic() + 10
            while True:
                try:
                    self.start()
                    return
                except ProxyError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    # -- what was seen --------------------------------------------------------------------

    def requests(self, since: float | None = None) -> list[ProxiedRequest]:
        with self._lock:
            records = list(self._records)
        if since is None:
            return records
        return [r for r in records if r.at >= since]

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def now(self) -> float:
        """The proxy's clock (``time.monotonic``), to mark the start of a measurement."""
        return self._clock()

    def counts(self, since: float | None = None) -> Counter[tuple[str, str, str | None]]:
        """Requests by ``(method, path template, provision target)``."""
        return Counter(r.key for r in self.requests(since))

    def count(
        self,
        method: str | None = None,
        template: str | None = None,
        target: str | None = None,
        *,
        nodes: Iterable[str] | None = None,
        since: float | None = None,
    ) -> int:
        wanted = set(nodes) if nodes is not None else None
        return sum(
            1
            for r in self.requests(since)
            if (method is None or r.method == method)
            and (template is None or r.template == template)
            and (target is None or r.target == target)
            and (wanted is None or r.node in wanted)
        )

    def provision_targets(self, target: str, since: float | None = None) -> Counter[str]:
        """``PUT .../states/provision {"target": target}`` per node ident (accepted or not)."""
        return Counter(
            r.node or ""
            for r in self.requests(since)
            if r.method == "PUT" and r.template == PROVISION_TEMPLATE and r.target == target
        )

    def deploys(self, since: float | None = None) -> Counter[str]:
        """Deploy requests (``target: active``) per node ident."""
        return self.provision_targets("active", since)

    def peak_rate(
        self, since: float | None = None, until: float | None = None, window: float = 1.0
    ) -> int:
        """The most requests seen in any ``window`` seconds between ``since`` and ``until``."""
        times = sorted(r.at for r in self.requests(since) if until is None or r.at <= until)
        return _peak(times, window)

    def rate_histogram(self, since: float | None = None, until: float | None = None) -> list[int]:
        """Requests per whole second since ``since`` (for a report)."""
        records = [r for r in self.requests(since) if until is None or r.at <= until]
        if not records:
            return []
        start = since if since is not None else records[0].at
        buckets: list[int] = []
        for r in records:
            index = int(r.at - start)
            while len(buckets) <= index:
                buckets.append(0)
            buckets[index] += 1
        return buckets

    # -- serving --------------------------------------------------------------------------

    def _record(self, handler: _Handler, body: bytes, status: int, elapsed: float = 0.0) -> None:
        template, node = path_template(handler.path)
        target = (
            _provision_target(body)
            if handler.command == "PUT" and template == PROVISION_TEMPLATE
            else None
        )
        record = ProxiedRequest(
            at=self._clock(),
            method=handler.command,
            path=urllib.parse.urlsplit(handler.path).path,
            template=template,
            node=node,
            target=target,
            status=status,
            query=urllib.parse.urlsplit(handler.path).query,
            elapsed=elapsed,
        )
        with self._lock:
            self._records.append(record)

    def _injected(self, handler: _Handler) -> tuple[int, str] | None:
        with self._lock:
            fault = self._fault
            if fault.status is not None:
                return fault.status, "Service Unavailable (injected by the proxy)"
            if fault.locked is None or handler.command in ("GET", "HEAD"):
                return None
            _, node = path_template(handler.path)
            if node is None or (fault.locked and node not in fault.locked):
                return None
            if fault.locked_remaining is not None:
                if fault.locked_remaining <= 0:
                    return None
                fault.locked_remaining -= 1
            return 409, (
                f"Node {node} is locked by host proxy, please retry after the current "
                "operation is completed."
            )

    def _serve(self, handler: _Handler) -> None:
        if handler.path.startswith(CONTROL_PREFIX):
            self._control(handler)
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            dropping = self._dropping or self._refused
        if dropping:
            self._record(handler, body, 0)
            self._abort(handler)
            return
        injected = self._injected(handler)
        if injected is not None:
            status, message = injected
            self._record(handler, body, status)
            error = {
                "faultcode": "Client" if status < 500 else "Server",
                "faultstring": message,
                "debuginfo": None,
            }
            handler.send_json(status, {"error_message": json.dumps(error)})
            return
        sent = self._clock()
        try:
            status, headers, payload = self._forward(handler, body)
        except (OSError, http.client.HTTPException):
            self._record(handler, body, 0)
            self._abort(handler)
            return
        self._record(handler, body, status, self._clock() - sent)
        handler.send_body(status, payload, headers)

    @staticmethod
    def _abort(handler: _Handler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    def _forward(self, handler: _Handler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=UPSTREAM_TIMEOUT
        )
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = f"{self.upstream_host}:{self.upstream_port}"
            conn.request(handler.command, handler.path, body=body or None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            out = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, out, payload
        finally:
            conn.close()

    def _control(self, handler: _Handler) -> None:
        """``GET /_proxy/stats``, ``POST /_proxy/{fail,lock,refuse,restore,reset}``."""
        parsed = urllib.parse.urlsplit(handler.path)
        action = parsed.path[len(CONTROL_PREFIX) :].strip("/")
        query = dict(urllib.parse.parse_qsl(parsed.query))
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        if action == "stats":
            counts = self.counts()
            handler.send_json(
                200,
                {
                    "requests": sum(counts.values()),
                    "peak_per_second": self.peak_rate(),
                    "deploys": dict(self.deploys()),
                    "by_endpoint": [
                        {"method": m, "template": t, "target": g, "count": n}
                        for (m, t, g), n in counts.most_common()
                    ],
                },
            )
            return
        if handler.command != "POST":
            handler.send_json(405, {"error": "use POST for fault actions"})
            return
        if action == "fail":
            self.fail(int(query.get("status", "503")))
        elif action == "lock":
            nodes = [n for n in query.get("nodes", "").split(",") if n]
            times = int(query["times"]) if "times" in query else None
            self.lock_nodes(nodes or None, times=times)
        elif action == "drop":
            self.drop()
        elif action == "restore":
            self.restore()
        elif action == "reset":
            self.reset()
        elif action == "refuse":
            seconds = float(query.get("seconds", "0"))
            if seconds <= 0:
                handler.send_json(400, {"error": "refuse needs ?seconds=N (N > 0)"})
                return
            handler.send_json(200, {"refused_for": seconds})
            timer = threading.Timer(seconds, self.restore)
            timer.daemon = True
            threading.Thread(target=self.refuse, daemon=True).start()
            timer.start()
            return
        else:
            handler.send_json(404, {"error": f"unknown action {action!r}"})
            return
        handler.send_json(200, {"ok": action})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testenv.ironic_proxy",
        description=(
            "Count and disturb the requests bmo sends to Ironic. Faults: "
            "POST /_proxy/fail?status=503, /_proxy/drop, /_proxy/lock[?nodes=a,b&times=N], "
            "/_proxy/refuse?seconds=N, /_proxy/restore, /_proxy/reset; GET /_proxy/stats."
        ),
    )
    parser.add_argument(
        "--upstream", required=True, help="Ironic's URL, e.g. http://127.0.0.1:6385"
    )
    parser.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        proxy = IronicProxy(args.upstream, port=args.port)
        proxy.start()
    except ProxyError as exc:
        print(f"ironic_proxy: {exc}", file=sys.stderr)
        return 1
    print(f"IRONIC_ENDPOINT={proxy.url}/v1/", flush=True)
    done = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    done.wait()
    proxy.stop()
    counts = proxy.counts()
    print(f"{sum(counts.values())} requests, peak {proxy.peak_rate()}/s", flush=True)
    for (method, template, target), n in counts.most_common():
        print(f"{n:8d}  {method:6s} {template}" + (f"  target={target}" if target else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
