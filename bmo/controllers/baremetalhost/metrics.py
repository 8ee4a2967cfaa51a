"""The Go operator's ``metal3_*`` Prometheus metrics, and scrape-time gauges of host states.

Names, types, label names and histogram buckets are exactly upstream's
(``internal/controller/metal3.io/metrics.go``), so dashboards and alerts written for the Go
operator keep working; that includes the double underscore in
``metal3_delayed__provisioning_total``. Every metric is created once, at import, on
``bmo.runtime.registry.REGISTRY``; callers only add label children.

prometheus_client appends ``_total`` to counter names itself, so counters are declared
without it. It also exposes a ``<name>_created`` series per counter and histogram child,
which client_golang never does: it doubles the series count of every per-host vector and
surprises anyone diffing ``/metrics`` against the Go operator, so it is switched off at import
(``disable_created_metrics`` is process-wide; bmo owns the process it runs in).

There is one way to record a metric: a :class:`~bmo.hoststate.actions.MetricSample` named by
a :class:`~bmo.hoststate.actions.Metrics` constant, handed to :func:`apply` (or a pass's
samples to :func:`apply_all`). The state machine describes its samples and the reconciler
applies them once the status write succeeded (upstream increments in post-save callbacks, so
a failed write counts nothing); the reconciler's own counts (reconciles, credentials and
host-config-data errors) are samples too.

Host counts by state are not counters at all: :class:`HostStateCollector` computes
``bmo_hosts*`` gauges from the informer's cache when Prometheus scrapes, so they are never
stale and never accumulate a series per host.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

import prometheus_client
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bmo.api.constants import ErrorType, OperationalStatus, ProvisioningState
from bmo.api.host import BareMetalHost
from bmo.hoststate.actions import MetricKind, MetricSample
from bmo.runtime.registry import REGISTRY

__all__ = [
    "DEFAULT_BUCKETS",
    "HOSTS",
    "SLOW_OPERATION_BUCKETS",
    "HostDataType",
    "HostSnapshot",
    "HostStateCollector",
    "MetricKindError",
    "MetricLabelsError",
    "MetricsError",
    "UnknownMetricError",
    "apply",
    "apply_all",
    "exported_names",
    "forget_host",
    "install_host_collector",
    "uninstall_host_collector",
]

log = structlog.get_logger(__name__)

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

DEFAULT_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""client_golang's ``prometheus.DefBuckets``; prometheus_client's own default differs."""

SLOW_OPERATION_BUCKETS: Final = (30.0, 90.0, 180.0, 360.0, 720.0, 1440.0)
"""Upstream's ``slowOperationBuckets`` for inspect, provision and deprovision."""

_HOST_LABELS: Final = ("namespace", "host")

HostDataType = Literal["userData", "networkData", "metaData"]
"""The ``host_data_type`` label values of ``metal3_host_config_data_error_total``."""


class MetricsError(Exception):
    """Base of the errors this module raises: a caller used a metric wrongly."""


class UnknownMetricError(MetricsError, KeyError):
    """A sample names a metric bmo does not define."""


class MetricLabelsError(MetricsError, ValueError):
    """A sample carries label names other than the metric's."""


class MetricKindError(MetricsError, ValueError):
    """A sample observes a counter or increments a histogram."""


# --- the metrics (upstream metrics.go) -------------------------------------------------------

