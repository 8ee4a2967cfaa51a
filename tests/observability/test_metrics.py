"""The ``metal3_*`` metrics as Prometheus scrapes them: names, types, labels, buckets."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from bmo.api.host import BareMetalHost
from bmo.controllers.baremetalhost import metrics
from bmo.controllers.baremetalhost.metrics import (
    HostStateCollector,
    MetricKindError,
    MetricLabelsError,
    UnknownMetricError,
)
from bmo.hoststate.actions import MetricKind, Metrics, MetricSample
from bmo.runtime.registry import REGISTRY, exposition

HOST = ("namespace", "host")

# Upstream metrics.go: exposed family name -> (type, label names).
EXPECTED: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "metal3_reconcile_total": ("counter", HOST),
    "metal3_reconcile_error_total": ("counter", ()),
    "metal3_host_error_total": ("counter", ("error_type",)),
    "metal3_operation_power_change_total": ("counter", (*HOST, "on_off")),
    "metal3_delayed__provisioning_total": ("counter", HOST),
    "metal3_delayed__deprovisioning_total": ("counter", HOST),
    "metal3_operation_register_duration_seconds": ("histogram", HOST),
    "metal3_operation_inspect_duration_seconds": ("histogram", HOST),
    "metal3_operation_provision_duration_seconds": ("histogram", HOST),
    "metal3_operation_deprovision_duration_seconds": ("histogram", HOST),
    "metal3_credentials_missing_total": ("counter", ()),
    "metal3_credentials_invalid_total": ("counter", ()),
    "metal3_credentials_unhandled_error_total": ("counter", ()),
    "metal3_credentials_updated_total": ("counter", ()),
    "metal3_credentials_no_management_access_total": ("counter", ()),
    "metal3_host_config_data_error_total": ("counter", ("host_data_type",)),
    "metal3_provisioning_state_change_total": ("counter", ("prev_state", "new_state")),
    "metal3_host_registration_required_total": ("counter", ()),
    "metal3_host_unmanaged_total": ("counter", ()),
    "metal3_delete_without_deprovisioning_total": ("counter", ()),
    "metal3_provisioner_not_ready_total": ("counter", ()),
    "metal3_delete_delayed_for_detached_total": ("counter", ()),
}
GO_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.inf)
SLOW_BUCKETS = (30, 90, 180, 360, 720, 1440, math.inf)


def scrape(registry: CollectorRegistry | None = None) -> dict[str, Metric]:
    """Families keyed by the name as exposed (counters with ``_total``)."""
    from prometheus_client import generate_latest

    text = (exposition() if registry is None else generate_latest(registry)).decode()
    families: dict[str, Metric] = {}
    for family in text_string_to_metric_families(text):
        exposed = family.name + "_total" if family.type == "counter" else family.name
        families[exposed] = family
    return families


def exposed_series(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def value(family: Metric, sample_name: str, **labels: str) -> float:
    for sample in family.samples:
        if sample.name == sample_name and sample.labels == labels:
            return float(sample.value)
    return 0.0


def unique_host() -> tuple[str, str]:
    import uuid

    return "ns-" + uuid.uuid4().hex[:8], "host-" + uuid.uuid4().hex[:8]


# --- the exposition ----------------------------------------------------------------------


def count(name: str, **labels: str) -> None:
    metrics.apply(MetricSample(name, labels))


def observe(name: str, seconds: float, **labels: str) -> None:
    metrics.apply(MetricSample(name, labels, seconds, MetricKind.OBSERVE))


def exercise_every_metric(ns: str, host: str) -> None:
    count(Metrics.RECONCILE, namespace=ns, host=host)
    count(Metrics.RECONCILE_ERROR)
    count(Metrics.HOST_ERROR, error_type="RegistrationError")
    count(Metrics.POWER_CHANGE, namespace=ns, host=host, on_off="on")
    count(Metrics.DELAYED_PROVISIONING, namespace=ns, host=host)
    count(Metrics.DELAYED_DEPROVISIONING, namespace=ns, host=host)
    for name in Metrics.OPERATION_DURATION.values():
        observe(name, 42.0, namespace=ns, host=host)
    count(Metrics.CREDENTIALS_MISSING)
    count(Metrics.CREDENTIALS_INVALID)
    count(Metrics.CREDENTIALS_UNHANDLED_ERROR)
    count(Metrics.CREDENTIALS_UPDATED)
    count(Metrics.NO_MANAGEMENT_ACCESS)
    count(Metrics.HOST_CONFIG_DATA_ERROR, host_data_type="userData")
    count(Metrics.STATE_CHANGE, prev_state="registering", new_state="inspecting")
    count(Metrics.REGISTRATION_REQUIRED)
    count(Metrics.UNMANAGED)
    count(Metrics.DELETE_WITHOUT_DEPROVISIONING)
    count(Metrics.PROVISIONER_NOT_READY)
    count(Metrics.DELETE_DELAYED_FOR_DETACHED)


def test_every_upstream_metric_is_exposed_with_its_type_and_labels() -> None:
    ns, host = unique_host()
    exercise_every_metric(ns, host)
    families = scrape()
    for name, (mtype, labels) in EXPECTED.items():
        assert name in families, f"{name} missing from /metrics"
        family = families[name]
        assert family.type == mtype, name
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        assert samples, f"{name} has no samples after being exercised"
        for sample in samples:
            names = set(sample.labels) - {"le"}
            assert names == set(labels), (name, sample.labels)


def test_exposed_series_names_are_exactly_upstreams() -> None:
    ns, host = unique_host()
    exercise_every_metric(ns, host)
    series = {s for s in exposed_series(exposition().decode()) if s.startswith("metal3_")}
    expected: set[str] = set()
    for name, (mtype, _) in EXPECTED.items():
        if mtype == "histogram":
            expected |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            expected.add(name)
    assert series == expected
    assert "metal3_delayed__provisioning_total" in series  # the double underscore survives


def test_no_created_series_are_exposed() -> None:
    ns, host = unique_host()
    exercise_every_metric(ns, host)
    assert not [s for s in exposed_series(exposition().decode()) if s.endswith("_created")]


def test_never_registered_upstream_metrics_are_absent() -> None:
    text = exposition().decode()
    assert "metal3_waiting_for_preprov_image" not in text
    assert "metal3_delete_without_powering_off" not in text


@pytest.mark.parametrize(
    ("name", "buckets"),
    [
        ("metal3_operation_register_duration_seconds", GO_DEFAULT_BUCKETS),
        ("metal3_operation_inspect_duration_seconds", SLOW_BUCKETS),
        ("metal3_operation_provision_duration_seconds", SLOW_BUCKETS),
        ("metal3_operation_deprovision_duration_seconds", SLOW_BUCKETS),
    ],
)
def test_histogram_buckets(name: str, buckets: tuple[float, ...]) -> None:
    ns, host = unique_host()
    observe(name, 100.0, namespace=ns, host=host)
    family = scrape()[name]
    bounds = sorted(
        float(s.labels["le"])
        for s in family.samples
        if s.name == name + "_bucket" and s.labels["host"] == host
    )
    assert tuple(bounds) == tuple(float(b) for b in buckets)
    assert value(family, name + "_sum", namespace=ns, host=host) == 100.0


# --- recording samples ---------------------------------------------------------------------


def test_samples_carry_upstream_label_values() -> None:
    ns, host = unique_host()
    count(Metrics.POWER_CHANGE, namespace=ns, host=host, on_off="off")
    count(Metrics.POWER_CHANGE, namespace=ns, host=host, on_off="on")
    count(Metrics.POWER_CHANGE, namespace=ns, host=host, on_off="on")
    count(Metrics.STATE_CHANGE, prev_state="", new_state="registering")
    before = value(
        scrape()["metal3_provisioning_state_change_total"],
        "metal3_provisioning_state_change_total",
        prev_state="match profile",
        new_state="preparing",
    )
    count(Metrics.STATE_CHANGE, prev_state="match profile", new_state="preparing")
    families = scrape()
    power = families["metal3_operation_power_change_total"]
    name = "metal3_operation_power_change_total"
    assert value(power, name, namespace=ns, host=host, on_off="on") == 2
    assert value(power, name, namespace=ns, host=host, on_off="off") == 1
    changes = families["metal3_provisioning_state_change_total"]
    assert (
        value(
            changes,
            "metal3_provisioning_state_change_total",
            prev_state="match profile",
            new_state="preparing",
        )
        == before + 1
    )


def test_delayed_deprovisioning_counts_only_its_own_counter() -> None:
    ns, host = unique_host()
    count(Metrics.DELAYED_DEPROVISIONING, namespace=ns, host=host)
    families = scrape()
    deprov = families["metal3_delayed__deprovisioning_total"]
    prov = families["metal3_delayed__provisioning_total"]
    assert value(deprov, "metal3_delayed__deprovisioning_total", namespace=ns, host=host) == 1
    assert value(prov, "metal3_delayed__provisioning_total", namespace=ns, host=host) == 0


def test_forget_host_drops_only_that_hosts_series() -> None:
    ns, host = unique_host()
    _, other = unique_host()
    for name in (host, other):
        count(Metrics.RECONCILE, namespace=ns, host=name)
        count(Metrics.POWER_CHANGE, namespace=ns, host=name, on_off="on")
        observe(Metrics.OPERATION_DURATION["provision"], 60.0, namespace=ns, host=name)
    metrics.forget_host(ns, host)
    metrics.forget_host(ns, "never-seen")  # no error for unknown hosts
    text = exposition().decode()
    assert f'host="{host}"' not in text
    assert f'host="{other}"' in text


# --- applying a pass's samples --------------------------------------------------------------


def test_apply_all_counts_and_observes_in_order() -> None:
    ns, host = unique_host()
    reason = "Reason" + host.replace("-", "")
    metrics.apply_all(
        [
            MetricSample(Metrics.HOST_ERROR, {"error_type": reason}),
            MetricSample(Metrics.HOST_ERROR, {"error_type": reason}),
            MetricSample(
                Metrics.OPERATION_DURATION["inspect"],
                {"namespace": ns, "host": host},
                200.0,
                MetricKind.OBSERVE,
            ),
        ]
    )
    families = scrape()
    errors = families["metal3_host_error_total"]
    assert value(errors, "metal3_host_error_total", error_type=reason) == 2
    inspect = families["metal3_operation_inspect_duration_seconds"]
    name = "metal3_operation_inspect_duration_seconds"
    assert value(inspect, name + "_count", namespace=ns, host=host) == 1
    assert value(inspect, name + "_sum", namespace=ns, host=host) == 200.0


def test_apply_accepts_the_state_machines_observation() -> None:
    ns, host = unique_host()
    sample = MetricSample(
        Metrics.OPERATION_DURATION["provision"],
        {"namespace": ns, "host": host},
        90.0,
        MetricKind.OBSERVE,
    )
    metrics.apply(sample)
    family = scrape()["metal3_operation_provision_duration_seconds"]
    name = "metal3_operation_provision_duration_seconds"
    assert value(family, name + "_sum", namespace=ns, host=host) == 90.0


def test_metrics_names_are_exactly_the_defined_families() -> None:
    """Every name there is to record is a family bmo defines, and every family has a name."""
    names = {
        known
        for attr in dir(Metrics)
        if isinstance(known := getattr(Metrics, attr), str) and known.startswith("metal3_")
    }
    names |= set(Metrics.OPERATION_DURATION.values())
    assert names == set(EXPECTED)


@pytest.mark.parametrize(
    ("update", "error"),
    [
        (MetricSample("metal3_nonexistent_total"), UnknownMetricError),
        (MetricSample(Metrics.RECONCILE, {"namespace": "a"}), MetricLabelsError),
        (MetricSample(Metrics.RECONCILE_ERROR, {"host": "a"}), MetricLabelsError),
        (MetricSample(Metrics.RECONCILE), MetricLabelsError),
        (MetricSample(Metrics.UNMANAGED, {}, 1.0, MetricKind.OBSERVE), MetricKindError),
        (
            MetricSample(
                Metrics.OPERATION_DURATION["register"],
                {"namespace": "a", "host": "b"},
                1.0,
                MetricKind.INC,
            ),
            MetricKindError,
        ),
    ],
)
def test_apply_rejects_misuse(update: MetricSample, error: type[Exception]) -> None:
    with pytest.raises(error):
        metrics.apply(update)


# --- scrape-time host gauges ---------------------------------------------------------------


def bmh(state: str, status: str = "OK", error_type: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "h", "namespace": "n"},
        "status": {"provisioning": {"state": state}, "operationalStatus": status},
    }
    if error_type:
        body["status"]["errorType"] = error_type
    return body


class FakeSource:
    def __init__(self, hosts: list[Any]) -> None:
        self.hosts = hosts
        self.calls = 0

    def __call__(self) -> Iterator[Any]:
        self.calls += 1
        return iter(self.hosts)


def gauge(families: Mapping[str, Metric], name: str, label: str, val: str) -> float:
    return value(families[name], name, **{label: val})


def test_collector_counts_hosts_at_scrape_time() -> None:
    registry = CollectorRegistry()
    source = FakeSource(
        [
            bmh("provisioned"),
            bmh("provisioned"),
            bmh("provisioning", "error", "provisioning error"),
            bmh("available", "detached"),
            BareMetalHost.from_dict(bmh("inspecting", "error", "inspection error")),
        ]
    )
    metrics.install_host_collector(source, registry)
    assert source.calls == 0  # registering does not read the cache
    families = scrape(registry)
    assert gauge(families, "bmo_hosts", "provisioning_state", "provisioned") == 2
    assert gauge(families, "bmo_hosts", "provisioning_state", "provisioning") == 1
    assert gauge(families, "bmo_hosts", "provisioning_state", "inspecting") == 1
    assert gauge(families, "bmo_hosts", "provisioning_state", "deleting") == 0
    status = "bmo_hosts_by_operational_status"
    assert gauge(families, status, "status", "error") == 2
    assert gauge(families, status, "status", "OK") == 2
    assert gauge(families, status, "status", "detached") == 1
    errors = "bmo_hosts_errors"
    assert gauge(families, errors, "error_type", "provisioning error") == 1
    assert gauge(families, errors, "error_type", "inspection error") == 1
    assert gauge(families, errors, "error_type", "power management error") == 0
    assert families["bmo_hosts"].type == "gauge"

    source.hosts = [bmh("provisioned")]
    families = scrape(registry)
    assert gauge(families, "bmo_hosts", "provisioning_state", "provisioned") == 1
    assert gauge(families, "bmo_hosts", "provisioning_state", "provisioning") == 0


def test_collector_series_do_not_grow_with_hosts() -> None:
    registry = CollectorRegistry()
    source = FakeSource([bmh("provisioned") for _ in range(5)])
    metrics.install_host_collector(source, registry)
    few = len(exposed_lines(registry))
    source.hosts = [bmh("provisioned") for _ in range(500)]
    assert len(exposed_lines(registry)) == few


def exposed_lines(registry: CollectorRegistry) -> list[str]:
    from prometheus_client import generate_latest

    return [
        line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")
    ]


def test_installing_twice_repoints_instead_of_crashing() -> None:
    registry = CollectorRegistry()
    first = metrics.install_host_collector(FakeSource([bmh("provisioned")]), registry)
    second = metrics.install_host_collector(FakeSource([bmh("available")] * 3), registry)
    assert first is second
    families = scrape(registry)
    assert gauge(families, "bmo_hosts", "provisioning_state", "available") == 3
    assert gauge(families, "bmo_hosts", "provisioning_state", "provisioned") == 0
    metrics.uninstall_host_collector(registry)
    families = scrape(registry)
    assert gauge(families, "bmo_hosts", "provisioning_state", "available") == 0


def test_global_registry_serves_host_gauges() -> None:
    # The singleton is registered at import; re-pointing it (as every manager does) is safe.
    metrics.install_host_collector(FakeSource([bmh("ready")] * 2))
    try:
        families = scrape()
        assert gauge(families, "bmo_hosts", "provisioning_state", "ready") == 2
    finally:
        metrics.uninstall_host_collector()
    assert isinstance(metrics.HOSTS, HostStateCollector)
    assert REGISTRY is not None


def test_broken_source_omits_gauges_but_not_the_scrape() -> None:
    registry = CollectorRegistry()

    def broken() -> list[Any]:
        raise RuntimeError("cache gone")

    metrics.install_host_collector(broken, registry)
    assert "bmo_hosts" not in scrape(registry)
