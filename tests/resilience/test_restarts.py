"""bmo is disposable too: ``bmo run`` killed with SIGKILL at random moments, restarted each
time, across 20+ host lifecycles (created -> provisioned -> image removed -> available ->
deleted). Every host must converge, no node may be deployed (or deprovisioned) twice, and
no transition may be lost.

The kill times come from a seeded RNG: the seed is printed, and ``BMO_SIGKILL_SEED=<seed>``
replays the same schedule. Several lifecycles run at once per bmo process lifetime so the
whole test stays within a few minutes.

There is no budget for the whole test: on a loaded machine the sum of many healthy phases
can exceed any fixed total. Each phase of each lifecycle has its own deadline instead, and
one that passes names the lifecycle, its phase, how long it has been in it and each host's
state - what is stuck, not merely that the clock ran out.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client as k8s

from testenv.kubeapi import KubeAPIServer
from tests.integration.operator import Hosts, create_secret
from tests.resilience.env import IMAGE, bmo_environ, fake_host, remove_all, stack

# Per-phase deadlines bound every wait; the suite-wide per-test timeout would reintroduce a
# global budget for the whole run, so this test gets a larger one.
pytestmark = [pytest.mark.ironic, pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
LIFECYCLES = 21
HOSTS_PER_RUN = 2
PARALLEL_RUNS = 4
PHASE_BUDGET = 120.0
"""Seconds one phase of one lifecycle (provisioning, deprovisioning, deleting) may take while
bmo is killed every few seconds; a healthy phase takes a few seconds of bmo uptime."""
KILL_EVERY = (2.0, 8.0)
"""Seconds between kills. A ``bmo run`` process needs one to two seconds to import, sync its
caches and start its workers: kills closer together than that mostly hit processes that
never reconciled anything, and whether a phase finished in time became a matter of the seed."""


@dataclass
class Run:
    """One lifecycle of ``HOSTS_PER_RUN`` hosts, advanced by the test's polling loop."""

    index: int
    names: list[str]
    phase: str = "create"
    ids: dict[str, str] = field(default_factory=dict)
    phase_since: float = field(default_factory=time.monotonic)

    def enter(self, phase: str) -> None:
        self.phase = phase
        self.phase_since = time.monotonic()

    def overdue(self, now: float) -> bool:
        return now - self.phase_since > PHASE_BUDGET


class Bmo:
    """``bmo run`` (with a requeue cap) as a subprocess that can be SIGKILLed."""

    def __init__(self, kube_url: str, namespace: str, environ: dict[str, str], log: Path):
        self.argv = [
            sys.executable,
            "-m",
            "tests.resilience.bmo_child",
            "--kube-url",
            kube_url,
            "--namespace",
            namespace,
            "--development-drivers",
            "--health-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "0",
            "--webhook-port",
            "0",
            "--controller-concurrency",
            "4",
        ]
        self.env = {**os.environ, **environ, "BMO_TEST_MAX_REQUEUE_AFTER": "0.5"}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
            self.kills += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


def test_sigkill_at_random_points_across_lifecycles(
    tmp_path: Path,
    kube_server: KubeAPIServer,
    kube_api_client: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    seed = int(os.environ.get("BMO_SIGKILL_SEED") or random.randrange(1 << 30))
    print(f"BMO_SIGKILL_SEED={seed}")
    rng = random.Random(seed)
    ns = kube_namespace
    hosts = Hosts(kube_api_client, ns)
    create_secret(kube_api_client, ns)
    with stack(tmp_path, agent=False) as s:
        bmo = Bmo(kube_server.url, ns, bmo_environ(s.proxy, s.ironic), tmp_path / "bmo.log")
        runs = [Run(i, [f"r{i:02d}-h{j}" for j in range(HOSTS_PER_RUN)]) for i in range(LIFECYCLES)]
        pending = list(runs)
        active: list[Run] = []
        bmo.start()
        next_kill = time.monotonic() + rng.uniform(*KILL_EVERY)
        try:
            while pending or active:
                now = time.monotonic()
                stuck = [r for r in active if r.overdue(now)]
                assert not stuck, (
                    f"seed {seed}: phase not done within {PHASE_BUDGET:g}s "
                    f"({bmo.kills} kills so far): "
                    + ", ".join(
                        f"lifecycle {r.index} {r.phase} for {now - r.phase_since:.0f}s, "
                        f"hosts {[(n, hosts.state(n)) for n in r.names]}"
                        for r in stuck
                    )
                    + f"; log {bmo.log}"
                )
                if now >= next_kill:
                    bmo.kill()
                    bmo.start()
                    next_kill = now + rng.uniform(*KILL_EVERY)
                elif not bmo.alive():
                    pytest.fail(f"bmo exited by itself; see {bmo.log}")
                while pending and len(active) < PARALLEL_RUNS:
                    active.append(pending.pop(0))
                    active[-1].enter("create")
                for run in list(active):
                    _advance(run, hosts)
                    if run.phase == "done":
                        active.remove(run)
                time.sleep(0.1)
        finally:
            bmo.stop()
            remove_all(hosts)
        assert bmo.kills >= 10, f"seed {seed}: only {bmo.kills} kills; the test proves little"

        accepted = [r for r in s.proxy.requests() if 200 <= r.status < 300]
        by_target = Counter((r.node, r.target) for r in accepted if r.target)
        for run in runs:
            for name, node_id in run.ids.items():
                assert by_target[(node_id, "active")] == 1, (
                    f"seed {seed}: {name} ({node_id}) deployed "
                    f"{by_target[(node_id, 'active')]} times"
                )
                assert by_target[(node_id, "deleted")] == 1, (
                    f"seed {seed}: {name} deprovisioned {by_target[(node_id, 'deleted')]} times"
                )
        assert {n for n in s.nodes.all() if n.startswith(f"{ns}~")} == set()
        print(f"{LIFECYCLES} lifecycles x {HOSTS_PER_RUN} hosts, {bmo.kills} SIGKILLs")


def _advance(run: Run, hosts: Hosts) -> None:
    states = [hosts.state(name) for name in run.names]
    if run.phase == "create":
        for name in run.names:
            hosts.create(fake_host(name, image=IMAGE))
        run.enter("provisioning")
    elif run.phase == "provisioning" and all(st == "provisioned" for st in states):
        for name in run.names:
            status = hosts.status(name)
            assert status["provisioning"]["image"]["url"] == IMAGE["url"]
            run.ids[name] = status["provisioning"]["ID"]
            hosts.patch(name, {"spec": {"image": None}})
        run.enter("deprovisioning")
    elif run.phase == "deprovisioning" and all(st == "available" for st in states):
        for name in run.names:
            status = hosts.status(name)
            assert status["provisioning"]["ID"] == run.ids[name], "node re-created mid-life"
            assert not status["provisioning"]["image"].get("url")
            assert status["operationHistory"]["deprovision"]["end"]
            hosts.delete(name)
        run.enter("deleting")
    elif run.phase == "deleting" and all(hosts.get(name) is None for name in run.names):
        run.enter("done")
    for name, state in zip(run.names, states, strict=True):
        status = hosts.status(name) if state else {}
        assert not status.get("errorType"), (name, status)
