"""The runtime's settings groups: how to reach the API server, what the manager serves and
watches, how it elects a leader.

Typed, frozen values with the controller-runtime / client-go defaults, each defined once
here. They hold no application knowledge (no lease name, no flag names): ``bmo.settings``
composes them into the operator's root ``Settings``, parses flags and the environment into
them and validates them, once, at start.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Final

from bmo.tlspolicy import TLSPolicy

__all__ = [
    "DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT",
    "DEFAULT_HEALTH_ADDR",
    "DEFAULT_KUBE_BURST",
    "DEFAULT_KUBE_QPS",
    "DEFAULT_KUBE_REQUEST_TIMEOUT",
    "DEFAULT_LEASE_DURATION",
    "DEFAULT_METRICS_ADDR",
    "DEFAULT_RENEW_DEADLINE",
    "DEFAULT_RETRY_PERIOD",
    "DEFAULT_SYNC_PERIOD",
    "Address",
    "KubeSettings",
    "LeaderElectionSettings",
    "ManagerSettings",
    "is_loopback",
]


@dataclass(frozen=True)
class Address:
    """A ``host:port`` bind address; an empty host means every interface, like Go's
    ``:9440``."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


DEFAULT_KUBE_QPS: Final = 20.0
"""Sustained Kubernetes API requests per second (the Go operator's ``main.go`` default)."""
DEFAULT_KUBE_BURST: Final = 30
"""Kubernetes API request burst (the Go operator's ``main.go`` default)."""

DEFAULT_KUBE_REQUEST_TIMEOUT: Final = 60.0
"""Seconds any one non-watch Kubernetes API call may take before the client gives up: the
API server's own ``--request-timeout`` default (1 min), past which it answers 504 anyway.
Without it a hung connection pins a worker, or freezes a cache mid-relist, forever."""
DEFAULT_KUBE_CONNECT_TIMEOUT: Final = 10.0
"""Seconds to establish the connection (TCP and TLS) before a call fails."""

DEFAULT_LEASE_DURATION: Final = 15.0
"""controller-runtime ``pkg/manager/internal.go`` ``defaultLeaseDuration``."""
DEFAULT_RENEW_DEADLINE: Final = 10.0
"""controller-runtime ``pkg/manager/internal.go`` ``defaultRenewDeadline``."""
DEFAULT_RETRY_PERIOD: Final = 2.0
"""controller-runtime ``pkg/manager/internal.go`` ``defaultRetryPeriod``."""

DEFAULT_HEALTH_ADDR: Final = Address("", 9440)
"""Where ``/healthz`` and ``/readyz`` listen (the Go operator's ``main.go`` ``-health-addr``)."""
DEFAULT_METRICS_ADDR: Final = Address("", 8443)
"""HTTPS with TokenReview + SubjectAccessReview, as upstream ``main.go`` serves metrics
(``metricsserver.Options{SecureServing: true, FilterProvider:
filters.WithAuthenticationAndAuthorization}`` on ``:8443``). Plain HTTP is for development
and only on a loopback address (``ManagerSettings.metrics_secure`` false)."""

DEFAULT_SYNC_PERIOD: Final = 10 * 60 * 60.0
"""controller-runtime ``pkg/cache/cache.go`` ``defaultSyncPeriod`` (10 h): how often an
informer that asks for it redelivers every cached object. A safety net, not a polling loop."""
DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT: Final = 30.0
"""controller-runtime ``pkg/manager/internal.go`` ``defaultGracefulShutdownPeriod``: how
long in-flight reconciles may take to finish on a requested stop."""


@dataclass(frozen=True)
class KubeSettings:
    """How to reach the API server and how hard to hit it."""

    kubeconfig: str | None = None
    url: str | None = None
    qps: float = DEFAULT_KUBE_QPS
    burst: int = DEFAULT_KUBE_BURST
    request_timeout: float = DEFAULT_KUBE_REQUEST_TIMEOUT


@dataclass(frozen=True)
class LeaderElectionSettings:
    """client-go ``leaderelection`` timings; ``namespace`` and ``lease_name`` say which Lease.

    The application names the Lease (controller-runtime's ``LeaderElectionID``); an enabled
    election needs both it and a namespace.
    """

    enabled: bool = False
    namespace: str | None = None
    lease_name: str = ""
    lease_duration: float = DEFAULT_LEASE_DURATION
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD


@dataclass(frozen=True)
class ManagerSettings:
    """What the manager serves and watches: controller-runtime's ``manager.Options``.

    ``namespaces`` empty means cluster-wide (the cache's ``DefaultNamespaces``);
    ``metrics_addr`` ``None`` disables the metrics endpoint; ``metrics_secure`` false serves
    it as plain HTTP without authentication, which is refused unless it binds loopback.
    ``tls`` is the TLS policy of the metrics server.
    """

    namespaces: tuple[str, ...] = ()
    health_addr: Address = DEFAULT_HEALTH_ADDR
    metrics_addr: Address | None = DEFAULT_METRICS_ADDR
    metrics_secure: bool = True
    tls: TLSPolicy = field(default_factory=TLSPolicy)

    def __post_init__(self) -> None:
        addr = self.metrics_addr
        if addr is not None and not self.metrics_secure and not is_loopback(addr.host):
            raise ValueError(
                f"metrics on {addr} as plain HTTP would serve them unauthenticated to the "
                "network: bind a loopback address (e.g. 127.0.0.1:8080) for development, or "
                "serve HTTPS with TokenReview/SubjectAccessReview (the default, :8443)"
            )


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1; an empty host (every interface) is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
