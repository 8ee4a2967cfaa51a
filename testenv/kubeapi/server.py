"""The emulator itself: a threading HTTP server on loopback, its store, faults and request log.

Requests are served by :class:`~testenv.kubeapi.handler.RequestHandler`, one thread each.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import yamlload
from .authn import Reviews
from .faults import Faults, RequestLog, RequestRecord
from .handler import RequestHandler
from .store import Store


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a client opening dozens of connections at
    # once (bmo sizes its pool to its workers and watches) had some reset before they were
    # accepted. kube-apiserver (Go's net/http) listens with the system's somaxconn.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: KubeAPIServer) -> None:
        self.api = api
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        self.accepted = 0
        super().__init__(address, RequestHandler)


class KubeAPIServer:
    """An in-process Kubernetes API emulator on a loopback address.

    >>> srv = KubeAPIServer(port=0); srv.start(); srv.url  # doctest: +SKIP
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        history_limit: int = 1000,
        *,
        bookmark_interval: float = 60.0,
    ) -> None:
        import ipaddress

        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"refusing to serve on non-loopback address {host!r}")
        self.host = host
        self.port = port
        self.bookmark_interval = bookmark_interval
        self.store = Store(history_limit)
        self.faults = Faults(self.store)
        self.request_log = RequestLog()
        self.reviews = Reviews()
        self._httpd: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> KubeAPIServer:
        if self._httpd is not None:
            return self
        self._httpd = EmulatorHTTPServer((self.host, self.port), self)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="kubeapi",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.store.close()
        httpd.shutdown()
        with httpd.sockets_lock:
            for sock in list(httpd.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------ CRDs
    def install_crd(self, crd: dict[str, Any]) -> dict[str, Any]:
        """Create (or replace) a CustomResourceDefinition; raises ApiError when it is invalid."""
        return self.store.apply_crd(crd)

    def install_crds_from_dir(self, directory: str | Path) -> list[str]:
        """Install every CRD found in the YAML files of ``directory``; returns their names."""
        names: list[str] = []
        for path in sorted(Path(directory).glob("*.y*ml")):
            for doc in yamlload.load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    names.append(self.install_crd(doc)["metadata"]["name"])
        return names

    # ------------------------------------------------------------ request log
    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since :meth:`start` (a client that reuses its
        connections keeps this flat)."""
        httpd = self._httpd
        if httpd is None:
            return 0
        with httpd.sockets_lock:
            return httpd.accepted

    @property
    def requests(self) -> list[RequestRecord]:
        return self.request_log.snapshot()

    def count_requests(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        path_contains: str | None = None,
        status: int | None = None,
        watch: bool | None = None,
    ) -> int:
        return self.request_log.count(method, path, path_contains, status, watch)

    def clear_requests(self) -> None:
        self.request_log.clear()