RECONCILE = Counter(
    "metal3_reconcile",
    "The number of times hosts have been reconciled",
    _HOST_LABELS,
    registry=REGISTRY,
)
RECONCILE_ERROR = Counter(
    "metal3_reconcile_error",
    "The number of times the operator has failed to reconcile a host",
    registry=REGISTRY,
)
HOST_ERROR = Counter(
    "metal3_host_error",
    "The number of times hosts have entered an error state",
    ["error_type"],
    registry=REGISTRY,
)
POWER_CHANGE = Counter(
    "metal3_operation_power_change",
    "The number of times the operator has changed the power state of a host",
    [*_HOST_LABELS, "on_off"],
    registry=REGISTRY,
)
DELAYED_PROVISIONING = Counter(
    "metal3_delayed__provisioning",
    "The number of times hosts have been delayed while provisioning due to limited capacity",
    _HOST_LABELS,
    registry=REGISTRY,
)
DELAYED_DEPROVISIONING = Counter(
    "metal3_delayed__deprovisioning",
    "The number of times hosts have been delayed while deprovisioning due to limited capacity",
    _HOST_LABELS,
    registry=REGISTRY,
)
OPERATION_DURATION: Final[Mapping[str, Histogram]] = MappingProxyType(
    {
        "register": Histogram(
            "metal3_operation_register_duration_seconds",
            "Length of time per registration per host",
            _HOST_LABELS,
            buckets=DEFAULT_BUCKETS,
            registry=REGISTRY,
        ),
        "inspect": Histogram(
            "metal3_operation_inspect_duration_seconds",
            "Length of time per hardware inspection per host",
            _HOST_LABELS,
            buckets=SLOW_OPERATION_BUCKETS,
            registry=REGISTRY,
        ),
        "provision": Histogram(
            "metal3_operation_provision_duration_seconds",
            "Length of time per provisioning operation per host",
            _HOST_LABELS,
            buckets=SLOW_OPERATION_BUCKETS,
            registry=REGISTRY,
        ),
        "deprovision": Histogram(
            "metal3_operation_deprovision_duration_seconds",
            "Length of time per deprovisioning operation per host",
            _HOST_LABELS,
            buckets=SLOW_OPERATION_BUCKETS,
            registry=REGISTRY,
        ),
    }
)
CREDENTIALS_MISSING = Counter(
    "metal3_credentials_missing",
    "Number of times a host's credentials are found to be missing",
    registry=REGISTRY,
)
CREDENTIALS_INVALID = Counter(
    "metal3_credentials_invalid",
    "Number of times a host's credentials are found to be invalid",
    registry=REGISTRY,
)
CREDENTIALS_UNHANDLED_ERROR = Counter(
    "metal3_credentials_unhandled_error",
    "Number of times getting a host's credentials fails in an unexpected way",
    registry=REGISTRY,
)
CREDENTIALS_UPDATED = Counter(
    "metal3_credentials_updated",
    "Number of times a host's credentials change",
    registry=REGISTRY,
)
CREDENTIALS_NO_MANAGEMENT_ACCESS = Counter(
    "metal3_credentials_no_management_access",
    "Number of times a host management interface is unavailable",
    registry=REGISTRY,
)
HOST_CONFIG_DATA_ERROR = Counter(
    "metal3_host_config_data_error",
    "Number of times the operator has failed to retrieve host configuration data",
    ["host_data_type"],
    registry=REGISTRY,
)
STATE_CHANGE = Counter(
    "metal3_provisioning_state_change",
    "Number of times a state transition has occurred",
    ["prev_state", "new_state"],
    registry=REGISTRY,
)
HOST_REGISTRATION_REQUIRED = Counter(
    "metal3_host_registration_required",
    "Number of times a host is found to require registration",
    registry=REGISTRY,
)
HOST_UNMANAGED = Counter(
    "metal3_host_unmanaged",
    "Number of times a host is found to be unmanaged",
    registry=REGISTRY,
)
DELETE_WITHOUT_DEPROVISIONING = Counter(
    "metal3_delete_without_deprovisioning",
    "Number of times a host is deleted despite deprovisioning failing",
    registry=REGISTRY,
)
PROVISIONER_NOT_READY = Counter(
    "metal3_provisioner_not_ready",
    "Number of times a host is not provision ready",
    registry=REGISTRY,
)
DELETE_DELAYED_FOR_DETACHED = Counter(
    "metal3_delete_delayed_for_detached",
    "Number of times a host deletion was delayed because the host is detached",
    registry=REGISTRY,
)

_PER_HOST: Final[tuple[Counter | Histogram, ...]] = (
    RECONCILE,
    DELAYED_PROVISIONING,
    DELAYED_DEPROVISIONING,
    *OPERATION_DURATION.values(),
)


