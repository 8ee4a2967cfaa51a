"""Scale: N BareMetalHosts created at once, walked to ``available`` by ``bmo run``.

Not a test: run it by hand and compare figures across changes.

    .venv/bin/python -m hack.bench_scale                      # 1000 hosts, default QPS
    .venv/bin/python -m hack.bench_scale --hosts 200 --qps 50 --burst 100

``bmo run --provisioner fixture`` runs as a subprocess (so its peak RSS is its own) against
the Kubernetes API emulator, which runs in this process so its request log can be read
directly. Once bmo serves metrics, the Secrets and hosts are created by 8 client threads as
fast as the emulator takes them; the clock starts at the first create and stops when every
host's ``status.provisioning.state`` is ``available``.

Figures: wall time, hosts/min, status writes per host (PUT/PATCH on ``.../status``), all
BareMetalHost writes per host, Event writes, bmo's peak RSS (``VmHWM``) and CPU seconds.
Reference: the Go operator's published figure is 800 hosts in 328 s (146 hosts/min) with
its fixture provisioner (the scalability test of metal3-io/baremetal-operator PR #3489).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testenv.ironic import LOOPBACK, free_port, terminate
from testenv.kubeapi import KubeAPIServer
from testenv.kubeapi.faults import RequestLog, RequestRecord

REPO_ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = REPO_ROOT / "config" / "crd" / "bases"
NAMESPACE = "bench"
BMH_LIST_PATH = f"/apis/metal3.io/v1alpha1/namespaces/{NAMESPACE}/baremetalhosts"
GO_REFERENCE = ("Go baremetal-operator (published)", 800, 328.0)


class BenchError(Exception):
    """The benchmark could not finish; the message says where to look."""


# --------------------------------------------------------------------------------------------
# bmo as a subprocess


class BmoProcess:
    """``bmo run`` in its own session, with its log in a file and its memory readable."""

    def __init__(
        self, kube_url: str, provisioner: str, log_path: Path, extra: Sequence[str] = ()
    ) -> None:
        self.kube_url = kube_url
        self.log_path = log_path
        self.metrics_url = f"http://{LOOPBACK}:{free_port()}/metrics"
        self.argv = [
            sys.executable,
            "-m",
            "bmo",
            "run",
            "--kube-url",
            kube_url,
            "--provisioner",
            provisioner,
            "--development-drivers",
            "--health-addr",
            f"{LOOPBACK}:0",
            "--metrics-addr",
            self.metrics_url.removeprefix("http://").removesuffix("/metrics"),
            "--metrics-insecure",
            "--webhook-port",
            "0",
            *extra,
        ]
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None, deadline: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=str(REPO_ROOT),
            )
        end = time.monotonic() + deadline
        while True:
            if self.popen.poll() is not None:
                raise BenchError(
                    f"bmo run exited with {self.popen.returncode}; see {self.log_path}:\n"
                    + tail(self.log_path)
                )
            try:
                with urllib.request.urlopen(self.metrics_url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > end:
                raise BenchError(f"bmo run did not serve metrics in {deadline} s: {self.log_path}")
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def peak_rss_mib(self) -> float:
        """``VmHWM``: the resident-set high-water mark of the process so far."""
        assert self.popen is not None
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        assert self.popen is not None
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def metric(self, name: str) -> float:
        """Sum of every sample of one metric family (0 when absent)."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                head, _, value = line.rpartition(" ")
                if head.split("{")[0] == name:
                    total += float(value)
        return total

    def stop(self) -> None:
        if self.popen is not None:
            terminate(self.popen.pid, "bmo", self.popen, deadline=30.0)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------
# the Kubernetes side


def kube_request(
    base: str, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


def host_manifests(index: int, bmc_address: str, mac: str) -> tuple[dict[str, Any], ...]:
    name = f"host-{index:05d}"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{name}-bmc", "namespace": NAMESPACE},
        "type": "Opaque",
        "stringData": {"username": "admin", "password": "bench-password"},
    }
    host = {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "online": True,
            "bootMACAddress": mac,
            "bmc": {"address": bmc_address, "credentialsName": f"{name}-bmc"},
        },
    }
    return secret, host


def mac_for(index: int) -> str:
    return f"52:54:01:{(index >> 16) & 0xFF:02x}:{(index >> 8) & 0xFF:02x}:{index & 0xFF:02x}"


def create_hosts(
    kube_url: str, count: int, bmc: Callable[[int], str], workers: int = 8, first: int = 0
) -> float:
    """Create hosts ``first`` .. ``first + count - 1`` (each with its Secret) from ``workers``
    threads; returns the seconds it took."""
    core = f"/api/v1/namespaces/{NAMESPACE}/secrets"
    bmh = f"/apis/metal3.io/v1alpha1/namespaces/{NAMESPACE}/baremetalhosts"

    def one(index: int) -> None:
        secret, host = host_manifests(index, bmc(index), mac_for(index))
        kube_request(kube_url, "POST", core, secret)
        kube_request(kube_url, "POST", bmh, host)

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(first, first + count)))
    return time.monotonic() - started


