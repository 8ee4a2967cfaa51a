"""An informer: list + watch one resource into a local cache and tell handlers what changed.

client-go's reflector and shared informer, in one small class. The promises:

* The cache holds deep-frozen snapshots, updated before handlers are called, so a handler
  (or a reconcile it triggers) never sees the cache older than the event it got.
* Watches start from the list's resourceVersion, ask for bookmarks, and end after a random
  5-10 minutes (so a fleet of operators does not reconnect in lockstep); a cleanly ended
  watch resumes from the last resourceVersion seen.
* When the server says the resourceVersion is too old (``410 Gone``, as an HTTP status or
  an ``ERROR`` event) or the connection drops, the informer relists and *diffs against the
  cache*: deletes for objects that disappeared, updates for changed resourceVersions, adds
  for new ones, nothing for unchanged ones. No event is lost and none is repeated.
* List failures back off exponentially (0.8 s doubling to 30 s, jittered) on the injected
  clock, so a failing API server is not hammered and tests need not sleep.
* Every ``resync_period`` each cached object is redelivered as an update with old == new,
  the level-triggered safety net for a handler that dropped something.

One reflector per watched namespace, or one cluster-wide. Handlers run on the reflector
threads under a per-informer lock, so they see one event at a time and must be quick
(enqueue a key and return).
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import structlog
import urllib3
from kubernetes import client as k8s

from bmo.runtime.cache import (
    NAMESPACE_INDEX,
    IndexFunc,
    KubeObject,
    Store,
    freeze,
    freeze_decoded,
    object_key,
    resource_version,
)
from bmo.runtime.clock import Clock, RealClock
from bmo.runtime.errors import Gone, from_object, is_gone, translate
from bmo.runtime.eventhandlers import EventHandler
from bmo.runtime.jsonapi import JsonApi, collection_path, list_query

log = structlog.get_logger(__name__)

LIST_PAGE_SIZE = 500
WATCH_TIMEOUT_RANGE = (300, 600)
"""client-go's reflector: ``minWatchTimeout * (1 + rand)`` with a 5 minute minimum."""
BACKOFF_INITIAL = 0.8
BACKOFF_MAX = 30.0
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Resource:
    """Which API collection an informer serves.

    ``group`` is ``""`` for the core API.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def list(self, api_client: k8s.ApiClient, namespace: str | None, **params: Any) -> Any:
        """One list or watch call returning the raw urllib3 response: the request the
        generated ``list_namespaced_*`` / ``list_*_for_all_namespaces`` /
        ``list_cluster_custom_object`` method sends with ``_preload_content=False``
        (objects stay plain JSON, and watches stream). ``params`` are that method's
        keyword arguments, ``_request_timeout`` included."""
        timeout = params.pop("_request_timeout", None)
        path = collection_path(
            self.group, self.version, self.plural, namespace if self.namespaced else None
        )
        return JsonApi(api_client).open(path, query=list_query(**params), timeout=timeout)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group or 'core'}/{self.version}"


SECRETS = Resource("", "v1", "secrets", "Secret")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")


class _Relist(Exception):
    """Internal: the watch cannot resume from the last resourceVersion."""


class Informer:
    """List+watch ``resource`` in ``namespaces`` (all when empty) into :attr:`store`."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        resource: Resource,
        *,
        namespaces: Sequence[str] = (),
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        clock: Clock | None = None,
        page_size: int = LIST_PAGE_SIZE,
        watch_timeout_range: tuple[int, int] = WATCH_TIMEOUT_RANGE,
        rng: random.Random | None = None,
        name: str | None = None,
    ) -> None:
        self.api_client = api_client
        self.resource = resource
        self.name = name or resource.plural
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.store = Store(indexers)
        self.clock: Clock = clock if clock is not None else RealClock()
        self.page_size = page_size
        self.watch_timeout_range = watch_timeout_range
        self._rng = rng or random.Random()
        self._handlers: list[EventHandler] = []
        # Serializes cache mutation + handler delivery across reflectors and resync, so
        # handlers see one event at a time, in cache order.
        self._dispatch_lock = threading.RLock()
        # Everything that waits on the clock waits on this; run() notifies it on stop.
        self._cond = threading.Condition()
        self._stop = threading.Event()
        ns: list[str | None] = list(namespaces) if namespaces else [None]
        self._reflectors = [_Reflector(self, namespace) for namespace in ns]

    # -- public, read side -------------------------------------------------------------

    def add_handler(self, handler: EventHandler) -> None:
        """Register before :meth:`run`; handlers added later miss the initial list."""
        with self._dispatch_lock:
            self._handlers.append(handler)

    @property
    def connections(self) -> int:
        """API connections the informer holds open at once: one watch per namespace."""
        return len(self._reflectors)

    def has_synced(self) -> bool:
        """True once every namespace's initial list is in the cache and was delivered."""
        return all(r.synced for r in self._reflectors)

    def get(self, key: str) -> KubeObject | None:
        return self.store.get(key)

    def stats(self) -> dict[str, int]:
        """List attempts, completed lists and started watches, summed over namespaces."""
        return {
            "list_attempts": sum(r.list_attempts for r in self._reflectors),
            "lists": sum(r.lists for r in self._reflectors),
            "watches": sum(r.watches for r in self._reflectors),
        }

    def objects(self, namespace: str | None = None) -> list[KubeObject]:
        if namespace is None:
            return self.store.objects()
        return self.store.by_index(NAMESPACE_INDEX, namespace)

    def by_index(self, index: str, value: str) -> list[KubeObject]:
        return self.store.by_index(index, value)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run in a daemon thread; returns it so the caller can join after setting stop."""
        thread = threading.Thread(target=self.run, args=(stop,), name=f"informer-{self.name}")
        thread.daemon = True
        thread.start()
        return thread

    def run(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set, running one reflector thread per namespace and the
        resync loop; on stop, abort open watches and join them."""
        threads = [
            threading.Thread(
                target=r.run, name=f"reflector-{self.name}-{r.namespace or 'all'}", daemon=True
            )
            for r in self._reflectors
        ]
        if self.resync_period:
            threads.append(
                threading.Thread(target=self._resync_loop, name=f"resync-{self.name}", daemon=True)
            )
        for thread in threads:
            thread.start()
        stop.wait()
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for reflector in self._reflectors:
            reflector.abort()
        for thread in threads:
            thread.join(timeout=30)

    def resync(self) -> int:
        """Redeliver every cached object as an update with old == new; returns how many."""
        count = 0
        for key in list(self.store.keys()):
            with self._dispatch_lock:
                obj = self.store.get(key)
                if obj is None:
                    continue
                self._deliver("update", obj, obj)
                count += 1
        return count

    # -- internals -----------------------------------------------------------------------

    def stopped(self) -> bool:
        return self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` on the injected clock; False when stopped meanwhile."""
        deadline = self.clock.now() + seconds
        with self._cond:
            while not self._stop.is_set():
                remaining = deadline - self.clock.now()
                if remaining <= 0:
                    return True
                self.clock.wait(self._cond, remaining)
        return False

    def _resync_loop(self) -> None:
        assert self.resync_period
        period = self.resync_period
        next_at = self.clock.now() + period
        while self.sleep(max(0.0, next_at - self.clock.now())):
            next_at = self.clock.now() + period
            if self.has_synced():
                count = self.resync()
                log.debug("informer resync", informer=self.name, objects=count)

    def _deliver(self, kind: str, a: KubeObject, b: KubeObject | None = None) -> None:
        for handler in list(self._handlers):
            try:
                if kind == "add":
                    handler.on_add(a)
                elif kind == "update":
                    assert b is not None
                    handler.on_update(a, b)
                else:
                    handler.on_delete(a)
            except Exception:
                log.exception("event handler failed", informer=self.name, event=kind)

    def apply_event(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """Apply one watch event to the cache and deliver it (ADDED on an existing key is an
        update, MODIFIED on a missing one an add, like client-go's ``HandleDeltas``)."""
        with self._dispatch_lock:
            current = self.store.get(object_key(obj))
            if current is not None and _older(obj, current):
                # A paginated list can be newer than the resourceVersion the watch resumes
                # from; replaying older events would briefly roll the cache back.
                return
            if event_type == "DELETED":
                old = self.store.delete(object_key(obj))
                if old is not None:
                    self._deliver("delete", _frozen(obj) if obj else old)
                return
            if current is not None and resource_version(current) == resource_version(obj):
                return  # already seen (a relist raced this event): never deliver twice
            previous, stored = self.store.upsert(obj)
            if previous is None:
                self._deliver("add", stored)
            else:
                self._deliver("update", previous, stored)

    def replace(self, namespace: str | None, items: Sequence[Mapping[str, Any]]) -> None:
        """Make the cache's view of ``namespace`` (all when None) equal ``items``, delivering
        only the differences."""
        with self._dispatch_lock:
            keys = (
                self.store.index_keys(NAMESPACE_INDEX, namespace)
                if namespace is not None
                else self.store.keys()
            )
            fresh = {object_key(obj): obj for obj in items}
            for key in keys:
                if key not in fresh:
                    old = self.store.delete(key)
                    if old is not None:
                        self._deliver("delete", old)
            for key, obj in fresh.items():
                current = self.store.get(key)
                if current is not None and resource_version(current) == resource_version(obj):
                    continue
                previous, stored = self.store.upsert(obj)
                if previous is None:
                    self._deliver("add", stored)
                else:
                    self._deliver("update", previous, stored)


def _frozen(obj: Mapping[str, Any]) -> KubeObject:
    return obj if isinstance(obj, MappingProxyType) else freeze(obj)


def _older(obj: Mapping[str, Any], than: KubeObject) -> bool:
    """Whether ``obj`` is strictly older than ``than``. resourceVersions are opaque, so only
    when both are integers (as every etcd-backed server and the emulator produce) are they
    compared; otherwise nothing is considered older."""
    a, b = resource_version(obj), resource_version(than)
    return a.isdigit() and b.isdigit() and int(a) < int(b)


class _Reflector:
    """List+watch of one namespace (or all) feeding the informer."""

    def __init__(self, informer: Informer, namespace: str | None) -> None:
        self.informer = informer
        self.namespace = namespace
        self.synced = False
        self.last_rv = ""
        # Counters for tests, benchmarks and debugging: how often we listed and watched.
        self.list_attempts = 0
        self.lists = 0
        self.watches = 0
        self._response: Any = None
        self._response_lock = threading.Lock()
        self._log = log.bind(informer=informer.name, namespace=namespace or "*")

    def run(self) -> None:
        inf = self.informer
        backoff = _Backoff(inf._rng)
        need_list = True
        while not inf.stopped():
            if need_list:
                try:
                    self.list_and_replace()
                except Exception as exc:
                    if inf.stopped():
                        return
                    delay = backoff.next()
                    self._log.warning(
                        "list failed; retrying", error=_describe(exc), retry_in=round(delay, 2)
                    )
                    inf.sleep(delay)
                    continue
                need_list = False
                backoff.reset()
            try:
                self.watch()
            except _Relist as exc:
                self._log.info("relisting", reason=str(exc), resource_version=self.last_rv)
                need_list = True
            except Exception as exc:
                if inf.stopped():
                    return
                delay = backoff.next()
                self._log.warning(
                    "watch failed; relisting", error=_describe(exc), retry_in=round(delay, 2)
                )
                need_list = True
                inf.sleep(delay)

    def list_and_replace(self) -> None:
        """A full (paginated) list, then a diff against the cache."""
        inf = self.informer
        self.list_attempts += 1
        items: list[Mapping[str, Any]] = []
        continue_token: str | None = None
        list_rv = ""
        while True:
            params: dict[str, Any] = {"limit": inf.page_size}
            if continue_token:
                params["_continue"] = continue_token
            if inf.label_selector:
                params["label_selector"] = inf.label_selector
            if inf.field_selector:
                params["field_selector"] = inf.field_selector
            resp = inf.resource.list(inf.api_client, self.namespace, **params)
            try:
                body = json.loads(resp.data)
            finally:
                resp.release_conn()
            meta = body.get("metadata") or {}
            if not list_rv:
                list_rv = str(meta.get("resourceVersion", ""))
            kind = inf.resource.kind
            api_version = inf.resource.api_version
            for item in body.get("items") or ():
                # Lists omit kind/apiVersion on items; restore them so objects look the same
                # whether they came from a list or a watch.
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
                items.append(freeze_decoded(item))
            continue_token = meta.get("continue") or None
            if not continue_token:
                break
        inf.replace(self.namespace, items)
        self.lists += 1
        self.last_rv = list_rv
        if not self.synced:
            self._log.info("informer synced", objects=len(items), resource_version=list_rv)
        self.synced = True

    def watch(self) -> None:
        inf = self.informer
        low, high = inf.watch_timeout_range
        timeout = inf._rng.randint(low, high) if high > low else low
        params: dict[str, Any] = {
            "watch": True,
            "allow_watch_bookmarks": True,
            "resource_version": self.last_rv,
            "timeout_seconds": timeout,
            "_request_timeout": (CONNECT_TIMEOUT, timeout + 30),
        }
        if inf.label_selector:
            params["label_selector"] = inf.label_selector
        if inf.field_selector:
            params["field_selector"] = inf.field_selector
        try:
            resp = inf.resource.list(inf.api_client, self.namespace, **params)
        except k8s.ApiException as exc:
            if is_gone(exc):
                raise _Relist("watch refused: resourceVersion too old (410)") from None
            raise
        self.watches += 1
        with self._response_lock:
            self._response = resp
        if inf.stopped():
            self.abort()
        try:
            for event in _iter_events(resp):
                if inf.stopped():
                    return
                self._handle(event)
        finally:
            with self._response_lock:
                self._response = None
            resp.release_conn()

    def _handle(self, event: Mapping[str, Any]) -> None:
        event_type = event.get("type")
        obj = event.get("object") or {}
        if event_type == "ERROR":
            if isinstance(from_object(obj), Gone):
                raise _Relist(f"watch expired (410): {obj.get('message', '')}")
            raise WatchError(f"watch error event {obj.get('code')}: {obj.get('message', '')}")
        rv = resource_version(obj)
        if event_type == "BOOKMARK":
            if rv:
                self.last_rv = rv
            return
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            self._log.warning("unknown watch event type ignored", type=event_type)
            return
        # The event was decoded for this call alone: freeze it where it lies.
        self.informer.apply_event(event_type, freeze_decoded(obj))
        if rv:
            self.last_rv = rv

    def abort(self) -> None:
        """Unblock a thread reading the watch stream (called from the stopping thread)."""
        with self._response_lock:
            resp = self._response
        if resp is None:
            return
        conn = getattr(resp, "_connection", None) or getattr(resp, "connection", None)
        sock = getattr(conn, "sock", None)
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class WatchError(Exception):
    """The server ended a watch with an ERROR event other than 410."""


class _Backoff:
    """client-go's reflector backoff: 0.8 s doubling to 30 s, jittered ±20 % so a fleet of
    informers does not retry in lockstep."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._next = BACKOFF_INITIAL

    def next(self) -> float:
        delay = self._next * (0.8 + 0.4 * self._rng.random())
        self._next = min(self._next * 2, BACKOFF_MAX)
        return delay

    def reset(self) -> None:
        self._next = BACKOFF_INITIAL


def _iter_events(resp: Any) -> Iterator[dict[str, Any]]:
    """Newline-delimited JSON watch events from a streaming response.

    A large object (a FirmwareSchema owned by a whole fleet) arrives in many chunks: they are
    collected and joined once its line ends, not re-concatenated and re-scanned per chunk.
    """
    parts: list[bytes] = []
    for chunk in resp.stream(amt=None, decode_content=False):
        if not chunk:
            continue
        if b"\n" not in chunk:
            parts.append(chunk)
            continue
        first, *lines, rest = chunk.split(b"\n")
        parts.append(first)
        lines.insert(0, b"".join(parts))
        parts = [rest] if rest else []
        for line in lines:
            if line.strip():
                yield json.loads(line)
    tail = b"".join(parts)
    if tail.strip():
        yield json.loads(tail)


def _describe(exc: BaseException) -> str:
    """Short, secret-free description of an API error (bodies may echo request data)."""
    if isinstance(exc, k8s.ApiException | urllib3.exceptions.HTTPError | OSError):
        return str(translate(exc))
    return f"{type(exc).__name__}"
