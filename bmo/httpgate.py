"""A bounded front door for bmo's HTTP servers (webhook, probes, metrics).

The standard library's threading servers start one thread per accepted connection and let it
block on a read for as long as the peer likes. Anyone who can open TCP connections to a port
can then pin threads and request buffers without limit (slowloris), and with the webhook's
``failurePolicy: Fail`` a starved webhook denies every BareMetalHost change. Go's
``net/http`` is cheaper per connection but has the same exposure, which is why
controller-runtime's servers set ``ReadHeaderTimeout`` and friends.

:class:`ConnectionGate` is what the servers put between ``accept()`` and a handler thread:

* A connection that has not sent a byte yet waits in one selector, *without* a thread, for
  at most ``first_byte_timeout``; at most ``max_waiting`` such connections are kept (the
  oldest is dropped beyond that).
* Once it is readable it gets a handler thread, but never more than ``max_active`` at once;
  readable connections beyond that queue (still without a thread) until a slot frees or
  their wait deadline passes.
* Each request must be read and answered within ``request_timeout`` of its first byte
  (:meth:`ConnectionGate.arm`); a peer that trickles bytes is cut at that deadline however
  often it sends, because the deadline is absolute, not per ``recv``.

Everything is enforced by one poller thread per gate, so the thread count of a server is
``max_active + 2`` whatever its peers do.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import selectors
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import structlog

log = structlog.get_logger(__name__)

__all__ = ["ConnectionGate", "GateLimits", "GatedRequestHandler", "is_disconnect"]

Dispatch = Callable[[socket.socket, Any], None]
"""Serve one admitted connection on the calling (handler) thread; the gate closes it after."""


@dataclass(frozen=True)
class GateLimits:
    """How much one server lets its peers hold."""

    max_active: int = 32
    """Handler threads at once: requests being read or answered, and kept-alive connections
    between requests (those are bounded by the server's idle timeout)."""
    max_waiting: int = 1024
    """Connections accepted but silent so far (no thread each; a file descriptor each)."""
    first_byte_timeout: float = 10.0
    """How long an accepted connection may stay silent before it is closed."""
    request_timeout: float = 30.0
    """How long reading and answering one request may take, from its first byte."""

    def __post_init__(self) -> None:
        if self.max_active < 1 or self.max_waiting < 1:
            raise ValueError("max_active and max_waiting must be at least 1")
        if not (self.first_byte_timeout > 0 and self.request_timeout > 0):
            raise ValueError("first_byte_timeout and request_timeout must be positive")


def is_disconnect(exc: BaseException) -> bool:
    """A peer going away (or being cut at its deadline): routine, never worth a traceback."""
    return isinstance(exc, (ConnectionError, TimeoutError)) or (
        isinstance(exc, OSError) and exc.errno is None
    )


@dataclass
class _Waiting:
    sock: socket.socket
    address: Any
    deadline: float
    seq: int = field(default=0)


class ConnectionGate:
    """Admit connections to ``dispatch`` within :class:`GateLimits`; see the module doc."""

    def __init__(self, name: str, dispatch: Dispatch, limits: GateLimits | None = None) -> None:
        self.name = name
        self.limits = limits or GateLimits()
        self._dispatch = dispatch
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._waiting: OrderedDict[int, _Waiting] = OrderedDict()
        self._ready: deque[_Waiting] = deque()
        self._active: dict[socket.socket, threading.Thread] = {}
        self._deadlines: dict[socket.socket, float] = {}
        self._idle: dict[socket.socket, float] = {}
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._seq = itertools.count()
        self._closing = False
        self._poller = threading.Thread(target=self._poll, name=f"{name}-gate", daemon=True)
        self._poller.start()
        self.dropped = 0
        """Connections closed by a limit (for tests and logs)."""

    # -- what the server calls ---------------------------------------------------------------

    def admit(self, sock: socket.socket, address: Any) -> None:
        """Take an accepted connection; it gets a thread once it has something to say."""
        with self._lock:
            if self._closing:
                _close(sock)
                return
            entry = _Waiting(
                sock, address, time.monotonic() + self.limits.first_byte_timeout, next(self._seq)
            )
            if len(self._waiting) >= self.limits.max_waiting:
                _, oldest = self._waiting.popitem(last=False)
                self._unregister(oldest.sock)
                _close(oldest.sock)
                self.dropped += 1
            try:
                self._selector.register(sock, selectors.EVENT_READ, entry)
            except (ValueError, OSError):
                _close(sock)
                return
            self._waiting[entry.seq] = entry
        self._wake()

    def arm(self, sock: socket.socket, seconds: float | None = None) -> None:
        """Cut ``sock`` unless :meth:`disarm` comes within ``seconds`` (default: the
        request timeout) - however many bytes the peer sends meanwhile."""
        seconds = self.limits.request_timeout if seconds is None else seconds
        deadline = time.monotonic() + seconds
        with self._lock:
            self._idle.pop(sock, None)
            self._deadlines[sock] = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), sock))
        self._wake()

    def disarm(self, sock: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(sock, None)

    def idle(self, sock: socket.socket) -> None:
        """``sock`` waits for its next request (HTTP keep-alive): when connections are
        queued for a slot, the longest-idle one is closed to make room (clients reconnect;
        an idle connection must not keep a speaking one out)."""
        with self._lock:
            self._deadlines.pop(sock, None)
            self._idle[sock] = time.monotonic()
            if not self._ready:
                return
        self._wake()

    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting) + len(self._ready)

    def close(self, join_timeout: float = 10.0) -> None:
        """Close every waiting connection, cut every active one, join their threads."""
        with self._lock:
            self._closing = True
            waiting = [w.sock for w in self._waiting.values()] + [w.sock for w in self._ready]
            self._waiting.clear()
            self._ready.clear()
            active = list(self._active.items())
        self._wake()
        self._poller.join(timeout=join_timeout)
        for sock in waiting:
            _close(sock)
        for sock, _thread in active:
            _shutdown(sock)
        deadline = time.monotonic() + join_timeout  # one budget for all, not one each
        for _sock, thread in active:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(OSError):
            self._selector.close()
        _close(self._wake_r)
        _close(self._wake_w)

    # -- the poller ----------------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _poll(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
                timeout = self._next_timeout()
            try:
                events = self._selector.select(timeout)
            except (OSError, ValueError):
                return
            now = time.monotonic()
            with self._lock:
                for key, _mask in events:
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            while self._wake_r.recv(4096):
                                pass
                        continue
                    entry: _Waiting = key.data
                    self._unregister(entry.sock)
                    if self._waiting.pop(entry.seq, None) is not None:
                        # It spoke: it may now wait for a handler slot. A slot frees at the
                        # latest when a request is cut, or at once from an idle connection.
                        entry.deadline = now + 2 * self.limits.request_timeout
                        self._ready.append(entry)
                self._expire(now)
                self._start_ready()

    def _next_timeout(self) -> float:
        now = time.monotonic()
        candidates = [w.deadline for w in self._waiting.values()]
        candidates += [w.deadline for w in self._ready]
        while self._heap and self._deadlines.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # disarmed or re-armed since
        if self._heap:
            candidates.append(self._heap[0][0])
        if not candidates:
            return 1.0
        return max(0.0, min(min(candidates) - now, 1.0))

    def _expire(self, now: float) -> None:
        for seq, entry in list(self._waiting.items()):
            if entry.deadline <= now:
                del self._waiting[seq]
                self._unregister(entry.sock)
                _close(entry.sock)
        while self._ready and self._ready[0].deadline <= now:
            _close(self._ready.popleft().sock)
            self.dropped += 1
        while self._heap and self._heap[0][0] <= now:
            deadline, _, sock = heapq.heappop(self._heap)
            if self._deadlines.get(sock) == deadline:
                del self._deadlines[sock]
                log.warning(
                    "connection cut: request not read and answered in time",
                    server=self.name,
                    timeout=self.limits.request_timeout,
                )
                _shutdown(sock)

    def _start_ready(self) -> None:
        if self._ready and len(self._active) >= self.limits.max_active and self._idle:
            for sock, _since in sorted(self._idle.items(), key=lambda item: item[1])[
                : len(self._ready)
            ]:
                del self._idle[sock]
                _shutdown(sock)  # its thread ends and frees the slot
        while self._ready and len(self._active) < self.limits.max_active:
            entry = self._ready.popleft()
            thread = threading.Thread(
                target=self._serve,
                args=(entry.sock, entry.address),
                name=f"{self.name}-connection",
                daemon=True,
            )
            self._active[entry.sock] = thread
            thread.start()

    def _serve(self, sock: socket.socket, address: Any) -> None:
        try:
            self._dispatch(sock, address)
        except Exception as exc:
            if is_disconnect(exc):
                log.debug("connection ended", server=self.name, error=type(exc).__name__)
            else:
                log.exception("connection failed", server=self.name)
        finally:
            _shutdown(sock)
            _close(sock)
            with self._lock:
                self._active.pop(sock, None)
                self._deadlines.pop(sock, None)
                self._idle.pop(sock, None)
            self._wake()

    def _unregister(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(sock)


class GatedRequestHandler(BaseHTTPRequestHandler):
    """A request handler whose server has a ``gate``: each request is armed with the gate's
    request deadline from its first byte until it is answered, and a peer going away ends
    the connection quietly instead of with a traceback."""

    def handle_one_request(self) -> None:
        gate: ConnectionGate = self.server.gate  # type: ignore[attr-defined]
        gate.idle(self.connection)
        try:
            first = self.rfile.peek(1)  # type: ignore[attr-defined]
        except OSError:
            first = b""
        if not first:
            self.close_connection = True
            return
        gate.arm(self.connection)
        try:
            super().handle_one_request()
        finally:
            gate.disarm(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except Exception as exc:
            if not is_disconnect(exc):
                raise
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def read_body(self, length: int, chunk: int = 64 * 1024) -> bytes:
        """Read ``length`` bytes holding only what has arrived (``rfile.read(n)`` allocates
        ``n`` bytes up front: a peer announcing 7 MiB and sending nothing would pin it)."""
        data = bytearray()
        while len(data) < length:
            part = self.rfile.read1(min(chunk, length - len(data)))
            if not part:
                raise ConnectionError("peer closed the connection mid-body")
            data += part
        return bytes(data)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
