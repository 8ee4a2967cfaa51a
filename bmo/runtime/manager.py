"""The manager: owns the process's lifecycle so reconcilers own none of it.

It starts, in order: probe and metrics endpoints, informers (caches fill whether or not we
lead: a new leader is ready at once), leader election, and - only while leading and once
every cache has synced - the controllers. On stop it reverses that: controllers stop taking
work and finish what is in flight, informers stop, the lease is released (only after the
last reconcile ended, so a successor never overlaps with us), endpoints close.

Losing the lease is fatal, as in controller-runtime: the manager stops everything and
:meth:`Manager.run` returns 1 so the process exits non-zero and is restarted clean.

Controllers register with it the way controller-runtime's ``SetupWithManager`` does: each
asks :meth:`Manager.informer` for the informers it watches (one per resource and selector,
shared between controllers, on the manager's client and namespaces, like controller-runtime's
``cache.GetInformer``), adds its event handlers to them, and hands its
:class:`~bmo.runtime.controller.Controller` to :meth:`Manager.add_controller`. The manager
knows no kind: it runs whatever was registered (controller-runtime ``pkg/manager/internal.go``
``controllerManager.Start``).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import structlog
from kubernetes import client as k8s
from kubernetes.client import rest as k8s_rest
from urllib3.util.retry import Retry

from bmo.runtime.authfilter import DelegatingAuthorizer
from bmo.runtime.cache import IndexFunc
from bmo.runtime.clock import Clock, RealClock
from bmo.runtime.controller import Controller
from bmo.runtime.health import Check, Checks, HttpEndpoint, metrics_route
from bmo.runtime.informer import Informer, Resource
from bmo.runtime.leader import LeaderElector, LeaseConfig, default_identity
from bmo.runtime.ratelimit import BucketRateLimiter
from bmo.runtime.registry import REGISTRY
from bmo.runtime.selfsigned import self_signed_context
from bmo.runtime.settings import (
    DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT,
    DEFAULT_KUBE_BURST,
    DEFAULT_KUBE_CONNECT_TIMEOUT,
    DEFAULT_KUBE_QPS,
    DEFAULT_KUBE_REQUEST_TIMEOUT,
    LeaderElectionSettings,
    ManagerSettings,
)

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_LEADERSHIP_LOST = 1
SPARE_CONNECTIONS = 4
"""Connections beyond the workers' and watches': leader election, the metrics endpoint's
token and access reviews, the webhook's cache-miss lookups."""