def forget_host(namespace: str, host: str) -> None:
    """Drop a deleted host's per-host series.

    Upstream keeps them until the process restarts, so a cluster that churns hosts grows
    ``/metrics`` without bound; removing a gone host's children is invisible to ``rate()``
    and ``increase()`` and keeps the exposition proportional to the live hosts.
    """
    for metric in _PER_HOST:
        with contextlib.suppress(KeyError):
            metric.remove(namespace, host)
    for on_off in ("on", "off"):
        with contextlib.suppress(KeyError):
            POWER_CHANGE.remove(namespace, host, on_off)


# --- recording -------------------------------------------------------------------------------


def _family(metric: Counter | Histogram) -> str:
    name: str = metric._name  # prometheus_client has no public accessor
    return f"{name}_total" if isinstance(metric, Counter) else name


def _all_metrics() -> tuple[Counter | Histogram, ...]:
    return (
        RECONCILE,
        RECONCILE_ERROR,
        HOST_ERROR,
        POWER_CHANGE,
        DELAYED_PROVISIONING,
        DELAYED_DEPROVISIONING,
        *OPERATION_DURATION.values(),
        CREDENTIALS_MISSING,
        CREDENTIALS_INVALID,
        CREDENTIALS_UNHANDLED_ERROR,
        CREDENTIALS_UPDATED,
        CREDENTIALS_NO_MANAGEMENT_ACCESS,
        HOST_CONFIG_DATA_ERROR,
        STATE_CHANGE,
        HOST_REGISTRATION_REQUIRED,
        HOST_UNMANAGED,
        DELETE_WITHOUT_DEPROVISIONING,
        PROVISIONER_NOT_READY,
        DELETE_DELAYED_FOR_DETACHED,
    )


_BY_NAME: Final[Mapping[str, Counter | Histogram]] = MappingProxyType(
    {_family(m): m for m in _all_metrics()}
)


def apply(update: MetricSample) -> None:
    """Record one sample: increment the counter or observe the histogram ``update.name``
    names, with exactly its labels.

    A wrong name, label set or kind (an observation for a counter, an increment for a
    histogram) is a programming error and raises :class:`MetricsError` rather than silently
    inventing a series.
    """
    metric = _BY_NAME.get(update.name)
    if metric is None:
        raise UnknownMetricError(f"no bmo metric named {update.name!r}")
    expected = tuple(metric._labelnames)
    if set(update.labels) != set(expected):
        raise MetricLabelsError(
            f"{update.name} takes labels {sorted(expected)}, got {sorted(update.labels)}"
        )
    if (update.kind == MetricKind.OBSERVE) != isinstance(metric, Histogram):
        raise MetricKindError(f"{update.name} cannot take a {update.kind.value!r} update")
    child = metric.labels(**update.labels) if expected else metric
    if isinstance(child, Histogram):
        child.observe(update.value)
    elif isinstance(child, Counter):
        child.inc(update.value)


def apply_all(updates: Iterable[MetricSample]) -> None:
    """Record a reconcile's samples in order (the state machine's ``outcome.metrics``: call
    it only after the status write succeeded)."""
    for update in updates:
        apply(update)


# --- scrape-time host gauges -----------------------------------------------------------------

HostSnapshot = Mapping[str, Any] | BareMetalHost
"""A host as the informer cache holds it (frozen JSON) or decoded."""

_HOSTS_HELP: Final = "Number of BareMetalHosts by provisioning state."
_STATUS_HELP: Final = "Number of BareMetalHosts by operational status."
_ERRORS_HELP: Final = "Number of BareMetalHosts with a recorded error, by error type."


def _status_fields(host: HostSnapshot) -> tuple[str, str, str]:
    if isinstance(host, BareMetalHost):
        status = host.status
        return status.provisioning.state, status.operational_status, status.error_type
    raw = host.get("status") or {}
    provisioning = raw.get("provisioning") or {}
    return (
        str(provisioning.get("state") or ""),
        str(raw.get("operationalStatus") or ""),
        str(raw.get("errorType") or ""),
    )


