"""The thin JSON path puts on the wire exactly what the generated client methods put there:
the same request line, headers in the same order, and the same body bytes, and it answers
and fails as they do."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException, ConflictException, NotFoundException

from bmo.runtime.informer import Resource
from bmo.runtime.jsonapi import JsonApi, core_path, custom_object_path, list_query
from bmo.runtime.manager import RateLimitedApiClient


class Captured(NamedTuple):
    request_line: str
    headers: list[tuple[str, str]]
    body: bytes


class CaptureServer:
    """Records every request on loopback and answers ``status`` with ``answer``."""

    def __init__(self) -> None:
        self.captured: list[Captured] = []
        self.status = 200
        self.answer: bytes = b'{"kind": "Thing", "metadata": {"name": "answer"}}'
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.captured.append(Captured(self.requestline, list(self.headers.items()), body))
                created = self.command == "POST" and outer.status == 200
                self.send_response(201 if created else outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.answer)))
                self.end_headers()
                self.wfile.write(outer.answer)

            do_PUT = do_POST = do_PATCH = do_GET = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    try:
        yield server
    finally:
        server.stop()


def _client(url: str, token: bool) -> RateLimitedApiClient:
    configuration = k8s.Configuration(host=url)
    if token:
        configuration.api_key = {"BearerToken": "t0ken"}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    return RateLimitedApiClient(configuration, qps=1000, burst=1000)


BODY: dict[str, Any] = {
    "apiVersion": "metal3.io/v1alpha1",
    "kind": "BareMetalHost",
    "metadata": {"name": "h 1", "namespace": "ns", "resourceVersion": "12"},
    "spec": {"online": True, "list": [1, 2.5, None, "ü"], "nested": {"b": {}, "a": []}},
    "status": {"provisioning": {"state": "available"}, "errorMessage": 'naïve "quoted"'},
}

SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "s", "namespace": "ns", "labels": {"a": "b"}, "finalizers": ["f"]},
    "data": {"password": "cHc="},
}

EVENT: dict[str, Any] = {
    "apiVersion": "v1",
    "count": 2,
    "involvedObject": {"kind": "BareMetalHost", "name": "h", "namespace": "ns"},
    "kind": "Event",
    "metadata": {"name": "e.1", "namespace": "ns"},
    "reason": "Registered",
}

Call = Callable[[k8s.ApiClient], Any]

CASES: dict[str, tuple[Call, Call]] = {
    "custom object PUT": (
        lambda c: k8s.CustomObjectsApi(c).replace_namespaced_custom_object(
            "metal3.io", "v1alpha1", "ns", "baremetalhosts", "h 1", BODY
        ),
        lambda c: JsonApi(c).put(
            custom_object_path("metal3.io", "v1alpha1", "ns", "baremetalhosts", "h 1"), BODY
        ),
    ),
    "status PUT": (
        lambda c: k8s.CustomObjectsApi(c).replace_namespaced_custom_object_status(
            "metal3.io", "v1alpha1", "ns", "baremetalhosts", "h 1", BODY
        ),
        lambda c: JsonApi(c).put(
            custom_object_path(
                "metal3.io", "v1alpha1", "ns", "baremetalhosts", "h 1", subresource="status"
            ),
            BODY,
        ),
    ),
    "custom object POST": (
        lambda c: k8s.CustomObjectsApi(c).create_namespaced_custom_object(
            "metal3.io", "v1alpha1", "ns", "hardwaredata", BODY
        ),
        lambda c: JsonApi(c).post(
            custom_object_path("metal3.io", "v1alpha1", "ns", "hardwaredata"), BODY
        ),
    ),
    "JSON patch": (
        lambda c: k8s.CustomObjectsApi(c).patch_namespaced_custom_object(
            "metal3.io",
            "v1alpha1",
            "ns",
            "firmwareschemas",
            "s",
            [{"op": "add", "path": "/metadata/ownerReferences/-", "value": {"name": "x"}}],
            _content_type="application/json-patch+json",
        ),
        lambda c: JsonApi(c).patch(
            custom_object_path("metal3.io", "v1alpha1", "ns", "firmwareschemas", "s"),
            [{"op": "add", "path": "/metadata/ownerReferences/-", "value": {"name": "x"}}],
            "application/json-patch+json",
        ),
    ),
    "secret PUT": (
        lambda c: (
            k8s.CoreV1Api(c)
            .replace_namespaced_secret("s", "ns", SECRET, _preload_content=False)
            .data
        ),
        lambda c: json.dumps(JsonApi(c).put(core_path("secrets", "ns", "s"), SECRET)).encode(),
    ),
    "event strategic merge patch": (
        lambda c: k8s.CoreV1Api(c).patch_namespaced_event(
            "e.1",
            "ns",
            {"count": 2, "lastTimestamp": "2026-01-02T03:04:05Z"},
            _content_type="application/strategic-merge-patch+json",
        ),
        lambda c: JsonApi(c).patch(
            core_path("events", "ns", "e.1"),
            {"count": 2, "lastTimestamp": "2026-01-02T03:04:05Z"},
            "application/strategic-merge-patch+json",
        ),
    ),
}


@pytest.mark.parametrize("token", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_thin_path_sends_the_same_bytes(capture: CaptureServer, case: str, token: bool) -> None:
    old, new = CASES[case]
    answer = EVENT if "event" in case else {"kind": "Thing", "metadata": {"name": "answer"}}
    capture.answer = json.dumps(answer).encode()
    client = _client(capture.url, token)
    try:
        # The generated event methods answer a model; bmo only ever reads its JSON form.
        if case == "secret PUT":  # both answers as the bytes received
            assert old(client) == new(client) == capture.answer
        else:
            assert client.sanitize_for_serialization(old(client)) == new(client) == answer
    finally:
        client.close()
    generated, thin = capture.captured
    if case == "secret PUT":
        # The generated method validates a dict body into a ``V1Secret`` and sends the
        # model's fields in its own order (dropping any it does not know); the thin path
        # sends the dict as it is. Same JSON, same length, keys in another order.
        assert json.loads(thin.body) == json.loads(generated.body) == SECRET
        thin, generated = thin._replace(body=b""), generated._replace(body=b"")
    else:
        assert thin.body  # something was sent, and compared
    assert thin == generated
    credentials = [v for k, v in thin.headers if k.lower() == "authorization"]
    assert credentials == (["Bearer t0ken"] if token else [])


WATCH = {
    "watch": True,
    "allow_watch_bookmarks": True,
    "resource_version": "42",
    "timeout_seconds": 300,
    "label_selector": "a=b,c in (d)",
}

READS: dict[str, tuple[Call, Call]] = {
    "secret GET": (
        lambda c: k8s.CoreV1Api(c).read_namespaced_secret("s 1", "ns", _preload_content=False),
        lambda c: JsonApi(c).open(core_path("secrets", "ns", "s 1")),
    ),
    "secret list, first page": (
        lambda c: k8s.CoreV1Api(c).list_namespaced_secret(
            "ns", limit=500, _continue="tok/en", _preload_content=False
        ),
        lambda c: Resource("", "v1", "secrets", "Secret").list(
            c, "ns", limit=500, _continue="tok/en"
        ),
    ),
    "secret watch, all namespaces": (
        lambda c: k8s.CoreV1Api(c).list_secret_for_all_namespaces(
            **WATCH, _preload_content=False, _request_timeout=(10, 330)
        ),
        lambda c: Resource("", "v1", "secrets", "Secret").list(
            c, None, **WATCH, _request_timeout=(10, 330)
        ),
    ),
    "custom watch in a namespace": (
        lambda c: k8s.CustomObjectsApi(c).list_namespaced_custom_object(
            "metal3.io", "v1alpha1", "ns", "baremetalhosts", **WATCH, _preload_content=False
        ),
        lambda c: Resource("metal3.io", "v1alpha1", "baremetalhosts", "BareMetalHost").list(
            c, "ns", **WATCH
        ),
    ),
    "custom list, all namespaces": (
        lambda c: k8s.CustomObjectsApi(c).list_cluster_custom_object(
            "metal3.io", "v1alpha1", "baremetalhosts", limit=500, _preload_content=False
        ),
        lambda c: Resource("metal3.io", "v1alpha1", "baremetalhosts", "BareMetalHost").list(
            c, None, limit=500
        ),
    ),
    "cluster-scoped custom list": (
        lambda c: k8s.CustomObjectsApi(c).list_cluster_custom_object(
            "metal3.io", "v1alpha1", "things", field_selector="x=y", _preload_content=False
        ),
        lambda c: Resource("metal3.io", "v1alpha1", "things", "Thing", namespaced=False).list(
            c, "ignored", field_selector="x=y"
        ),
    ),
}


@pytest.mark.parametrize("token", [False, True])
@pytest.mark.parametrize("case", sorted(READS))
def test_reads_lists_and_watches_send_the_same_request(
    capture: CaptureServer, case: str, token: bool
) -> None:
    """What the informer and the Secret readers send: the generated ``list_*`` and
    ``read_*`` requests with ``_preload_content=False``, answered unread."""
    old, new = READS[case]
    client = _client(capture.url, token)
    try:
        assert old(client).data == new(client).data == capture.answer
    finally:
        client.close()
    generated, thin = capture.captured
    assert thin == generated
    assert thin.request_line.startswith("GET /api")


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        (("write", "status PUT"), 404, NotFoundException),
        (("write", "status PUT"), 409, ConflictException),
        (("write", "status PUT"), 500, ApiException),
        (("read", "custom watch in a namespace"), 410, ApiException),
        (("read", "secret GET"), 404, NotFoundException),
    ],
)
def test_the_thin_path_fails_as_the_generated_one(
    capture: CaptureServer, case: tuple[str, str], status: int, error: type[ApiException]
) -> None:
    capture.status = status
    capture.answer = json.dumps({"kind": "Status", "code": status, "reason": "X"}).encode()
    table, name = case
    old, new = (CASES if table == "write" else READS)[name]
    client = _client(capture.url, False)
    try:
        with pytest.raises(error) as generated:
            old(client)
        with pytest.raises(error) as thin:
            new(client)
    finally:
        client.close()
    assert type(thin.value) is type(generated.value)
    assert (thin.value.status, thin.value.reason, thin.value.body) == (
        generated.value.status,
        generated.value.reason,
        generated.value.body,
    )


def test_an_unknown_list_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match="not a list parameter: labelSelector"):
        list_query(labelSelector="a=b")
