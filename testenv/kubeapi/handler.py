"""One HTTP request to the emulator: routing, content negotiation (JSON, Table), the verbs,
watch streams, and the ``/_emulator`` control plane for faults and the request log."""

from __future__ import annotations

import base64
import contextlib
import json
import select
import socket
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import yaml

from . import discovery, errors, protobuf, yamlload
from .errors import ApiError
from .faults import RequestRecord
from .patches import json_patch, merge_patch, strategic_merge_patch
from .resources import Obj, ResourceType
from .selectors import Predicate, always, parse_field_selector, parse_label_selector
from .tables import to_table

if TYPE_CHECKING:
    from .server import EmulatorHTTPServer, KubeAPIServer

PATCH_TYPES: dict[str, Callable[[Any, Any], Any]] = {
    "application/merge-patch+json": merge_patch,
    "application/json-patch+json": json_patch,
    "application/strategic-merge-patch+json": strategic_merge_patch,
}
WAKE_INTERVAL = 1.0  # how often an idle watch checks its client is still there


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: EmulatorHTTPServer
    server_version = "kubeapi-emulator"

    # ------------------------------------------------------------ connection bookkeeping
    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)
            self.server.accepted += 1

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log keeps what tests need

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ------------------------------------------------------------ plumbing
    @property
    def api(self) -> KubeAPIServer:
        return self.server.api

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _parse_body(self, raw: bytes) -> Any:
        if not raw.strip():
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if "protobuf" in ctype:
            if self.command == "DELETE":
                return None  # DeleteOptions: the query string carries what matters
            return protobuf.decode(raw)
        if "cbor" in ctype:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json, application/yaml (got {ctype!r})",
            )
        try:
            if "yaml" in ctype:
                return yamlload.load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise errors.bad_request(f"error decoding the request body: {e}") from e

    def _send_json(self, code: int, body: Any, warnings: list[str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._status = code
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for w in warnings or []:
            self.send_header("Warning", "299 - " + json.dumps(w))
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self._status = code
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    _pending: tuple[str, str, str] | None = None  # the request not yet logged

    def send_response(self, code: int, message: str | None = None) -> None:
        # Log the request before its status line leaves: a client that has read the
        # answer must find the request in the log (logging after the body raced it).
        self._log_request(code)
        super().send_response(code, message)

    def _log_request(self, status: int) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            method, path, raw_query = pending
            agent = self.headers.get("User-Agent", "") if self.headers else ""
            self.api.request_log.add(RequestRecord(method, path, status, raw_query, agent))

    def _handle(self, method: str) -> None:
        self._status = 0
        split = urlsplit(self.path)
        path, raw_query = split.path, split.query
        self._pending = None if path.startswith("/_emulator/") else (method, path, raw_query)
        query = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        try:
            raw = self._read_body()
            if path.startswith("/_emulator/"):
                self._control(method, path, raw)
                return
            delay = self.api.faults.delay()
            if delay:
                time.sleep(delay)
            self.api.faults.hold(method, path, self.headers.get("User-Agent", ""))
            self._route(method, path, query, raw)
        except ApiError as e:
            self._send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in the emulator: say so instead of hanging the client
            traceback.print_exc()
            self._send_json(500, ApiError(500, "InternalError", f"emulator error: {e!r}").status())
        finally:
            self._log_request(self._status)  # no answer was sent (the client went away)

    # ------------------------------------------------------------ routing
    def _route(self, method: str, path: str, q: dict[str, str], raw: bytes) -> None:
        store = self.api.store
        parts = [p for p in path.split("/") if p]
        types = store.served_types()
        if not parts:
            paths = ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz"]
            self._send_json(200, {"paths": paths})
            return
        if parts[0] in ("healthz", "livez", "readyz"):
            self._send_text(200, "ok")
            return
        if parts == ["version"]:
            self._send_json(200, discovery.VERSION_INFO)
            return
        if parts[0] == "openapi":
            self._openapi(parts, types)
            return
        if parts == ["api"]:
            self._send_json(200, discovery.api_versions(f"{self.api.host}:{self.api.port}"))
            return
        if parts == ["apis"]:
            self._send_json(200, discovery.group_list(types))
            return
        if parts[0] == "api" and len(parts) >= 2:
            grp, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) == 2:
            doc = discovery.group(parts[1], types)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            self._send_json(200, doc)
            return
        elif parts[0] == "apis" and len(parts) >= 3:
            grp, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            doc = discovery.resource_list(grp, version, types)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            self._send_json(200, doc)
            return
        if self.api.reviews.handles(method, grp, version, rest):
            self._send_json(201, self.api.reviews.answer(grp, json.loads(raw or b"{}")))
            return
        self._resource(method, grp, version, rest, q, raw)

    def _openapi(self, parts: list[str], types: list[ResourceType]) -> None:
        not_found = ApiError(404, "NotFound", "the server could not find the requested resource")
        if parts[:2] != ["openapi", "v3"]:
            raise not_found
        if len(parts) == 2:
            self._send_json(200, discovery.openapi_index(types))
            return
        rest = parts[2:]
        if rest[0] == "api" and len(rest) == 2:
            doc = discovery.openapi_gv("", rest[1], types)
        elif rest[0] == "apis" and len(rest) == 3:
            doc = discovery.openapi_gv(rest[1], rest[2], types)
        else:
            doc = None
        if doc is None:
            raise not_found
        self._send_json(200, doc)

    def _resource(
        self, method: str, grp: str, version: str, rest: list[str], q: dict[str, str], raw: bytes
    ) -> None:
        store = self.api.store
        namespace: str | None = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        rt = store.resolve(grp, version, plural)
        if (namespace is not None and not rt.namespaced) or (
            rt.namespaced and namespace is None and name is not None
        ):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub is not None and not (sub == "status" and rt.status_subresource):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        watch = method == "GET" and _true(q.get("watch"))
        verb = {
            ("GET", True): "get", ("GET", False): "watch" if watch else "list",
            ("POST", False): "create", ("PUT", True): "update", ("PATCH", True): "patch",
            ("DELETE", True): "delete", ("DELETE", False): "deletecollection",
        }.get((method, name is not None))  # fmt: skip
        if verb is None:
            raise errors.method_not_allowed()
        faults = self.api.faults
        status = faults.roll_error(rt)
        if status is not None:
            reason = {
                503: "ServiceUnavailable",
                500: "InternalError",
                504: "Timeout",
                429: "TooManyRequests",
            }
            raise ApiError(
                status, reason.get(status, "InternalError"), "fault injected by the emulator"
            )
        if faults.take_conflict(rt, verb, name):
            raise errors.conflict(rt.group_resource, name or "", rt.group, rt.plural)
        ns = namespace or ""
        body = self._parse_body(raw)
        dry_run = q.get("dryRun") == "All"
        fv = q.get("fieldValidation", "")
        table = "as=Table" in (self.headers.get("Accept") or "")
        out = rt.api_version(version)

        def shown(obj: Obj) -> Obj:
            return {**obj, "apiVersion": out}

        if verb == "watch":
            self._watch(rt, version, namespace, q, table)
        elif verb == "list":
            labels, fields = self._selectors(q)
            items, rv = store.list_objects(rt, namespace, labels, fields)
            meta: dict[str, Any] = {"resourceVersion": rv}
            items, cont = _paginate(items, q)
            if cont:
                meta["continue"] = cont
            if table:
                self._send_json(
                    200,
                    to_table(
                        rt,
                        version,
                        items,
                        rv,
                        include_object=q.get("includeObject", "Metadata"),
                        extra_metadata=meta,
                    ),
                )
            else:
                body_out = {
                    "apiVersion": out,
                    "kind": rt.list_kind,
                    "metadata": meta,
                    "items": [shown(o) for o in items],
                }
                self._send_json(200, body_out)
        elif verb == "get":
            assert name is not None
            obj = store.get(rt, ns, name)
            if table:
                self._send_json(
                    200,
                    to_table(
                        rt,
                        version,
                        [shown(obj)],
                        obj["metadata"]["resourceVersion"],
                        include_object=q.get("includeObject", "Metadata"),
                    ),
                )
            else:
                self._send_json(200, shown(obj))
        elif verb == "create":
            obj, warnings = store.create(
                rt, version, ns, body, dry_run=dry_run, field_validation=fv
            )
            self._send_json(201, shown(obj), warnings)
        elif verb == "update":
            assert name is not None
            obj, warnings = store.update(
                rt, version, ns, name, body, subresource=sub, dry_run=dry_run, field_validation=fv
            )
            self._send_json(200, shown(obj), warnings)
        elif verb == "patch":
            assert name is not None
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            fn = PATCH_TYPES.get(ctype)
            if fn is None:
                raise errors.unsupported_media_type(ctype)
            if ctype != "application/json-patch+json" and not isinstance(body, dict):
                raise errors.bad_request("a merge patch must be a JSON object")
            patch_fn = fn
            obj, warnings = store.patch(
                rt,
                version,
                ns,
                name,
                lambda cur: patch_fn(cur, body),
                subresource=sub,
                dry_run=dry_run,
                field_validation=fv,
            )
            self._send_json(200, shown(obj), warnings)
        elif verb == "delete":
            assert name is not None
            options = dict(body or {})
            if "propagationPolicy" in q:
                options["propagationPolicy"] = q["propagationPolicy"]
            obj, gone = store.delete(rt, ns, name, options, dry_run=dry_run)
            if rt.delete_returns_object or not gone:
                self._send_json(200, shown(obj))
            else:
                details = {"name": name, "kind": rt.plural, "uid": obj["metadata"].get("uid")}
                if rt.group:
                    details["group"] = rt.group
                self._send_json(
                    200,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": details,
                    },
                )
        elif verb == "deletecollection":
            labels, fields = self._selectors(q)
            removed = store.delete_collection(rt, namespace, labels, fields, dict(body or {}))
            self._send_json(
                200,
                {
                    "apiVersion": out,
                    "kind": rt.list_kind,
                    "metadata": {"resourceVersion": store.resource_version},
                    "items": [shown(o) for o in removed],
                },
            )

    @staticmethod
    def _selectors(q: dict[str, str]) -> tuple[Predicate, Predicate]:
        labels = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else always
        fields = parse_field_selector(q["fieldSelector"]) if q.get("fieldSelector") else always
        return labels, fields

    # ------------------------------------------------------------ watch streams
    def _start_stream(self) -> None:
        self._status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

    def _event(self, etype: str, obj: Any) -> None:
        self._chunk(
            json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"
        )

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _watch(
        self, rt: ResourceType, version: str, namespace: str | None, q: dict[str, str], table: bool
    ) -> None:
        store = self.api.store
        labels, fields = self._selectors(q)
        send_initial = _true(q.get("sendInitialEvents"))
        bookmarks = _true(q.get("allowWatchBookmarks"))
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        deadline = time.monotonic() + timeout if timeout else None
        out = rt.api_version(version)
        try:
            if self.api.faults.take_gone(rt):
                raise errors.gone("too old resource version (fault injected by the emulator)")
            w = store.watch(
                rt, namespace, labels, fields, None if send_initial else q.get("resourceVersion")
            )
        except ApiError as e:
            if e.code != 410:
                raise
            self._start_stream()
            self._event("ERROR", e.status())
            self._chunk(b"")
            return
        self._start_stream()
        first = True
        initial_pending = send_initial
        last_sent = time.monotonic()
        abrupt = False
        try:
            while True:
                with w.cond:
                    if not w.queue and not w.closed and not initial_pending:
                        wait = WAKE_INTERVAL
                        if deadline is not None:
                            wait = max(0.0, min(wait, deadline - time.monotonic()))
                        w.cond.wait(wait)
                    events = list(w.queue)
                    w.queue.clear()
                    closed, abrupt = w.closed, w.abrupt
                    current_rv = str(store.rv)
                for etype, obj in events:
                    shown = {**obj, "apiVersion": out}
                    if table:
                        payload: Any = to_table(
                            rt,
                            version,
                            [shown],
                            obj["metadata"]["resourceVersion"],
                            include_object=q.get("includeObject", "Metadata"),
                            with_columns=first,
                        )
                        first = False
                    else:
                        payload = shown
                    self._event(etype, payload)
                    last_sent = time.monotonic()
                if initial_pending:
                    initial_pending = False
                    self._event("BOOKMARK", self._bookmark(rt, out, current_rv, initial_end=True))
                if closed:
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    if bookmarks:
                        self._event("BOOKMARK", self._bookmark(rt, out, current_rv))
                    break
                if bookmarks and now - last_sent >= self.api.bookmark_interval:
                    self._event("BOOKMARK", self._bookmark(rt, out, current_rv))
                    last_sent = now
                if self._client_gone():
                    return
        except OSError:
            return
        finally:
            store.unwatch(w)
        if abrupt:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(OSError):
            self._chunk(b"")

    @staticmethod
    def _bookmark(rt: ResourceType, api_version: str, rv: str, initial_end: bool = False) -> Obj:
        meta: dict[str, Any] = {"resourceVersion": rv}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": rt.kind, "apiVersion": api_version, "metadata": meta}

    # ------------------------------------------------------------ /_emulator control plane
    def _control(self, method: str, path: str, raw: bytes) -> None:
        faults = self.api.faults
        body = json.loads(raw) if raw.strip() else {}
        if path == "/_emulator/requests" and method == "GET":
            self._send_json(200, [r._asdict() for r in self.api.request_log.snapshot()])
        elif path == "/_emulator/requests" and method == "DELETE":
            self.api.request_log.clear()
            self._send_json(200, {})
        elif path == "/_emulator/faults" and method == "GET":
            self._send_json(200, faults.describe())
        elif path == "/_emulator/faults" and method == "DELETE":
            faults.clear()
            self._send_json(200, faults.describe())
        elif path == "/_emulator/faults" and method == "POST":
            action = body.pop("action", "")
            allowed = {
                "drop_watches",
                "gone_next_watches",
                "conflict_next_writes",
                "error_share",
                "latency",
                "clear",
            }
            if action not in allowed:
                raise errors.bad_request(
                    f"unknown fault action {action!r}: one of {sorted(allowed)}"
                )
            try:
                getattr(faults, action)(**body)
            except (TypeError, ValueError) as e:
                raise errors.bad_request(f"bad arguments for {action}: {e}") from e
            self._send_json(200, faults.describe())
        else:
            raise ApiError(404, "NotFound", f"no emulator endpoint {method} {path}")


def _paginate(items: list[Obj], q: dict[str, str]) -> tuple[list[Obj], str]:
    """``limit``/``continue`` over the sorted list (consistent enough for tests)."""
    start = 0
    if q.get("continue"):
        try:
            after = json.loads(base64.urlsafe_b64decode(q["continue"].encode()))
        except ValueError as e:
            raise errors.bad_request("invalid continue token") from e
        keys = [[o["metadata"].get("namespace", ""), o["metadata"]["name"]] for o in items]
        start = next((i for i, k in enumerate(keys) if k > after), len(items))
    limit = int(q.get("limit") or 0)
    if limit <= 0 or start + limit >= len(items):
        return items[start:], ""
    page = items[start : start + limit]
    last = page[-1]["metadata"]
    token = base64.urlsafe_b64encode(json.dumps([last.get("namespace", ""), last["name"]]).encode())
    return page, token.decode()
