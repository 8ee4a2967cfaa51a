"""bmo against a real Ironic vs a plain openstacksdk script doing the same Ironic calls.

Not a test: run it by hand and compare figures across changes.

    .venv/bin/python -m hack.bench_ironic               # 50 hosts/nodes each way
    .venv/bin/python -m hack.bench_ironic --hosts 20 --only script

One local Ironic (fake-hardware, HTTP basic, automated cleaning on, as configured by
testenv/ironic) and the fake agent (testenv/fake_agent) serve both runs; Ironic's
database is wiped and Ironic restarted between them so each starts from the same state.

* **script**: one thread per node, openstacksdk with its own polling (every 2 s): create the
  node (``inspect_interface=agent``) and its port, ``manage``, ``inspect`` (answered by the
  fake agent), ``provide`` (automated cleaning), set ``instance_info`` (image URL, sha256
  checksum, qcow2), ``active``. It honours the same ``--provisioning-limit`` as bmo's
  ``PROVISIONING_LIMIT`` (a semaphore held while inspecting, cleaning and deploying: the
  states ``ironic.go loadBusyHosts`` counts), and
  retries 409/503/dropped connections with bounded exponential backoff (tenacity), as a
  real client does, so one reset connection from a loaded Ironic does not end the run.
* **bmo**: ``bmo run --provisioner ironic`` against the Kubernetes API emulator; N
  ``fake://`` BareMetalHosts with an image are created at once and timed until every one is
  ``provisioned`` (the time to ``available`` is reported on the way).

The ratio bmo/script is the price of the operator's machinery (informer, queue, status
writes, requeue delays) over the bare Ironic calls; Ironic itself is the bottleneck for both
(one ``ironic`` process with SQLite: API and conductor share one GIL-bound core).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hack.bench_scale import (
    CRD_DIR,
    NAMESPACE,
    STATE_POLL,
    BenchError,
    BmoProcess,
    host_manifests,
    kube_request,
    mac_for,
    stored_host_states,
    tail,
    wait_for_state,
)
from testenv.fake_agent import FakeAgent, Inspection
from testenv.ironic import LOOPBACK, IronicProcess, require_installed
from testenv.ironic.process import proc_stats
from testenv.ironic_proxy import IronicProxy
from testenv.kubeapi import KubeAPIServer

T = TypeVar("T")
API_VERSION = "1.110"
IMAGE_NAME = "bench.qcow2"
DEFAULT_PROVISIONING_LIMIT = 20
SCRIPT_PHASES = ("enroll", "manage", "inspect", "provide", "instance_info", "deploy")


@dataclass(frozen=True)
class Image:
    url: str
    sha256: str


def write_image(ironic: IronicProcess) -> Image:
    """A small file under Ironic's http_root; fake deploys never read it, but it exists."""
    data = b"QFI\xfb" + b"\0" * (64 * 1024 - 4)
    images = ironic.state_dir / "httpboot" / "images"
    images.mkdir(parents=True, exist_ok=True)
    (images / IMAGE_NAME).write_bytes(data)
    assert ironic.http_url is not None
    return Image(f"{ironic.http_url}/images/{IMAGE_NAME}", hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------------------------
# the plain openstacksdk script


@dataclass
class NodeTimes:
    """Seconds from the run's start at which this node finished each phase."""

    done: dict[str, float] = field(default_factory=dict)


def _transient(exc: BaseException) -> bool:
    """NodeLocked (409), 503 and dropped connections are Ironic being busy.

    A node being worked on answers 409 NodeLocked; ``[conductor] max_concurrent_clean`` and
    ``max_concurrent_deploy`` make the API answer 503 beyond that many nodes in flight; and
    the API server (cheroot, a small listen backlog) drops or resets a connection now and
    then, which keystoneauth raises as ``ConnectFailure``/``ConnectionError``.
    """
    from keystoneauth1 import exceptions as ks_exceptions
    from openstack import exceptions

    if isinstance(exc, exceptions.ConflictException):
        return True
    if isinstance(exc, exceptions.HttpException):
        return exc.status_code in (503, None)
    if isinstance(exc, (ks_exceptions.ConnectionError, ConnectionError)):
        return True
    return isinstance(exc, exceptions.SDKException) and "onnection" in str(exc)


def _retry(action: Callable[[], T], what: str, attempts: int = 10) -> T:
    """``action`` retried on transient errors as a real client does: bounded, with backoff."""
    import tenacity

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_transient),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=0.5, max=5.0),
        reraise=False,
    )
    try:
        return retrying(action)
    except tenacity.RetryError as exc:
        raise BenchError(f"{what}: Ironic stayed busy after {attempts} attempts") from exc