def stored_host_states(server: KubeAPIServer) -> dict[str, str]:
    """Every host's state as the emulator (in this process) stores it: no list request, so
    it can be looked at often without serializing the fleet or taking a core from bmo."""
    with server.store.lock:
        objects = list(server.store.objects.get(("metal3.io", "baremetalhosts"), {}).values())
    return {
        o["metadata"]["name"]: ((o.get("status") or {}).get("provisioning") or {}).get("state", "")
        for o in objects
    }


#: How often :func:`wait_for_state` looks: the figures are exact to about this much.
STATE_POLL: Final = 0.1


def wait_for_state(
    server: KubeAPIServer,
    count: int,
    wanted: str,
    bmo: BmoProcess,
    timeout: float,
    started: float,
    progress: bool = True,
) -> float:
    """Seconds from ``started`` until ``count`` hosts are in ``wanted`` (to
    :data:`STATE_POLL`; a list request a second measured up to a second and a half late)."""
    end = time.monotonic() + timeout
    last_print = 0.0
    while True:
        states = stored_host_states(server)
        done = sum(1 for s in states.values() if s == wanted)
        now = time.monotonic()
        if done >= count:
            return now - started
        if not bmo.alive():
            raise BenchError(f"bmo run died; see {bmo.log_path}:\n{tail(bmo.log_path)}")
        if now > end:
            counts: dict[str, int] = {}
            for s in states.values():
                counts[s or "(none)"] = counts.get(s or "(none)", 0) + 1
            raise BenchError(
                f"only {done}/{count} hosts {wanted} after {timeout:.0f} s ({counts}); "
                f"see {bmo.log_path}"
            )
        if progress and now - last_print > 15:
            counts = {}
            for s in states.values():
                counts[s or "(none)"] = counts.get(s or "(none)", 0) + 1
            print(f"  [{now - started:6.1f}s] {counts}", file=sys.stderr, flush=True)
            last_print = now
        time.sleep(STATE_POLL)


# --------------------------------------------------------------------------------------------
# the run


@dataclass(frozen=True)
class ScaleResult:
    hosts: int
    qps: float
    burst: int
    create_seconds: float
    wall_seconds: float
    status_writes: int
    host_writes: int
    event_writes: int
    conflicts: int
    requests: int
    breakdown: tuple[tuple[str, int], ...]
    peak_rss_mib: float
    cpu_seconds: float
    #: (status writes a host got, how many hosts got that many), fewest first.
    status_histogram: tuple[tuple[int, int], ...] = ()

    @property
    def hosts_per_minute(self) -> float:
        return self.hosts / self.wall_seconds * 60


def run_scale(
    hosts: int,
    qps: float,
    burst: int,
    workdir: Path,
    timeout: float,
    concurrency: int,
    fixture_timing: str = "demo",
    bmo_args: Sequence[str] = (),
) -> ScaleResult:
    server = KubeAPIServer(host=LOOPBACK, port=0, history_limit=max(1000, hosts * 4))
    server.request_log = RequestLog(limit=5_000_000)
    server.install_crds_from_dir(CRD_DIR)
    server.start()
    extra = ["--kube-api-qps", str(qps), "--kube-api-burst", str(burst)]
    if concurrency:
        extra += ["--controller-concurrency", str(concurrency)]
    extra += ["--fixture-timing", fixture_timing, *bmo_args]
    bmo = BmoProcess(server.url, "fixture", workdir / f"bmo-{hosts}-{qps:g}.log", extra)
    try:
        kube_request(
            server.url,
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        )
        bmo.start(env={**os.environ, "PYTHONUNBUFFERED": "1"})
        server.clear_requests()
        started = time.monotonic()
        create = create_hosts(
            server.url, hosts, lambda i: f"fake://{LOOPBACK}/bench-{i}", workers=8
        )
        print(f"  created {hosts} hosts in {create:.1f} s", file=sys.stderr, flush=True)
        wall = wait_for_state(server, hosts, "available", bmo, timeout, started)
        rss, cpu = bmo.peak_rss_mib(), bmo.cpu_seconds()
        records = server.requests
    finally:
        bmo.stop()
        server.stop()
    writes = [r for r in records if r.method in ("PUT", "PATCH", "POST")]
    status = [r for r in writes if "/baremetalhosts/" in r.path and r.path.endswith("/status")]
    return ScaleResult(
        hosts=hosts,
        qps=qps,
        burst=burst,
        create_seconds=create,
        wall_seconds=wall,
        status_writes=sum(1 for r in status if r.status < 300),
        host_writes=sum(
            1
            for r in writes
            if "/baremetalhosts/" in r.path and r.method != "POST" and r.status < 300
        ),
        event_writes=sum(1 for r in writes if "/events" in r.path and r.status < 300),
        conflicts=sum(1 for r in writes if r.status == 409 and "/baremetalhosts/" in r.path),
        requests=sum(1 for r in records if _is_bmo_request(r)),
        breakdown=_breakdown(records),
        peak_rss_mib=rss,
        cpu_seconds=cpu,
        status_histogram=_histogram(r.path for r in status if r.status < 300),
    )


