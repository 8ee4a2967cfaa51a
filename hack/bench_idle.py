"""At rest: what a fleet of provisioned-and-idle hosts costs bmo, per fleet size.

Not a test: run it by hand and compare figures across changes.

    .venv/bin/python -m hack.bench_idle --window 600                      # 200 and 1000 hosts
    .venv/bin/python -m hack.bench_idle --hosts 5000 --window 600         # ~25 min

For each size: the Kubernetes API emulator (in this process, so its request log is read
directly) and ``bmo run --provisioner fixture`` (a subprocess, so its CPU and memory are its
own); N hosts are created and walked to ``available`` with a lifted API budget (``--qps``),
then left alone for ``--settle`` seconds and until 10 s pass without a write from bmo (the
fleet's Events drain after the last host is available), and measured over ``--window``
seconds:

* Kubernetes writes per minute (bmo's PUT/PATCH/POST/DELETE; should be 0 at rest) and reads
  per minute (non-watch GETs);
* bmo's CPU as % of one core over the window, and its RSS at the end (and peak);
* Ironic requests per host per minute: 0 by construction with the fixture provisioner (the
  Ironic figures come from ``hack/bench_ironic.py``).

Hosts are created in waves of ``--wave`` (each walked to ``available`` before the next), so
hosts waiting on their inspection poll are not queued behind thousands of new ones.

At rest a host polls power every 10 min (``WATCHED_POWER_POLL_DELAY``: the fixture, like
Ironic's node cache, wakes a host when its machine changes; upstream polls every 60 s) and
its HostFirmwareSettings/Components are re-read every 5 min. Those polls all fall due about
a period after the walk, so only a window of ``--window 600`` or more sees each once: use it
for figures (a 60 s window right after the walk sees almost none). ``CPU ms/reconcile`` is
bmo's CPU in the window over its host reconciles in the window (the firmware controllers'
reconciles and the process's fixed cost included), so it is constant per host when the
cost is linear in the fleet.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hack.bench_scale import (
    CRD_DIR,
    NAMESPACE,
    BenchError,
    BmoProcess,
    create_hosts,
    kube_request,
    wait_for_state,
)
from testenv.ironic import LOOPBACK
from testenv.kubeapi import KubeAPIServer
from testenv.kubeapi.faults import RequestLog, RequestRecord

DEFAULT_SIZES = (200, 1000)
WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})


@dataclass(frozen=True)
class IdleResult:
    hosts: int
    window: float
    writes_per_min: float
    reads_per_min: float
    cpu_percent: float
    rss_mib: float
    peak_rss_mib: float
    reconciles_per_min: float
    ironic_per_host_min: float = 0.0

    @property
    def cpu_ms_per_reconcile(self) -> float:
        if not self.reconciles_per_min:
            return float("nan")
        return self.cpu_percent / 100 * 60_000 / self.reconciles_per_min


def _bmo_requests(records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """bmo's non-watch requests on the bench namespace (the bench polls nothing meanwhile)."""
    return [r for r in records if not r.is_watch and f"/namespaces/{NAMESPACE}/" in r.path]


