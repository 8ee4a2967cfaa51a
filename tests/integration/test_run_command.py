"""``bmo run`` as a process: the wiring a deployment (and hack/sandbox) relies on."""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from bmo import settings as settings_mod
from bmo.commands.run import (
    attach_lookups,
    build_manager,
    build_provisioner_factory,
    build_webhook,
)
from bmo.controllers.baremetalhost import metrics
from bmo.provisioner.fixture import FixtureProvisionerFactory
from testenv.fake_agent import FakeAgent
from testenv.kubeapi import KubeAPIServer
from tests.fixtures.ironic import IronicFixture
from tests.integration.operator import Hosts, create_secret, events_for, host_body, wait_for

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


class BmoProcess:
    """``python -m bmo run ...`` with its JSON log lines collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bmo", "run", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def log_event(self, key: str, value: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            for line in self.drain():
                parsed = _parse(line)
                if parsed.get(key) == value:
                    return parsed
            return None

        return wait_for(probe, timeout=DEADLINE, what=f"log line with {key}={value}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def _parse(line: str) -> dict[str, Any]:
    try:
        parsed = json.loads(line)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def child_env(**extra: str) -> dict[str, str]:
    drop = ("KUBECONFIG", "WATCH_NAMESPACE", "IRONIC_ENDPOINT", "METAL3_AUTH_ROOT_DIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


@pytest.fixture
def started() -> Iterator[list[BmoProcess]]:
    processes: list[BmoProcess] = []
    yield processes
    for process in processes:
        process.kill()


def common_flags(kube_server: KubeAPIServer, namespace: str) -> list[str]:
    return [
        "--kube-url",
        kube_server.url,
        "--namespace",
        namespace,
        "--health-addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
        "--metrics-insecure",
        "--webhook-port",
        "0",
    ]


def test_help_describes_the_wired_controller() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bmo", "run", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "placeholder" not in out and "not wired" not in out
    for expected in ("--provisioner", "fixture", "IRONIC_ENDPOINT", "--kube-url", "POD_NAME"):
        assert expected in out


def test_ironic_without_endpoint_is_a_usage_error(
    kube_server: KubeAPIServer, kube_namespace: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bmo", "run", *common_flags(kube_server, kube_namespace)],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "IRONIC_ENDPOINT is not set" in proc.stdout + proc.stderr


def test_fixture_provisioner_run_reconciles_hosts_and_exits_0_on_sigterm(
    kube_server: KubeAPIServer,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    started: list[BmoProcess],
) -> None:
    hosts = Hosts(kube_api_client, kube_namespace)
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("host-0"))
    bmo = BmoProcess(
        [*common_flags(kube_server, kube_namespace), "--provisioner", "fixture"],
        child_env(POD_NAME="bmo-under-test"),
    )
    started.append(bmo)
    metrics_port = int(bmo.log_event("endpoint", "metrics")["port"])
    hosts.wait_state("host-0", "available", timeout=DEADLINE)

    registered = [
        e
        for e in events_for(kube_api_client, kube_namespace, "host-0")
        if e["reason"] == "Registered"
    ]
    assert registered and registered[0]["reportingInstance"] == "bmo-under-test"
    status, body = http_get(metrics_port, "/metrics")
    assert status == 200
    assert 'bmo_hosts{provisioning_state="available"} 1.0' in body
    assert f'metal3_reconcile_total{{host="host-0",namespace="{kube_namespace}"}}' in body

    hosts.delete("host-0")
    hosts.wait_gone("host-0", timeout=DEADLINE)
    assert bmo.stop() == 0
    lines = bmo.drain()
    assert any(_parse(line).get("event") == "manager stopped" for line in lines)
    assert not any("s3cr3t-pa55" in line for line in lines)


@pytest.mark.ironic
@pytest.mark.slow
def test_ironic_provisioner_run_registers_and_inspects_a_fake_host(
    kube_server: KubeAPIServer,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
    ironic: IronicFixture,
    tmp_path: Path,
    started: list[BmoProcess],
) -> None:
    """How hack/sandbox runs bmo: IRONIC_ENDPOINT, METAL3_AUTH_ROOT_DIR, fake:// hosts."""
    env = child_env(IRONIC_ENDPOINT=ironic.url, METAL3_AUTH_ROOT_DIR=str(tmp_path))
    if ironic.credentials is not None:
        (tmp_path / "ironic").mkdir()
        (tmp_path / "ironic" / "username").write_text(ironic.credentials[0])
        (tmp_path / "ironic" / "password").write_text(ironic.credentials[1])
    hosts = Hosts(kube_api_client, kube_namespace)
    create_secret(kube_api_client, kube_namespace)
    hosts.create(host_body("node-0", address="fake://127.0.0.1", mac="52:54:00:aa:bb:01"))
    agent = FakeAgent(ironic.url, ironic.credentials, interval=0.3).start()
    bmo = BmoProcess(
        [
            *common_flags(kube_server, kube_namespace),
            "--provisioner",
            "ironic",
            "--development-drivers",
        ],
        env,
    )
    started.append(bmo)
    try:
        host = hosts.wait_state("node-0", "available", timeout=90)
        assert host["status"]["provisioning"]["ID"]
        assert host["status"]["hardware"]["nics"]
        assert bmo.stop() == 0
        log_text = "\n".join(bmo.drain())
        assert ironic.credentials is None or ironic.credentials[1] not in log_text
    finally:
        agent.stop()
        conn = ironic.connection()
        for node in conn.baremetal.nodes(fields=["uuid", "name"]):
            if (node.name or "").startswith(f"{kube_namespace}~"):
                conn.baremetal.set_node_maintenance(node.id)
                conn.baremetal.delete_node(node.id, ignore_missing=True)
        hosts.force_remove("node-0")