def connection(ironic: IronicProcess) -> Any:
    import openstack.connection

    assert ironic.credentials is not None
    username, password = ironic.credentials
    return openstack.connection.Connection(
        auth_type="http_basic",
        auth={"username": username, "password": password},
        baremetal_endpoint_override=ironic.url,
        baremetal_api_version=API_VERSION,
    )


def walk_node(
    ironic: IronicProcess,
    index: int,
    image: Image,
    started: float,
    timeout: float,
    slots: threading.Semaphore,
) -> NodeTimes:
    """One node from enroll to active. ``slots`` is bmo's ``PROVISIONING_LIMIT``: held while
    the node inspects, cleans (``provide``) and deploys, the states whose nodes bmo counts
    against the limit (``ironic.go loadBusyHosts``). Released between them, where the node
    holds no slot in Ironic either."""
    conn = connection(ironic)
    bm = conn.baremetal
    times = NodeTimes()

    def mark(phase: str) -> None:
        times.done[phase] = time.monotonic() - started

    def move(target: str, wanted: str) -> None:
        # The request and the wait retried separately: re-sending a state change after a
        # dropped connection during the wait would be refused (the node already moved).
        _retry(
            lambda: bm.set_node_provision_state(node.id, target, wait=False),
            f"{target} {name}",
        )
        _retry(
            lambda: bm.wait_for_nodes_provision_state([node.id], wanted, timeout=timeout),
            f"wait for {wanted} on {name}",
        )

    name = f"script-{index:04d}"
    node = _retry(
        lambda: bm.create_node(name=name, driver="fake-hardware", inspect_interface="agent"),
        f"create {name}",
    )
    _retry(lambda: bm.create_port(node_id=node.id, address=mac_for(index)), f"port of {name}")
    mark("enroll")
    move("manage", "manageable")
    mark("manage")
    with slots:
        move("inspect", "manageable")
    mark("inspect")
    with slots:
        move("provide", "available")
    mark("provide")
    _retry(
        lambda: bm.patch_node(
            node.id,
            [
                {"op": "add", "path": "/instance_info/image_source", "value": image.url},
                {"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"},
                {"op": "add", "path": "/instance_info/image_os_hash_value", "value": image.sha256},
                {"op": "add", "path": "/instance_info/image_disk_format", "value": "qcow2"},
            ],
        ),
        f"instance_info of {name}",
    )
    mark("instance_info")
    with slots:
        move("active", "active")
    mark("deploy")
    return times


@dataclass(frozen=True)
class ScriptResult:
    nodes: int
    wall_seconds: float
    phase_end: dict[str, float]


def run_script(
    ironic: IronicProcess, count: int, image: Image, timeout: float, limit: int
) -> ScriptResult:
    started = time.monotonic()
    slots = threading.Semaphore(limit)
    with ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(walk_node, ironic, i, image, started, timeout, slots) for i in range(count)
        ]
        results = [f.result() for f in futures]
    wall = time.monotonic() - started
    phase_end = {p: max(r.done[p] for r in results) for p in SCRIPT_PHASES}
    return ScriptResult(count, wall, phase_end)


# --------------------------------------------------------------------------------------------
# bmo


@dataclass(frozen=True)
class BmoResult:
    hosts: int
    available_seconds: float
    wall_seconds: float
    peak_rss_mib: float
    cpu_seconds: float
    reconciles: float = 0.0
    request_mix: str = ""  # with --count-requests: what bmo asked Ironic, most frequent first
    queue: str = ""