def _rss_mib(bmo: BmoProcess) -> float:
    assert bmo.popen is not None
    for line in Path(f"/proc/{bmo.popen.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait_quiet(server: KubeAPIServer, at_least: float, limit: float = 600.0) -> float:
    """Wait ``at_least`` seconds, then until bmo went 10 s without a write (the events of
    the fleet's registration drain on their own budget after the last host is available);
    returns the seconds waited."""
    started = time.monotonic()
    time.sleep(at_least)
    while time.monotonic() - started < limit:
        server.clear_requests()
        time.sleep(10.0)
        if not any(r.method in WRITE_METHODS for r in _bmo_requests(server.requests)):
            break
    return time.monotonic() - started


def run_idle(
    hosts: int,
    workdir: Path,
    *,
    window: float,
    settle: float,
    qps: float,
    timeout: float,
    wave: int = 1000,
) -> IdleResult:
    server = KubeAPIServer(host=LOOPBACK, port=0, history_limit=max(1000, hosts * 4))
    server.request_log = RequestLog(limit=5_000_000)
    server.install_crds_from_dir(CRD_DIR)
    server.start()
    extra = ["--kube-api-qps", str(qps), "--kube-api-burst", str(int(qps * 1.5))]
    bmo = BmoProcess(server.url, "fixture", workdir / f"bmo-idle-{hosts}.log", extra)
    try:
        kube_request(
            server.url,
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        )
        bmo.start(env={**os.environ, "PYTHONUNBUFFERED": "1"})
        started = time.monotonic()
        # In waves: with thousands of keys queued at once, a host waiting on its inspection
        # poll is requeued behind every host not yet seen (the queue is FIFO, as client-go's),
        # and the walk to ``available`` of 5000 hosts takes most of an hour.
        for first in range(0, hosts, wave):
            count = min(wave, hosts - first)
            create_hosts(
                server.url, count, lambda i: f"fake://{LOOPBACK}/idle-{i}", workers=8, first=first
            )
            wall = wait_for_state(server, first + count, "available", bmo, timeout, started)
        print(f"  {hosts} hosts available in {wall:.0f} s; settling", file=sys.stderr)
        quiet = _wait_quiet(server, settle)
        print(f"  quiet after {quiet:.0f} s; measuring {window:.0f} s", file=sys.stderr)
        server.clear_requests()
        reconciles0 = bmo.metric("metal3_reconcile_total")
        cpu0, t0 = bmo.cpu_seconds(), time.monotonic()
        time.sleep(window)
        cpu1, t1 = bmo.cpu_seconds(), time.monotonic()
        reconciles1 = bmo.metric("metal3_reconcile_total")
        records = _bmo_requests(server.requests)
        rss, peak = _rss_mib(bmo), bmo.peak_rss_mib()
    finally:
        bmo.stop()
        server.stop()
    minutes = (t1 - t0) / 60
    kinds: dict[str, int] = {}
    for r in records:
        if r.method in WRITE_METHODS:
            parts = r.path.split("/")
            key = f"{r.method} {parts[parts.index('namespaces') + 2]}"
            kinds[key] = kinds.get(key, 0) + 1
    for key, count in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  writes in the window: {count} {key}", file=sys.stderr)
    writes = sum(1 for r in records if r.method in WRITE_METHODS)
    reads = sum(1 for r in records if r.method == "GET")
    return IdleResult(
        hosts=hosts,
        window=t1 - t0,
        writes_per_min=writes / minutes,
        reads_per_min=reads / minutes,
        cpu_percent=(cpu1 - cpu0) / (t1 - t0) * 100,
        rss_mib=rss,
        peak_rss_mib=peak,
        reconciles_per_min=(reconciles1 - reconciles0) / minutes,
    )


def print_table(results: Sequence[IdleResult]) -> None:
    header = (
        f"{'hosts':>6} {'window s':>8} {'writes/min':>10} {'reads/min':>9} {'CPU %':>6} "
        f"{'RSS MiB':>8} {'peak MiB':>8} {'reconciles/min':>14} {'CPU ms/reconcile':>16} "
        f"{'Ironic req/host/min':>19}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.hosts:>6} {r.window:>8.0f} {r.writes_per_min:>10.1f} {r.reads_per_min:>9.1f} "
            f"{r.cpu_percent:>6.2f} {r.rss_mib:>8.0f} {r.peak_rss_mib:>8.0f} "
            f"{r.reconciles_per_min:>14.0f} {r.cpu_ms_per_reconcile:>16.2f} "
            f"{r.ironic_per_host_min:>19.1f}"
        )
    print("(fixture provisioner: no Ironic; its figures come from hack/bench_ironic.py)")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hosts {text!r}: give host counts separated by commas, e.g. 200,1000,5000"
        ) from None
    if not sizes or any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError(f"--hosts {text!r}: counts must be positive")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.bench_idle", description=__doc__)
    parser.add_argument(
        "--hosts",
        type=_sizes,
        default=DEFAULT_SIZES,
        help="fleet sizes, comma-separated (default 200,1000; add 5000 for the long run)",
    )
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds before measuring")
    parser.add_argument("--qps", type=float, default=1000.0, help="API budget to get there")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument(
        "--wave", type=int, default=1000, help="hosts created at a time on the way to available"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="logs (default: a temp dir)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bmo-bench-idle-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"logs in {workdir}", file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)
    results = []
    try:
        for hosts in args.hosts:
            print(f"{hosts} hosts", file=sys.stderr, flush=True)
            results.append(
                run_idle(
                    hosts,
                    workdir,
                    window=args.window,
                    settle=args.settle,
                    qps=args.qps,
                    timeout=args.timeout,
                    wave=max(1, args.wave),
                )
            )
    except BenchError as exc:
        print(f"bench_idle: {exc}", file=sys.stderr)
        if results:
            print_table(results)
        return 1
    print_table(results)
    return 0


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