def _histogram(paths: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """How many hosts got how many status writes (``.../baremetalhosts/<name>/status``)."""
    per_host: dict[str, int] = {}
    for path in paths:
        name = path.rsplit("/", 2)[-2]
        per_host[name] = per_host.get(name, 0) + 1
    hosts_with: dict[int, int] = {}
    for count in per_host.values():
        hosts_with[count] = hosts_with.get(count, 0) + 1
    return tuple(sorted(hosts_with.items()))


def _is_bmo_request(record: RequestRecord) -> bool:
    """bmo's own non-watch requests on the bench namespace: everything except the bench's
    creates and its namespaced list polls (bmo never creates hosts or Secrets, and its
    informers list cluster-wide)."""
    own_poll = record.method == "GET" and record.path == BMH_LIST_PATH
    own_create = record.method == "POST" and record.path.endswith(("/secrets", "/baremetalhosts"))
    return (
        not record.is_watch
        and f"/namespaces/{NAMESPACE}/" in record.path
        and not own_poll
        and not own_create
    )


def _breakdown(records: Sequence[RequestRecord]) -> tuple[tuple[str, int], ...]:
    """bmo's requests by verb and resource (object names folded), most frequent first."""
    counts: dict[str, int] = {}
    for r in records:
        if not _is_bmo_request(r):
            continue
        parts = r.path.split("/")
        index = parts.index("namespaces")
        resource = "/".join(
            parts[index + 2 : index + 3]
            + (["*"] if len(parts) > index + 3 else [])
            + parts[index + 4 :]
        )
        key = f"{r.method} {resource} {r.status}"
        counts[key] = counts.get(key, 0) + 1
    return tuple(sorted(counts.items(), key=lambda kv: -kv[1]))


def print_table(results: Sequence[ScaleResult]) -> None:
    header = (
        f"{'run':<34} {'hosts':>6} {'wall s':>8} {'hosts/min':>10} {'status w/h':>10} "
        f"{'bmh w/h':>8} {'events/h':>9} {'req/h':>6} {'409s':>5} {'peak RSS':>9} {'CPU s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        label = f"bmo fixture, qps {r.qps:g}/burst {r.burst}"
        print(
            f"{label:<34} {r.hosts:>6} {r.wall_seconds:>8.1f} {r.hosts_per_minute:>10.1f} "
            f"{r.status_writes / r.hosts:>10.2f} {r.host_writes / r.hosts:>8.2f} "
            f"{r.event_writes / r.hosts:>9.2f} {r.requests / r.hosts:>6.1f} {r.conflicts:>5} "
            f"{r.peak_rss_mib:>7.0f} MiB "
            f"{r.cpu_seconds:>7.1f}"
        )
    for r in results:
        spread = ", ".join(f"{hosts} hosts {writes}" for writes, hosts in r.status_histogram)
        print(f"status writes per host, qps {r.qps:g}: {spread}")
        print(f"requests per host, qps {r.qps:g} (the bench's own creates and polls excluded):")
        for key, count in r.breakdown:
            print(f"  {count / r.hosts:6.2f}  {key}")
    name, count, seconds = GO_REFERENCE
    print(f"{name:<34} {count:>6} {seconds:>8.1f} {count / seconds * 60:>10.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.bench_scale", description=__doc__)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument(
        "--qps",
        type=float,
        nargs="+",
        default=[20.0],
        help="bmo's --kube-api-qps, one run per value (default 20, bmo's default)",
    )
    parser.add_argument("--burst", type=int, default=0, help="default: 1.5 x qps")
    parser.add_argument("--concurrency", type=int, default=0, help="0: bmo's default")
    parser.add_argument(
        "--fixture-timing",
        choices=("demo", "instant"),
        default="demo",
        help="bmo run --fixture-timing: 'demo' inspection and preparation each take a poll "
        "or two (one status write per wait); 'instant' completes every operation at once",
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--bmo-arg",
        action="append",
        default=[],
        help="extra bmo run flag, repeatable (e.g. --bmo-arg=--log-level=debug)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="logs (default: a temp dir)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bmo-bench-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"logs in {workdir}", file=sys.stderr)
    results = []
    for qps in args.qps:
        burst = args.burst or int(qps * 1.5)
        print(f"{args.hosts} hosts, qps {qps:g}, burst {burst}", file=sys.stderr, flush=True)
        try:
            results.append(
                run_scale(
                    args.hosts,
                    qps,
                    burst,
                    workdir,
                    args.timeout,
                    args.concurrency,
                    args.fixture_timing,
                    args.bmo_arg,
                )
            )
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            print_table(results)
            return 1
    print_table(results)
    return 0


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop bmo.
    raise KeyboardInterrupt(signum)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
