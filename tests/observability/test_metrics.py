"""The ``metal3_*`` metrics as Prometheus scrapes them: names, types, labels, buckets."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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
from bmo.runtime.registry import REGISTRY, exposition

HOST = ("namespace", "host")

# Reference §7: exposed family name -> (type, label names).
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


def exercise_every_metric(ns: str, host: str) -> None:
    metrics.reconcile_started(ns, host)
    metrics.reconcile_failed()
    metrics.host_error("RegistrationError")
    metrics.power_change(ns, host, on=True)
    metrics.delayed("provisioning", ns, host)
    metrics.delayed("deprovisioning", ns, host)
    for op in ("register", "inspect", "provision", "deprovision"):
        metrics.operation_duration(op, ns, host, 42.0)
    metrics.credentials_missing()
    metrics.credentials_invalid()
    metrics.credentials_unhandled_error()
    metrics.credentials_updated()
    metrics.credentials_no_management_access()
    metrics.host_config_data_error("userData")
    metrics.state_changed("registering", "inspecting")
    metrics.host_registration_required()
    metrics.host_unmanaged()
    metrics.delete_without_deprovisioning()
    metrics.provisioner_not_ready()
    metrics.delete_delayed_for_detached()


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
    op = name.removeprefix("metal3_operation_").removesuffix("_duration_seconds")
    metrics.operation_duration(op, ns, host, 100.0)  # type: ignore[arg-type]
    family = scrape()[name]
    bounds = sorted(
        float(s.labels["le"])
        for s in family.samples
        if s.name == name + "_bucket" and s.labels["host"] == host
    )
    assert tuple(bounds) == tuple(float(b) for b in buckets)
    assert value(family, name + "_sum", namespace=ns, host=host) == 100.0


# --- the typed entry points ----------------------------------------------------------------


def test_typed_functions_set_upstream_label_values() -> None:
    ns, host = unique_host()
    metrics.power_change(ns, host, on=False)
    metrics.power_change(ns, host, on=True)
    metrics.power_change(ns, host, on=True)
    metrics.state_changed("", "registering")
    before = value(
        scrape()["metal3_provisioning_state_change_total"],
        "metal3_provisioning_state_change_total",
        prev_state="match profile",
        new_state="preparing",
    )
    metrics.state_changed("match profile", "preparing")
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


def test_delayed_picks_the_counter_by_operation() -> None:
    ns, host = unique_host()
    metrics.delayed("deprovisioning", ns, host)
    families = scrape()
    deprov = families["metal3_delayed__deprovisioning_total"]
    prov = families["metal3_delayed__provisioning_total"]
    assert value(deprov, "metal3_delayed__deprovisioning_total", namespace=ns, host=host) == 1
    assert value(prov, "metal3_delayed__provisioning_total", namespace=ns, host=host) == 0


def test_forget_host_drops_only_that_hosts_series() -> None:
    ns, host = unique_host()
    _, other = unique_host()
    for name in (host, other):
        metrics.reconcile_started(ns, name)
        metrics.power_change(ns, name, on=True)
        metrics.operation_duration("provision", ns, name, 60.0)
    metrics.forget_host(ns, host)
    metrics.forget_host(ns, "never-seen")  # no error for unknown hosts
    text = exposition().decode()
    assert f'host="{host}"' not in text
    assert f'host="{other}"' in text


# --- state-machine samples -----------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 1.0


@dataclass(frozen=True)
class Kind:
    value: str


@dataclass(frozen=True)
class KindedSample:
    name: str
    labels: Mapping[str, str]
    value: float
    kind: Kind


def test_apply_counts_and_observes() -> None:
    ns, host = unique_host()
    reason = "Reason" + host.replace("-", "")
    metrics.apply_all(
        [
            Sample("metal3_host_error_total", {"error_type": reason}),
            Sample("metal3_host_error_total", {"error_type": reason}),
            Sample(
                "metal3_operation_inspect_duration_seconds",
                {"namespace": ns, "host": host},
                200.0,
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


def test_apply_accepts_the_state_machines_metric_sample() -> None:
    actions = pytest.importorskip("bmo.hoststate.actions")
    ns, host = unique_host()
    sample = actions.MetricSample(
        actions.Metrics.OPERATION_DURATION["provision"],
        {"namespace": ns, "host": host},
        90.0,
        actions.MetricKind.OBSERVE,
    )
    metrics.apply(sample)
    family = scrape()["metal3_operation_provision_duration_seconds"]
    name = "metal3_operation_provision_duration_seconds"
    assert value(family, name + "_sum", namespace=ns, host=host) == 90.0
    for attr in dir(actions.Metrics):
        known = getattr(actions.Metrics, attr)
        if isinstance(known, str) and known.startswith("metal3_"):
            assert known in EXPECTED, f"state machine reports {known}, which bmo does not define"


@pytest.mark.parametrize(
    ("update", "error"),
    [
        (Sample("metal3_nonexistent_total"), UnknownMetricError),
        (Sample("metal3_reconcile_total", {"namespace": "a"}), MetricLabelsError),
        (Sample("metal3_reconcile_error_total", {"host": "a"}), MetricLabelsError),
        (Sample("metal3_reconcile_total"), MetricLabelsError),
        (
            KindedSample("metal3_host_unmanaged_total", {}, 1.0, Kind("observe")),
            MetricKindError,
        ),
        (
            KindedSample(
                "metal3_operation_register_duration_seconds",
                {"namespace": "a", "host": "b"},
                1.0,
                Kind("inc"),
            ),
            MetricKindError,
        ),
    ],
)
def test_apply_rejects_misuse(update: Any, error: type[Exception]) -> None:
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
