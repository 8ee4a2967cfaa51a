"""Every metric a dashboard panel or alert rule queries is one bmo exports.

A renamed metric silently empties a Grafana panel and, worse, makes an alert unable to
fire; this catches it at test time. Names exported are read from ``bmo.runtime.registry.REGISTRY``
after importing every module that defines metrics; names queried come from a small PromQL
tokenizer (identifiers that are not functions, keywords, label names or durations).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bmo.controllers.baremetalhost.metrics import exported_names
from bmo.runtime.registry import REGISTRY

CONFIG = Path(__file__).resolve().parents[2] / "config" / "prometheus"
DASHBOARD = CONFIG / "bmo-dashboard.json"
ALERTS = CONFIG / "alerts.yaml"
RULES = CONFIG / "rules.yaml"

METRIC_MODULES = (
    "bmo.controllers.baremetalhost.metrics",
    "bmo.runtime.queue_metrics",
    "bmo.runtime.controller",
)

KEYWORDS = frozenset(
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
        "group_right", "bool", "offset", "inf", "nan", "start", "end",
    }
)  # fmt: skip

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = _STRING.sub(" ", expr)
    text = _VARIABLE.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names: set[str] = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        if word.lower() in KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or aggregation
        names.add(word)
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum by (provisioning_state) (bmo_hosts)", {"bmo_hosts"}),
        ('rate(metal3_host_error_total{error_type="X"}[5m])', {"metal3_host_error_total"}),
        (
            "histogram_quantile(0.9, sum by (le) (rate(m_bucket[$__rate_interval])))",
            {"m_bucket"},
        ),
        ("a / clamp_min(b, 1e-9) > 0.1 and on (job) c offset 5m", {"a", "b", "c"}),
        ('label_replace(x, "dst", "$1", "src", "(.*)")', {"x"}),
        ("sum without (instance) (x) unless ignoring (le) y", {"x", "y"}),
        ("deriv(x[15m]) > 0 and x > bool 10", {"x"}),
        ("sum(rate(x[5m:1m]))", {"x"}),
        ('x{name=~"a|b", le!="+Inf"} * on (name) group_left (job) y', {"x", "y"}),
    ],
)
def test_tokenizer(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.fixture(scope="module")
def exported() -> frozenset[str]:
    for module in METRIC_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    return exported_names(REGISTRY)


def dashboard_targets(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield str(node.get("refId", "")), node["expr"]
        for child in node.values():
            yield from dashboard_targets(child)
    elif isinstance(node, list):
        for child in node:
            yield from dashboard_targets(child)


def rule_exprs(groups: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for group in groups:
        for rule in group["rules"]:
            yield rule.get("alert") or rule.get("record"), str(rule["expr"])


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def test_exported_names_include_every_family(exported: frozenset[str]) -> None:
    assert "metal3_reconcile_total" in exported
    assert "metal3_operation_inspect_duration_seconds_bucket" in exported
    assert "metal3_operation_inspect_duration_seconds_count" in exported
    assert "bmo_hosts" in exported
    assert "workqueue_depth" in exported
    assert "metal3_reconcile" not in exported  # counters are only exposed as _total


def test_dashboard_queries_only_exported_metrics(exported: frozenset[str]) -> None:
    targets = list(dashboard_targets(load_dashboard()["panels"]))
    assert len(targets) >= 20
    unknown = {name for _, expr in targets for name in metric_names(expr)} - exported
    assert not unknown, f"dashboard queries metrics bmo does not export: {sorted(unknown)}"


def test_dashboard_covers_what_operators_need() -> None:
    exprs = " ".join(e for _, e in dashboard_targets(load_dashboard()["panels"]))
    for needed in (
        "bmo_hosts",
        "bmo_hosts_by_operational_status",
        "rate(metal3_host_error_total[5m])",
        "metal3_operation_provision_duration_seconds_bucket",
        "metal3_provisioning_state_change_total",
        "metal3_reconcile_total",
        "metal3_reconcile_error_total",
        "workqueue_depth",
        "workqueue_queue_duration_seconds_bucket",
        "metal3_provisioner_not_ready_total",
    ):
        assert needed in exprs, needed


def test_dashboard_is_well_formed() -> None:
    dash = load_dashboard()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert dash["uid"]
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_alerts_and_rules_file_agree() -> None:
    plain = yaml.safe_load(RULES.read_text())
    operator = yaml.safe_load(ALERTS.read_text())
    assert operator["apiVersion"] == "monitoring.coreos.com/v1"
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"]["groups"] == plain["groups"]


def test_alerts_query_only_exported_metrics(exported: frozenset[str]) -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    exprs = list(rule_exprs(groups))
    assert len(exprs) >= 5
    for alert, expr in exprs:
        names = metric_names(expr)
        assert names, f"{alert} selects no metric"
        assert names <= exported, f"{alert} queries {sorted(names - exported)}"


def test_expected_alerts_exist() -> None:
    rules = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert rules["BareMetalHostsInError"]["for"] == "15m"
    assert "bmo_hosts_by_operational_status" in rules["BareMetalHostsInError"]["expr"]
    assert rules["BareMetalHostsStuckInProgress"]["for"] == "60m"
    assert "provisioning" in rules["BareMetalHostsStuckInProgress"]["expr"]
    ironic = rules["IronicNotReady"]
    assert "increase(metal3_provisioner_not_ready_total[10m])" in ironic["expr"]
    assert ironic["expr"].rstrip().endswith("> 0")
    assert ironic["for"] == "10m"
    assert "metal3_reconcile_error_total" in rules["BareMetalHostReconcileErrorsHigh"]["expr"]
    assert "workqueue_depth" in rules["BareMetalHostWorkQueueGrowing"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]


def test_kustomization_lists_files_that_exist() -> None:
    kustomization = yaml.safe_load((CONFIG / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (CONFIG / resource).is_file(), resource
    for generator in kustomization.get("configMapGenerator", []):
        for name in generator["files"]:
            assert (CONFIG / name).is_file(), name


def test_service_monitor_selects_the_metrics_service() -> None:
    monitor = yaml.safe_load((CONFIG / "monitor.yaml").read_text())
    service = yaml.safe_load((CONFIG / "metrics_service.yaml").read_text())
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


PROMTOOL = shutil.which("promtool")


def promtool_check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "check", "rules", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)
def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    plain = promtool_check_rules(RULES)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    # The PrometheusRule's spec is a rule file too once unwrapped.
    unwrapped = tmp_path / "operator-rules.yaml"
    unwrapped.write_text(yaml.safe_dump(yaml.safe_load(ALERTS.read_text())["spec"]))
    wrapped = promtool_check_rules(unwrapped)
    assert wrapped.returncode == 0, wrapped.stdout + wrapped.stderr


@pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)
def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Grafana's ``$__rate_interval`` is substituted the way Grafana would, then each query
    is checked as a recording rule so PromQL syntax errors in panels fail here."""
    rules = [
        {"record": f"bmo:dashboard_check_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, (_, expr) in enumerate(dashboard_targets(load_dashboard()["panels"]))
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool_check_rules(path)
    assert result.returncode == 0, result.stdout + result.stderr