class HostStateCollector(Collector):
    """``bmo_hosts{provisioning_state}``, ``bmo_hosts_by_operational_status{status}`` and
    ``bmo_hosts_errors{error_type}``, counted from ``source()`` at every scrape.

    Every known value is always exposed (zero when no host has it), so an alert such as
    ``bmo_hosts{provisioning_state="provisioning"} > 0`` resolves instead of going stale.
    Label values are bounded by the API's state set, never by the number of hosts.
    """

    def __init__(self, source: Callable[[], Iterable[HostSnapshot]]) -> None:
        self._lock = threading.Lock()
        self._source = source

    def set_source(self, source: Callable[[], Iterable[HostSnapshot]]) -> None:
        with self._lock:
            self._source = source

    def describe(self) -> Iterable[Metric]:
        return self._families(Tally(), Tally(), Tally())

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            source = self._source
        states: Tally[str] = Tally()
        statuses: Tally[str] = Tally()
        errors: Tally[str] = Tally()
        try:
            for host in source():
                state, status, error_type = _status_fields(host)
                states[state] += 1
                statuses[status] += 1
                if error_type:
                    errors[error_type] += 1
        except Exception:
            # A broken source must not fail the whole scrape; leaving the families out
            # (rather than reporting zeros) keeps alerts from resolving on bad data.
            log.exception("host state collector failed; bmo_hosts* omitted from this scrape")
            return []
        return self._families(states, statuses, errors)

    @staticmethod
    def _families(states: Tally[str], statuses: Tally[str], errors: Tally[str]) -> list[Metric]:
        hosts = GaugeMetricFamily("bmo_hosts", _HOSTS_HELP, labels=["provisioning_state"])
        for state in sorted({*ProvisioningState.ALL, *states}):
            hosts.add_metric([state], states[state])
        by_status = GaugeMetricFamily(
            "bmo_hosts_by_operational_status", _STATUS_HELP, labels=["status"]
        )
        for status in sorted({*OperationalStatus.ALL, *statuses}):
            by_status.add_metric([status], statuses[status])
        by_error = GaugeMetricFamily("bmo_hosts_errors", _ERRORS_HELP, labels=["error_type"])
        for error_type in sorted({*ErrorType.ALL, *errors}):
            by_error.add_metric([error_type], errors[error_type])
        return [hosts, by_status, by_error]


_INSTALLED: weakref.WeakKeyDictionary[CollectorRegistry, HostStateCollector] = (
    weakref.WeakKeyDictionary()
)
_INSTALL_LOCK = threading.Lock()


def _no_hosts() -> Iterable[HostSnapshot]:
    return ()


def install_host_collector(
    source: Callable[[], Iterable[HostSnapshot]], registry: CollectorRegistry = REGISTRY
) -> HostStateCollector:
    """Serve the ``bmo_hosts*`` gauges from ``source`` (e.g. an informer ``Store.objects``).

    Idempotent per registry: a second call re-points the one collector at the new source
    instead of registering a duplicate (which prometheus_client refuses), so every manager a
    test suite builds can call it.
    """
    with _INSTALL_LOCK:
        collector = _INSTALLED.get(registry)
        if collector is None:
            collector = HostStateCollector(source)
            registry.register(collector)
            _INSTALLED[registry] = collector
        else:
            collector.set_source(source)
        return collector


def uninstall_host_collector(registry: CollectorRegistry = REGISTRY) -> None:
    """Stop serving real host counts (a stopped manager): the gauges then report zero hosts."""
    with _INSTALL_LOCK:
        collector = _INSTALLED.get(registry)
        if collector is not None:
            collector.set_source(_no_hosts)


def exported_names(registry: CollectorRegistry = REGISTRY) -> frozenset[str]:
    """Every series name ``registry`` can expose, histogram ``_bucket/_sum/_count`` included
    even before a first observation: what a dashboard or alert expression may reference."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "summary": ("", "_sum", "_count"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return frozenset(names)


HOSTS: Final = install_host_collector(_no_hosts)
"""The collector on the process registry; zero hosts until a manager installs its cache."""