def run_bmo(
    ironic: IronicProcess,
    count: int,
    image: Image,
    timeout: float,
    workdir: Path,
    bmo_args: Sequence[str] = (),
    provisioning_limit: int | None = None,
    count_requests: bool = False,
) -> BmoResult:
    server = KubeAPIServer(host=LOOPBACK, port=0)
    proxy = IronicProxy(ironic.url) if count_requests else None
    if proxy is not None:
        proxy.start()
    server.install_crds_from_dir(CRD_DIR)
    server.start()
    bmo = BmoProcess(server.url, "ironic", workdir / "bmo-ironic.log", bmo_args)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRONIC_", "METAL3_"))}
    env.update(ironic.env())
    if proxy is not None:
        env["IRONIC_ENDPOINT"] = f"{proxy.url}/v1/"
    env["PYTHONUNBUFFERED"] = "1"
    if provisioning_limit is not None:
        env["PROVISIONING_LIMIT"] = str(provisioning_limit)
    try:
        kube_request(
            server.url,
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        )
        bmo.start(env=env)
        started = time.monotonic()
        create_hosts_with_image(server.url, count, image)
        available = wait_for_first_pass(server, count, bmo, timeout, started)
        wall = wait_for_state(server, count, "provisioned", bmo, timeout, started)
        rss, cpu = bmo.peak_rss_mib(), bmo.cpu_seconds()
        reconciles = bmo.metric("controller_runtime_reconcile_total")
        queue = queue_summary(bmo.metrics_url, "baremetalhost")
    finally:
        bmo.stop()
        server.stop()
        if proxy is not None:
            proxy.stop()
    mix = ""
    if proxy is not None:
        counts = proxy.counts()
        records = proxy.requests()
        answered = [r.elapsed for r in records if r.status]
        mean = sum(answered) / len(answered) if answered else 0.0
        mix = (
            f"{sum(counts.values())} Ironic requests, mean answer {mean * 1000:.0f} ms: "
            + ", ".join(
                f"{n} {method} {template}" for (method, template, _), n in counts.most_common(12)
            )
        )
        # Every request, for reading by hand (which host asked what, in what order).
        with (workdir / "ironic-requests.jsonl").open("w") as out:
            for r in records:
                out.write(json.dumps(dataclasses.asdict(r)) + "\n")
    return BmoResult(count, available, wall, rss, cpu, reconciles, mix, queue)


def queue_summary(metrics_url: str, queue: str) -> str:
    """Items handled by one work queue, their mean wait in it and mean processing time
    (client-go's ``workqueue_queue_duration_seconds`` and ``workqueue_work_duration_seconds``)."""
    import urllib.request

    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if f'name="{queue}"' in head and head.split("{")[0].endswith(("_sum", "_count")):
            values[head.split("{")[0]] = float(value)
    items = values.get("workqueue_work_duration_seconds_count", 0.0)
    if not items:
        return ""
    wait = values.get("workqueue_queue_duration_seconds_sum", 0.0) / items
    work = values.get("workqueue_work_duration_seconds_sum", 0.0) / items
    return f"{queue} queue: {items:.0f} items, mean wait {wait:.2f} s, mean work {work:.3f} s"


def create_hosts_with_image(kube_url: str, count: int, image: Image) -> None:
    """The hosts arrive with their image, so bmo goes straight on to provision them."""
    bmh = f"/apis/metal3.io/v1alpha1/namespaces/{NAMESPACE}/baremetalhosts"
    core = f"/api/v1/namespaces/{NAMESPACE}/secrets"

    def one(index: int) -> None:
        secret, host = host_manifests(index, f"fake://{LOOPBACK}/bench-{index}", mac_for(index))
        host["spec"]["image"] = {
            "url": image.url,
            "checksum": image.sha256,
            "checksumType": "sha256",
            "format": "qcow2",
        }
        kube_request(kube_url, "POST", core, secret)
        kube_request(kube_url, "POST", bmh, host)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def wait_for_first_pass(
    server: KubeAPIServer, count: int, bmo: BmoProcess, timeout: float, started: float
) -> float:
    """When every host has been available at least once (passed through to provisioning)."""
    passed = {"available", "provisioning", "provisioned"}
    end = time.monotonic() + timeout
    while True:
        states = stored_host_states(server)
        if sum(1 for s in states.values() if s in passed) >= count:
            return time.monotonic() - started
        if not bmo.alive():
            raise BenchError(f"bmo run died; see {bmo.log_path}:\n{tail(bmo.log_path)}")
        if time.monotonic() > end:
            raise BenchError(f"hosts did not reach available in {timeout:.0f} s: {bmo.log_path}")
        time.sleep(STATE_POLL)


# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.bench_ironic", description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--only", choices=("bmo", "script"), default=None)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--provisioning-limit",
        type=int,
        default=DEFAULT_PROVISIONING_LIMIT,
        help="PROVISIONING_LIMIT of both halves: nodes inspecting/deploying at once (bmo's "
        "default, 20)",
    )
    parser.add_argument(
        "--bmo-arg",
        action="append",
        default=[],
        help="extra bmo run flag, repeatable (e.g. --bmo-arg=--kube-api-qps=200)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="logs (default: a temp dir)")
    parser.add_argument(
        "--count-requests",
        action="store_true",
        help="put bmo behind testenv.ironic_proxy and print what it asked Ironic (the proxy "
        "adds a hop to each request, so the time is not comparable with runs without it)",
    )
    args = parser.parse_args(argv)
    require_installed()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bmo-bench-ironic-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"logs and Ironic state in {workdir}", file=sys.stderr)
    handler = logging.FileHandler(workdir / "fake-agent.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    agent_log = logging.getLogger("testenv.fake_agent")
    agent_log.addHandler(handler)
    agent_log.setLevel(logging.INFO)
    agent_log.propagate = False
    ironic = IronicProcess(state_dir=workdir / "ironic", port=0, auth="http_basic", http_port=0)
    ironic.wipe_database()
    ironic.start()
    agent = FakeAgent(ironic.url, ironic.credentials, interval=1.0).start()
    script: ScriptResult | None = None
    bmo: BmoResult | None = None
    latencies: dict[str, list[Inspection]] = {}
    ironic_cpu: dict[str, tuple[float, float]] = {}  # run -> (Ironic's CPU s, wall s)
    try:
        image = write_image(ironic)
        if args.only in (None, "script"):
            print(f"script: {args.hosts} nodes", file=sys.stderr, flush=True)
            before = process_tree_cpu(ironic.pid)
            script = run_script(ironic, args.hosts, image, args.timeout, args.provisioning_limit)
            ironic_cpu["script"] = (process_tree_cpu(ironic.pid) - before, script.wall_seconds)
            latencies["script"] = agent.inspections
        if args.only is None:
            agent.stop()
            ironic.wipe_database()
            ironic.start()
            agent = FakeAgent(ironic.url, ironic.credentials, interval=1.0).start()
        if args.only in (None, "bmo"):
            print(f"bmo: {args.hosts} hosts", file=sys.stderr, flush=True)
            before = process_tree_cpu(ironic.pid)
            bmo = run_bmo(
                ironic,
                args.hosts,
                image,
                args.timeout,
                workdir,
                args.bmo_arg,
                args.provisioning_limit,
                args.count_requests,
            )
            ironic_cpu["bmo"] = (process_tree_cpu(ironic.pid) - before, bmo.wall_seconds)
            latencies["bmo"] = agent.inspections
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        agent.stop()
        ironic.stop()
    print_table(script, bmo)
    for run, (cpu, wall) in ironic_cpu.items():
        print(
            f"Ironic during the {run} run: {cpu:.1f} CPU-s in {wall:.1f} s "
            f"({100 * cpu / wall if wall else 0:.0f} % of one core)"
        )
    for run, inspections in latencies.items():
        posts = sorted(i.post_seconds for i in inspections)
        if posts:
            print(
                f"fake agent during the {run} run: {len(posts)} inventories posted, Ironic took "
                f"median {posts[len(posts) // 2]:.2f} s, max {posts[-1]:.2f} s to accept one"
            )
    return 0


def process_tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of ``pid`` and every live descendant: what Ironic spent,
    so a run shows whether Ironic's one process was the bottleneck."""
    if pid is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {
        child: (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
        for child, fields in proc_stats()
    }
    tree, total = {pid}, 0.0
    grew = True
    while grew:
        grew = False
        for child, (parent, _) in stats.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    for member in tree:
        total += stats.get(member, (0, 0.0))[1]
    return total


def print_table(script: ScriptResult | None, bmo: BmoResult | None) -> None:
    print(f"{'run':<28} {'n':>4} {'→ available s':>14} {'→ active/provisioned s':>23}")
    print("-" * 72)
    if script is not None:
        print(
            f"{'openstacksdk script':<28} {script.nodes:>4} "
            f"{script.phase_end['provide']:>14.1f} {script.wall_seconds:>23.1f}"
        )
        phases = ", ".join(f"{p} {s:.1f}" for p, s in script.phase_end.items())
        print(f"  (script: last node done with each phase at: {phases} s)")
    if bmo is not None:
        print(
            f"{'bmo run (ironic)':<28} {bmo.hosts:>4} {bmo.available_seconds:>14.1f} "
            f"{bmo.wall_seconds:>23.1f}"
        )
        print(
            f"  (bmo: peak RSS {bmo.peak_rss_mib:.0f} MiB, CPU {bmo.cpu_seconds:.1f} s, "
            f"{bmo.reconciles:.0f} reconciles in all controllers)"
        )
        if bmo.queue:
            print(f"  (bmo: {bmo.queue})")
        if bmo.request_mix:
            print(f"  (bmo: {bmo.request_mix})")
    if script is not None and bmo is not None:
        print(f"bmo / script (to provisioned): {bmo.wall_seconds / script.wall_seconds:.2f}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
