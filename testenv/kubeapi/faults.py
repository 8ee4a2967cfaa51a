"""Fault injection and the request log, both safe to drive from any test thread."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .resources import ResourceType
    from .store import Store


class RequestRecord(NamedTuple):
    """One answered request: ``path`` without the query string, which is kept in ``query``."""

    method: str
    path: str
    status: int
    query: str = ""
    user_agent: str = ""

    @property
    def is_watch(self) -> bool:
        return any(p in ("watch=1", "watch=true", "watch=True") for p in self.query.split("&"))


class RequestLog:
    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=limit)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(
        self,
        method: str | None = None,
        path: str | None = None,
        path_contains: str | None = None,
        status: int | None = None,
        watch: bool | None = None,
    ) -> int:
        return sum(
            1
            for r in self.snapshot()
            if (method is None or r.method == method.upper())
            and (path is None or r.path == path)
            and (path_contains is None or path_contains in r.path)
            and (status is None or r.status == status)
            and (watch is None or r.is_watch == watch)
        )


def resource_matches(wanted: str | None, rt: ResourceType | None) -> bool:
    """``wanted`` names a resource by plural, ``plural.group`` or kind (case-insensitive)."""
    if wanted is None:
        return True
    if rt is None:
        return False
    w = wanted.lower()
    return w in (rt.plural, rt.group_resource, rt.kind.lower(), rt.singular) or w in rt.short_names


@dataclass
class _Budget:
    remaining: int
    resource: str | None = None
    verb: str | None = None
    name: str | None = None


class Faults:
    """What the next requests suffer. Every method is thread-safe; ``clear()`` undoes all."""

    WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._gone: list[_Budget] = []
        self._conflicts: list[_Budget] = []
        self._share = 0.0
        self._share_status = 503
        self._share_resource: str | None = None
        self._rng = random.Random(0)
        self._latency = 0.0
        self._stalls: list[_Stall] = []
        self._held = 0

    # ---------------------------------------------------------------- what tests call
    def drop_watches(self, abrupt: bool = False, resource: str | None = None) -> int:
        """End every open watch now (``abrupt``: cut the connection mid-stream instead of
        ending the chunked response cleanly). Returns how many were dropped."""
        if resource is None:
            return self._store.drop_watches(abrupt)
        keys = [rt.key for rt in self._store.served_types() if resource_matches(resource, rt)]
        return sum(self._store.drop_watches(abrupt, key) for key in keys)

    def gone_next_watches(self, n: int = 1, resource: str | None = None) -> None:
        """The next ``n`` watch requests (of ``resource``) get a 410 Gone ERROR event."""
        with self._lock:
            self._gone.append(_Budget(n, resource))

    def conflict_next_writes(
        self,
        n: int = 1,
        resource: str | None = None,
        verb: str | None = None,
        name: str | None = None,
    ) -> None:
        """The next ``n`` matching writes fail with 409 Conflict and change nothing.
        ``verb``: create, update, patch, delete (or the HTTP method)."""
        with self._lock:
            self._conflicts.append(_Budget(n, resource, _verb(verb) if verb else None, name))

    def error_share(
        self, share: float = 0.2, status: int = 503, seed: int = 0, resource: str | None = None
    ) -> None:
        """Answer this share (0..1) of resource requests with ``status`` (seeded: reproducible)."""
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be between 0 and 1")
        with self._lock:
            self._share, self._share_status, self._share_resource = share, status, resource
            self._rng = random.Random(seed)

    def latency(self, seconds: float) -> None:
        """Delay every request by this long before answering it."""
        with self._lock:
            self._latency = max(0.0, seconds)

    def stall(
        self,
        path_contains: str | None = None,
        method: str | None = None,
        seconds: float = 60.0,
        user_agent: str | None = None,
    ) -> None:
        """Hold matching requests (path contains ``path_contains``, HTTP ``method``) without
        answering for up to ``seconds``, like an API server that accepted the connection and
        hangs. ``user_agent`` limits the stall to one client (two replicas sharing one
        emulator, one of them cut off). :meth:`clear` or :meth:`release_stalls` lets the held
        requests go on."""
        with self._lock:
            self._stalls.append(
                _Stall(path_contains, method.upper() if method else None, seconds, user_agent)
            )

    def held(self) -> int:
        """How many requests a stall is holding right now (to wait until a test's
        concurrent requests have all arrived)."""
        with self._lock:
            return self._held

    def release_stalls(self) -> None:
        with self._lock:
            stalls, self._stalls = self._stalls, []
        for s in stalls:
            s.released.set()

    def clear(self) -> None:
        self.release_stalls()
        with self._lock:
            self._gone.clear()
            self._conflicts.clear()
            self._share = 0.0
            self._latency = 0.0

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "goneNextWatches": [vars(b) for b in self._gone],
                "conflictNextWrites": [vars(b) for b in self._conflicts],
                "errorShare": self._share,
                "errorStatus": self._share_status,
                "latency": self._latency,
            }

    # ---------------------------------------------------------------- what the server asks
    def delay(self) -> float:
        with self._lock:
            return self._latency

    def hold(self, method: str, path: str, user_agent: str = "") -> None:
        """Block the calling request thread while a matching stall is in force."""
        with self._lock:
            match = next((s for s in self._stalls if s.matches(method, path, user_agent)), None)
        if match is not None:
            with self._lock:
                self._held += 1
            try:
                match.released.wait(match.seconds)
            finally:
                with self._lock:
                    self._held -= 1

    def take_gone(self, rt: ResourceType) -> bool:
        with self._lock:
            return _take(self._gone, lambda b: resource_matches(b.resource, rt))

    def take_conflict(self, rt: ResourceType, verb: str, name: str | None) -> bool:
        if verb not in self.WRITE_VERBS:
            return False
        with self._lock:
            return _take(
                self._conflicts,
                lambda b: (
                    resource_matches(b.resource, rt)
                    and (b.verb is None or b.verb == verb)
                    and (b.name is None or b.name == name)
                ),
            )

    def roll_error(self, rt: ResourceType | None) -> int | None:
        with self._lock:
            if self._share <= 0.0 or not resource_matches(self._share_resource, rt):
                return None
            return self._share_status if self._rng.random() < self._share else None


@dataclass
class _Stall:
    path_contains: str | None
    method: str | None
    seconds: float
    user_agent: str | None = None
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str, user_agent: str) -> bool:
        return (
            (self.method is None or self.method == method.upper())
            and (self.path_contains is None or self.path_contains in path)
            and (self.user_agent is None or self.user_agent == user_agent)
        )


def _verb(verb: str) -> str:
    v = verb.lower()
    return {"post": "create", "put": "update"}.get(v, v)


def _take(budgets: list[_Budget], pred: Any) -> bool:
    for b in budgets:
        if b.remaining > 0 and pred(b):
            b.remaining -= 1
            if b.remaining == 0:
                budgets.remove(b)
            return True
    return False
