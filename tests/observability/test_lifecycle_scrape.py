"""A host's whole lifecycle, then a scrape of ``/metrics``: every metric a dashboard or
alert uses is there, with values that match what happened (upstream
``internal/controller/metal3.io/metrics.go``)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from prometheus_client.parser import text_string_to_metric_families

from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from tests.integration.operator import (
    Hosts,
    RunningOperator,
    create_secret,
    host_body,
    running_operator,
    wait_for,
)

IMAGE = {"url": "http://127.0.0.1:9/img.qcow2", "checksum": "0123456789abcdef"}
DELAYS = {op: Delay(1) for op in ("inspect", "prepare", "provision", "deprovision")}

#: Every metric upstream metrics.go registers; they must be exported (HELP/TYPE) even at zero.
METAL3_METRICS = (
    "metal3_reconcile_total",
    "metal3_reconcile_error_total",
    "metal3_host_error_total",
    "metal3_operation_power_change_total",
    "metal3_delayed__provisioning_total",
    "metal3_delayed__deprovisioning_total",
    "metal3_operation_register_duration_seconds",
    "metal3_operation_inspect_duration_seconds",
    "metal3_operation_provision_duration_seconds",
    "metal3_operation_deprovision_duration_seconds",
    "metal3_credentials_missing_total",
    "metal3_credentials_invalid_total",
    "metal3_credentials_unhandled_error_total",
    "metal3_credentials_updated_total",
    "metal3_credentials_no_management_access_total",
    "metal3_host_config_data_error_total",
    "metal3_provisioning_state_change_total",
    "metal3_host_registration_required_total",
    "metal3_host_unmanaged_total",
    "metal3_delete_without_deprovisioning_total",
    "metal3_provisioner_not_ready_total",
    "metal3_delete_delayed_for_detached_total",
)


class Scrape:
    def __init__(self, port: int) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            assert resp.status == 200
            self.text = resp.read().decode()
        self.samples = [
            sample
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
        ]

    def value(self, metric: str, /, **labels: str) -> float:
        """Sum of the samples called ``metric`` whose labels include ``labels``."""
        return sum(
            s.value
            for s in self.samples
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())
        )


@pytest.fixture
def operator(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[RunningOperator]:
    factory = FixtureProvisionerFactory(FixtureRegistry(delays=DELAYS, poll_interval=0.05))
    with running_operator(
        kube_api_client, kube_namespace, factory, metrics_addr="127.0.0.1:0"
    ) as running:
        yield running


def test_lifecycle_then_scrape(
    operator: RunningOperator, kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    port = operator.manager.metrics_port
    assert port is not None
    ns, hosts = kube_namespace, Hosts(kube_api_client, kube_namespace)
    before = Scrape(port)  # process-wide counters also count other tests' hosts
    create_secret(kube_api_client, ns)
    hosts.create(host_body("m-0"))
    hosts.wait_state("m-0", "available")

    # The state gauge is computed from the cache at scrape time.
    available = wait_for(
        lambda: (s := Scrape(port)).value("bmo_hosts", provisioning_state="available") >= 1 and s,
        what="bmo_hosts{provisioning_state=available} >= 1",
    )
    assert available.value("bmo_hosts_by_operational_status", status="OK") >= 1

    hosts.patch("m-0", {"spec": {"image": IMAGE}})
    hosts.wait_state("m-0", "provisioned")
    hosts.patch("m-0", {"spec": {"online": False}})
    wait_for(lambda: hosts.status("m-0").get("poweredOn") is False, what="powered off")
    hosts.patch("m-0", {"spec": {"image": None, "online": True}})
    hosts.wait_state("m-0", "available")

    host = {"namespace": ns, "host": "m-0"}

    def settled() -> Scrape | None:
        # Metrics are applied just after the status write the test saw: wait for the last.
        # (State changes carry no host label, so other tests' hosts count there too: wait
        # on this host's deprovision duration, observed in the same pass.)
        s = Scrape(port)
        done = s.value("metal3_operation_deprovision_duration_seconds_count", **host)
        return s if done >= 1 else None

    scrape = wait_for(settled, what="the last transition counted")
    for name in METAL3_METRICS:
        assert f"# TYPE {name.removesuffix('_total')}" in scrape.text, f"{name} not exported"

    assert scrape.value("metal3_reconcile_total", **host) >= 10
    for prev, new in [
        ("", "registering"),
        ("registering", "inspecting"),
        ("inspecting", "preparing"),
        ("preparing", "available"),
        ("available", "provisioning"),
        ("provisioning", "provisioned"),
        ("provisioned", "deprovisioning"),
        ("deprovisioning", "available"),
    ]:
        assert scrape.value("metal3_provisioning_state_change_total", prev_state=prev,
                            new_state=new) >= 1, (prev, new)  # fmt: skip
    for op in ("register", "inspect", "provision", "deprovision"):
        name = f"metal3_operation_{op}_duration_seconds"
        assert scrape.value(f"{name}_count", **host) >= 1, name
        assert scrape.value(f"{name}_sum", **host) >= 0, name
        # A fixture operation takes well under the first bucket (30 s; 5 ms for register).
        assert scrape.value(f"{name}_bucket", le="+Inf", **host) == scrape.value(
            f"{name}_count", **host
        )
    # Power changes happened (on while provisioning, off for online=false). A pass whose
    # status write lost a race counts nothing, by design, so only require one of them.
    assert scrape.value("metal3_operation_power_change_total", **host) >= 1
    for unlabelled in ("metal3_host_error_total", "metal3_provisioner_not_ready_total"):
        assert scrape.value(unlabelled) == before.value(unlabelled), unlabelled
    # The work queue and controller series of client-go / controller-runtime.
    assert scrape.value("workqueue_adds_total", name="baremetalhost") >= 10
    assert "workqueue_depth" in scrape.text and "workqueue_queue_duration_seconds" in scrape.text
    assert (
        scrape.value(
            "controller_runtime_reconcile_total", controller="baremetalhost", result="success"
        )
        + scrape.value(
            "controller_runtime_reconcile_total", controller="baremetalhost", result="requeue_after"
        )
        >= 10
    )

    hosts.delete("m-0")
    hosts.wait_gone("m-0")
    # The host is gone: the gauge no longer counts it, and its per-host series are dropped
    # so they do not pile up as hosts come and go.
    wait_for(lambda: Scrape(port).value("bmo_hosts") == 0, what="bmo_hosts back to 0")
    gone = Scrape(port)
    assert gone.value("metal3_reconcile_total", **host) == 0
    assert gone.value("metal3_provisioning_state_change_total", prev_state="deleting") == 0
