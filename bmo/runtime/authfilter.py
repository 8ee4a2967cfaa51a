"""Who may read ``/metrics``: the API server decides, as controller-runtime's
``pkg/metrics/filters/filters.go`` ``WithAuthenticationAndAuthorization`` has it decide.

A scrape carries a bearer token (Prometheus' service account token). The token is checked
with a ``TokenReview`` (authentication.k8s.io/v1), and the user it names with a
``SubjectAccessReview`` (authorization.k8s.io/v1) for ``get`` on the non-resource URL - which
RBAC grants with the ``metrics-reader`` ClusterRole. Results are cached like upstream's
delegating authenticator and authorizer (authentication 1 min, allow 5 min, deny 30 s) so a
scrape every few seconds does not become two API calls every few seconds; the cache is keyed
by a hash of the token, never the token itself, and bounded in size.

A failing API server fails the scrape (500, not cached): metrics are never served unvetted.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from kubernetes import client as k8s

from bmo.runtime.clock import Clock, RealClock

log = structlog.get_logger(__name__)

__all__ = ["DelegatingAuthorizer", "ReviewTTLs"]

UNAUTHORIZED = (401, "Unauthorized")
FORBIDDEN = (403, "Forbidden")
UNAVAILABLE = (500, "cannot check the request's credentials with the API server")


@dataclass(frozen=True)
class ReviewTTLs:
    """controller-runtime ``filters.go``: ``CacheTTL``, ``AllowCacheTTL``, ``DenyCacheTTL``."""

    authenticated: float = 60.0
    allowed: float = 300.0
    denied: float = 30.0
    max_entries: int = 1024


@dataclass(frozen=True)
class _User:
    name: str
    uid: str
    groups: tuple[str, ...]


V = TypeVar("V")


class _TTLCache(Generic[V]):
    def __init__(self, clock: Clock, max_entries: int) -> None:
        self._clock = clock
        self._max = max_entries
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] <= self._clock.now():
                del self._items[key]
                return None
            return item[1]

    def put(self, key: str, value: V, ttl: float) -> None:
        with self._lock:
            self._items[key] = (self._clock.now() + ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)


class DelegatingAuthorizer:
    """An :data:`~bmo.runtime.health.Authorizer`: ``None`` to serve, else (status, reason)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        ttls: ReviewTTLs | None = None,
        clock: Clock | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        self.ttls = ttls or ReviewTTLs()
        self._authn = k8s.AuthenticationV1Api(api_client)
        self._authz = k8s.AuthorizationV1Api(api_client)
        self._timeout = request_timeout
        clock = clock if clock is not None else RealClock()
        self._users: _TTLCache[tuple[_User | None]] = _TTLCache(clock, self.ttls.max_entries)
        self._decisions: _TTLCache[bool] = _TTLCache(clock, self.ttls.max_entries)

    def __call__(self, path: str, headers: Mapping[str, str]) -> tuple[int, str] | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return UNAUTHORIZED
        try:
            user = self._authenticate(token)
            if user is None:
                return UNAUTHORIZED
            if not self._authorize(user, "get", path):
                log.info("metrics request denied", user=user.name, path=path)
                return FORBIDDEN
        except Exception as exc:
            log.warning("metrics request not vetted", error=type(exc).__name__)
            return UNAVAILABLE
        return None

    def _authenticate(self, token: str) -> _User | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._users.get(key)
        if cached is not None:
            return cached[0]
        review = self._authn.create_token_review(
            k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token)),
            _request_timeout=self._timeout,
        )
        status = review.status
        user: _User | None = None
        if status is not None and status.authenticated and status.user is not None:
            info = status.user
            user = _User(info.username or "", info.uid or "", tuple(info.groups or ()))
        # An unknown token is cached (for the deny TTL) too: a scraper with a bad token
        # must not turn every scrape into a TokenReview.
        self._users.put(
            key, (user,), self.ttls.authenticated if user is not None else self.ttls.denied
        )
        return user

    def _authorize(self, user: _User, verb: str, path: str) -> bool:
        key = "\0".join((user.name, user.uid, ",".join(user.groups), verb, path))
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        review = self._authz.create_subject_access_review(
            k8s.V1SubjectAccessReview(
                spec=k8s.V1SubjectAccessReviewSpec(
                    user=user.name,
                    uid=user.uid or None,
                    groups=list(user.groups),
                    non_resource_attributes=k8s.V1NonResourceAttributes(path=path, verb=verb),
                )
            ),
            _request_timeout=self._timeout,
        )
        allowed = bool(review.status is not None and review.status.allowed)
        self._decisions.put(key, allowed, self.ttls.allowed if allowed else self.ttls.denied)
        return allowed