def test_webhook_is_built_only_when_enabled() -> None:
    parser = argparse.ArgumentParser()
    settings_mod.add_arguments(parser)
    args = parser.parse_args(["--webhook-port", "0", "--provisioner", "fixture"])
    assert build_webhook(settings_mod.from_args(args, {})) is None
    args = parser.parse_args(
        ["--webhook-port", "9999", "--development-drivers", "--provisioner", "fixture"]
    )
    server = build_webhook(settings_mod.from_args(args, {}))
    assert server is not None
    assert server.config.port == 9999
    assert server.config.allow_development


def test_the_run_commands_fixture_keeps_no_call_log() -> None:
    """A long-running ``bmo run --provisioner fixture`` must not record every provisioner
    call (the log is for tests holding the registry, and grew without bound)."""
    parser = argparse.ArgumentParser()
    settings_mod.add_arguments(parser)
    settings = settings_mod.from_args(parser.parse_args(["--provisioner", "fixture"]), {})
    factory = build_provisioner_factory(settings)
    assert isinstance(factory, FixtureProvisionerFactory)
    assert factory.registry.record_calls is False


@pytest.mark.parametrize("selector", [None, "shard=a"], ids=["unsharded", "sharded"])
def test_webhook_lookups_read_the_controllers_caches(
    kube_api_client: k8s.ApiClient, kube_namespace: str, selector: str | None
) -> None:
    """``bmo run``'s wiring: the webhook gets working lookups over the informers the
    controllers registered (no extra watch), including a host outside a shard."""
    parser = argparse.ArgumentParser()
    settings_mod.add_arguments(parser)
    argv = ["--webhook-port", "9999", "--provisioner", "fixture"]
    if selector is not None:
        argv += ["--host-label-selector", selector]
    settings = settings_mod.from_args(parser.parse_args(argv), {})
    manager = build_manager(
        settings, kube_api_client, provisioner_factory=build_provisioner_factory(settings)
    )
    try:
        webhook = build_webhook(settings)
        assert webhook is not None
        informers = list(manager.informers)
        attach_lookups(webhook, manager, settings)
        assert manager.informers == informers
        assert webhook.schema_lookup is not None and webhook.host_lookup is not None
        Hosts(kube_api_client, kube_namespace).create(host_body("host-0"))
        assert webhook.host_lookup(kube_namespace, "host-0") is True
        assert webhook.host_lookup(kube_namespace, "absent") is False
    finally:
        metrics.uninstall_host_collector()
