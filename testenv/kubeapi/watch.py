"""Open watches: the events a commit produces, and the per-watcher queues that receive them.

A watcher filters by namespace, labels and fields; an object that starts or stops matching on
a MODIFIED event is seen as ADDED or DELETED, as a kube-apiserver's watch cache reports it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from .resources import Key, Obj, ResourceType
from .selectors import Predicate


@dataclass(frozen=True)
class Event:
    rv: int
    key: Key
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    old: Obj | None


class Watcher:
    """One open watch: events matching its filters are queued and its condition notified."""

    def __init__(
        self,
        lock: threading.RLock,
        rt: ResourceType,
        namespace: str | None,
        labels: Predicate,
        fields: Predicate,
    ) -> None:
        self.cond = threading.Condition(lock)
        self.rt = rt
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: deque[tuple[str, Obj]] = deque()
        self.closed = False
        self.abrupt = False

    def matches(self, obj: Obj) -> bool:
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.labels(obj) and self.fields(obj)

    def offer(self, ev: Event) -> None:
        """Called with the store lock held."""
        if ev.key != self.rt.key:
            return
        now = self.matches(ev.obj)
        if ev.type == "MODIFIED" and ev.old is not None:
            before = self.matches(ev.old)
            etype = {
                (True, True): "MODIFIED",
                (False, True): "ADDED",
                (True, False): "DELETED",
            }.get((before, now))
        else:
            etype = ev.type if now else None
        if etype:
            self.queue.append((etype, ev.obj))
            self.cond.notify_all()

    def close(self, abrupt: bool = False) -> None:
        """Called with the store lock held."""
        self.closed = True
        self.abrupt = abrupt
        self.cond.notify_all()