def api_type(url: str) -> str:
    """The API type a request addresses (``group/plural``; core: ``plural``), from its URL.
    Subresources (``/status``) count as their object's type, as in controller-runtime,
    whose status writer shares the object's REST client."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    for i, part in enumerate(parts):  # the server URL may carry a path prefix
        if part == "api":
            group, rest = "", parts[i + 2 :]
            break
        if part == "apis":
            group, rest = (parts[i + 1] if len(parts) > i + 1 else ""), parts[i + 3 :]
            break
    else:
        return parts[0] if parts else ""  # /version, /openapi/v2, ...
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    plural = rest[0] if rest else ""
    return f"{group}/{plural}" if group else plural


def size_connection_pool(api_client: k8s.ApiClient, connections: int) -> bool:
    """Let ``api_client`` keep ``connections`` idle connections to the API server; returns
    whether its pool grew. Call before its first request.

    The Python client's urllib3 pool keeps ``cpu_count * 5`` connections by default (10 on a
    2-core machine) while bmo's workers and watches hold many more at once; every connection
    past the pool size was closed when its request ended ("Connection pool is full,
    discarding connection") and the next request opened a new one. client-go shares one
    HTTP/2 connection between all of a process's requests, so nothing upstream corresponds;
    what matters is that a connection is reused rather than re-dialled.

    The pool reads its size from the configuration when the REST client is built, so a larger
    one takes a new REST client (the old one's pools are closed).
    """
    configuration = api_client.configuration
    if connections <= (configuration.connection_pool_maxsize or 0):
        return False
    configuration.connection_pool_maxsize = connections
    old = api_client.rest_client
    api_client.rest_client = k8s_rest.RESTClientObject(configuration)
    old.close()
    return True


class RateLimitedApiClient(k8s.ApiClient):
    """An ``ApiClient`` whose every request first takes a token from the bucket of the API
    type it addresses (``--kube-api-qps`` / ``--kube-api-burst`` each), and carries a request
    timeout (client-go ``rest.Config.Timeout``).

    One bucket per API type, not one for the client: upstream's ``main.go`` sets
    ``restConfig.QPS``/``Burst`` and no shared ``RateLimiter``, and controller-runtime's
    client builds one REST client per GroupVersionKind (``client_rest_resources.go
    newResource`` → ``apiutil.RESTClientForGVK``), each with its own token bucket from those
    settings. So the Go operator's hosts, Secrets, HardwareData, firmware objects and Leases
    each have the whole budget; this client gives bmo the same budget.

    The Python client has no limiter of its own; without one a burst of failing reconciles
    can flood the API server. A watch costs one token when it starts.

    The timeout is set here, once, so no call site can forget it: a call that passes its own
    ``_request_timeout`` (a watch: server-side ``timeoutSeconds`` plus a read margin; a Lease
    call bounded by the renew deadline) keeps it, every other call - writes, Secret and
    HardwareData reads, relists - gets ``(connect_timeout, request_timeout)``.
    """

    def __init__(
        self,
        configuration: k8s.Configuration | None = None,
        *,
        qps: float = DEFAULT_KUBE_QPS,
        burst: int = DEFAULT_KUBE_BURST,
        clock: Clock | None = None,
        request_timeout: float = DEFAULT_KUBE_REQUEST_TIMEOUT,
        connect_timeout: float = DEFAULT_KUBE_CONNECT_TIMEOUT,
    ) -> None:
        if not request_timeout > 0 or not connect_timeout > 0:
            raise ValueError("Kubernetes API timeouts must be positive")
        if configuration is None:
            configuration = k8s.Configuration.get_default_copy()
        if configuration.retries is None:
            # urllib3 retries an idempotent call 3 times on a read timeout: a stalled server
            # would hold a GET four times the timeout. Connection failures are still retried;
            # a timed-out read is the caller's (the work queue's) to retry, with backoff.
            configuration.retries = Retry(total=3, read=0, redirect=0)
        super().__init__(configuration)
        self._clock: Clock = clock if clock is not None else RealClock()
        self._qps = qps
        self._burst = burst
        self._buckets: dict[str, BucketRateLimiter] = {}
        self._buckets_lock = threading.Lock()
        self.request_timeout = request_timeout
        self.connect_timeout = min(connect_timeout, request_timeout)

    def _bucket(self, kind: str) -> BucketRateLimiter:
        with self._buckets_lock:
            bucket = self._buckets.get(kind)
            if bucket is None:
                # Bounded: the API types bmo's code addresses (about a dozen).
                bucket = BucketRateLimiter(qps=self._qps, burst=self._burst, clock=self._clock)
                self._buckets[kind] = bucket
            return bucket

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = (self.connect_timeout, self.request_timeout)
        # ``call_api(method, url, ...)``: the URL is complete by now.
        kind = api_type(str(args[1] if len(args) > 1 else kwargs.get("url", "")))
        self._clock.sleep(self._bucket(kind).when(kind))
        return super().call_api(*args, **kwargs)


class Manager:
    """Runs informers and controllers under leader election, with probes and metrics.

    ``leader_election`` ``None`` (or not enabled) means this process always leads.
    """

    def __init__(
        self,
        settings: ManagerSettings,
        api_client: k8s.ApiClient,
        *,
        leader_election: LeaderElectionSettings | None = None,
        clock: Clock | None = None,
        identity: str | None = None,
        graceful_shutdown_timeout: float = DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.leader_election = (
            leader_election if leader_election is not None else LeaderElectionSettings()
        )
        self.api_client = api_client
        self.clock: Clock = clock if clock is not None else RealClock()
        self.identity = identity or default_identity()
        self.graceful_shutdown_timeout = graceful_shutdown_timeout
        self.informers: list[Informer] = []
        self.controllers: list[Controller] = []
        self._shared: dict[tuple[Resource, str | None, str | None], Informer] = {}
        self._stop_hooks: list[Callable[[], None]] = []
        self.healthz = Checks("healthz")
        self.readyz = Checks("readyz")
        self.healthz.add("ping", lambda: True)
        self.readyz.add("informers", self.caches_synced)
        self.health_endpoint: HttpEndpoint | None = None
        self.metrics_endpoint: HttpEndpoint | None = None
        self.elector: LeaderElector | None = None
        self._leading = threading.Event()
        self._lost = threading.Event()
        self._wake = threading.Event()
        self._started = threading.Event()
        self._controllers_started = False
        self._stop_requested = False

    # -- wiring --------------------------------------------------------------------------

    def informer(
        self,
        resource: Resource,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        resync_period: float | None = None,
    ) -> Informer:
        """The informer for ``resource`` (and these selectors) on the manager's client and
        namespaces, created on first request and shared after that (controller-runtime's
        ``cache.GetInformer``): two controllers watching one kind share one watch and one
        cache. Indexers a later caller asks for are added (a name already there keeps its
        function); the shortest resync period asked for wins, as with client-go's shared
        informer. Register before :meth:`run`.
        """
        key = (resource, label_selector, field_selector)
        informer = self._shared.get(key)
        if informer is None:
            informer = self.add_informer(
                Informer(
                    self.api_client,
                    resource,
                    namespaces=self.settings.namespaces,
                    label_selector=label_selector,
                    field_selector=field_selector,
                    indexers=indexers,
                    resync_period=resync_period,
                )
            )
            self._shared[key] = informer
            return informer
        missing = {n: f for n, f in (indexers or {}).items() if not informer.store.has_index(n)}
        if missing:
            informer.store.add_indexers(missing)
        if resync_period is not None and (
            informer.resync_period is None or resync_period < informer.resync_period
        ):
            informer.resync_period = resync_period
        return informer

    def add_informer(self, informer: Informer) -> Informer:
        """Run an informer built by the caller (one :meth:`informer` cannot express)."""
        self.informers.append(informer)
        return informer

    def add_controller(self, controller: Controller) -> Controller:
        """Start ``controller`` once this manager leads and every cache has synced."""
        self.controllers.append(controller)
        return controller

    def add_stop_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when :meth:`run` returns, whatever the reason (e.g. to stop serving
        gauges read from a cache that no longer updates)."""
        self._stop_hooks.append(hook)

    def add_ready_check(self, name: str, check: Check) -> None:
        """Extra ``/readyz`` checks, e.g. the webhook server."""
        self.readyz.add(name, check)

    def add_health_check(self, name: str, check: Check) -> None:
        self.healthz.add(name, check)

    # -- state ---------------------------------------------------------------------------

    def caches_synced(self) -> bool:
        return all(informer.has_synced() for informer in self.informers)

    def connections_wanted(self) -> int:
        """How many API connections this manager's threads hold at most at once: one per
        reconcile worker (a reconcile makes its calls one after another), one per watch
        (relists happen on the watching thread), and :data:`SPARE_CONNECTIONS`."""
        workers = sum(controller.workers for controller in self.controllers)
        watches = sum(informer.connections for informer in self.informers)
        return workers + watches + SPARE_CONNECTIONS

    def is_leader(self) -> bool:
        return self._leading.is_set()

    def wait_started(self, timeout: float) -> bool:
        """Real-time wait until endpoints are listening (their ports are known)."""
        return self._started.wait(timeout)

    @property
    def health_port(self) -> int | None:
        return self.health_endpoint.port if self.health_endpoint else None

    @property
    def metrics_port(self) -> int | None:
        return self.metrics_endpoint.port if self.metrics_endpoint else None

    # -- run -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> int:
        """Block until ``stop`` is set or leadership is lost; returns the exit code."""
        informer_stop = threading.Event()
        elector_stop = threading.Event()
        threads: list[threading.Thread] = []
        if size_connection_pool(self.api_client, self.connections_wanted()):
            log.info(
                "Kubernetes API connection pool sized",
                connections=self.api_client.configuration.connection_pool_maxsize,
            )
        try:
            self._start_endpoints()
            self._started.set()
            for informer in self.informers:
                threads.append(informer.start(informer_stop))
            elector_thread = self._start_election(elector_stop)
            threading.Thread(
                target=self._relay, args=(stop,), name="manager-stop", daemon=True
            ).start()

            while not (stop.is_set() or self._lost.is_set()):
                if self._leading.is_set() and not self._controllers_started:
                    if self.caches_synced():
                        self._start_controllers()
                    else:
                        # Caches fill in seconds; re-check rather than wire a callback
                        # through every informer.
                        self._wake.wait(0.05)
                        continue
                self._wake.wait()
                self._wake.clear()

            self._stop_requested = True
            lost = self._lost.is_set()
            log.info(
                "manager stopping",
                reason="leader lease lost" if lost else "stop requested",
            )
            # After losing the lease a successor may start soon: do not linger. Workers
            # still in a reconcile die with the process.
            self._stop_controllers(0.0 if lost else self.graceful_shutdown_timeout)
            informer_stop.set()
            for thread in threads:
                thread.join(timeout=30)
            elector_stop.set()
            if elector_thread is not None:
                elector_thread.join(timeout=30)
            log.info("manager stopped", exit_code=EXIT_LEADERSHIP_LOST if lost else EXIT_OK)
            return EXIT_LEADERSHIP_LOST if lost else EXIT_OK
        finally:
            informer_stop.set()
            elector_stop.set()
            self._stop_endpoints()
            self._run_stop_hooks()

    def _run_stop_hooks(self) -> None:
        for hook in self._stop_hooks:
            try:
                hook()
            except Exception:
                log.exception("manager stop hook failed")

    def _relay(self, stop: threading.Event) -> None:
        stop.wait()
        self._wake.set()

    def _start_endpoints(self) -> None:
        addr = self.settings.health_addr
        self.health_endpoint = HttpEndpoint(
            addr.host,
            addr.port,
            {"/healthz": self.healthz.route, "/readyz": self.readyz.route},
            name="health",
        )
        self.health_endpoint.start()
        if self.settings.metrics_addr is not None:
            maddr = self.settings.metrics_addr
            tls: Callable[[], ssl.SSLContext] | None = None
            authorize: DelegatingAuthorizer | None = None
            if self.settings.metrics_secure:
                # controller-runtime pkg/metrics/server/server.go Start: SecureServing with
                # no CertDir serves a self-signed certificate; FilterProvider vets each scrape.
                context = self_signed_context(policy=self.settings.tls)
                tls = lambda: context  # noqa: E731 - the same context for every connection
                authorize = DelegatingAuthorizer(self.api_client, clock=self.clock)
            self.metrics_endpoint = HttpEndpoint(
                maddr.host,
                maddr.port,
                {"/metrics": metrics_route(REGISTRY)},
                name="metrics",
                tls=tls,
                authorize=authorize,
            )
            self.metrics_endpoint.start()

    def _stop_endpoints(self) -> None:
        for endpoint in (self.health_endpoint, self.metrics_endpoint):
            if endpoint is not None:
                endpoint.stop()

    def _start_election(self, elector_stop: threading.Event) -> threading.Thread | None:
        le = self.leader_election
        if not le.enabled:
            self._leading.set()
            return None
        if le.namespace is None or not le.lease_name:
            raise ValueError("leader election needs a Lease namespace and name")
        config = LeaseConfig(
            namespace=le.namespace,
            name=le.lease_name,
            identity=self.identity,
            lease_duration=le.lease_duration,
            renew_deadline=le.renew_deadline,
            retry_period=le.retry_period,
        )
        self.elector = LeaderElector(
            self.api_client,
            config,
            on_started_leading=self._on_started_leading,
            on_stopped_leading=self._on_stopped_leading,
            clock=self.clock,
        )
        thread = threading.Thread(
            target=self.elector.run, args=(elector_stop,), name="leader-election", daemon=True
        )
        thread.start()
        return thread

    def _on_started_leading(self) -> None:
        log.info("became leader", identity=self.identity)
        self._leading.set()
        self._wake.set()

    def _on_stopped_leading(self) -> None:
        was_leading = self._leading.is_set()
        self._leading.clear()
        # Releasing the lease on a requested stop also ends leadership; that is no loss.
        if was_leading and not self._stop_requested:
            self._lost.set()
            self._wake.set()

    def _start_controllers(self) -> None:
        self._controllers_started = True
        for controller in self.controllers:
            controller.start()
        log.info("controllers started", controllers=[c.name for c in self.controllers])

    def _stop_controllers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for controller in self.controllers:
            remaining = max(0.0, deadline - time.monotonic())
            if not controller.stop(timeout=remaining) and timeout > 0:
                log.warning(
                    "in-flight reconciles did not finish in time",
                    controller=controller.name,
                    timeout=timeout,
                )
