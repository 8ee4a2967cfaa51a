"""Recovery: how long bmo takes to rebuild Ironic after it loses its database, and how hard
it leans on an Ironic that is down.

Not a test: run it by hand and compare figures across changes.

    .venv/bin/python -m hack.bench_recovery --hosts 20 --hosts 100 --outage 60

For each host count: ``bmo run`` (a subprocess, upstream's requeue delays, Ironic provisioner)
against the Kubernetes API emulator (in this process) and a real Ironic (``fake://`` hosts,
inspection and cleaning off) behind :mod:`testenv.ironic_proxy`. All hosts are provisioned; then
Ironic's database is wiped and Ironic restarted, and the clock runs until every node is
``active`` again and every host ``provisioned``/``OK`` with its new node UUID. The proxy counts
deploys during recovery (must be 0: provisioned hosts are adopted).

The same run then measures a **direct script** doing the same recovery by hand: bmo is
stopped, Ironic wiped again, and one openstacksdk thread per node re-enrolls it (node and
port), ``manage``, sets ``instance_info`` and ``adopt`` (transport errors retried, bounded,
as in :mod:`hack.bench_ironic`). bmo/script is the price of the operator over the bare calls.
Also reported: how long after Ironic came back the first re-enroll (``POST /v1/nodes``)
reached the proxy (the wipe noticed: at most one poll interval of bmo's node cache).

``--idle S``: before the wipe, the provisioned fleet is left alone for S seconds and the
requests bmo sends Ironic are counted (per host per minute).

``--outage S``: with the first host count, that many more hosts are given an image and, while
they are busy, the proxy drops every request for S seconds; reported is the peak number of
requests per second bmo sent to Ironic during the outage, and how long the hosts took to
converge afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testenv.ironic import IronicProcess, http_get, terminate
from testenv.ironic_proxy import IronicProxy
from testenv.kubeapi import KubeAPIServer

REPO = Path(__file__).resolve().parent.parent
CRD_DIR = REPO / "config" / "crd" / "bases"
IMAGE = {"url": "http://127.0.0.1:9/images/host.qcow2", "checksum": "0123456789abcdef"}
NAMESPACE = "bench"


class BenchError(Exception):
    """The benchmark could not complete; the message says where."""


def _kube(url: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _hosts_path(name: str = "") -> str:
    base = f"/apis/metal3.io/v1alpha1/namespaces/{NAMESPACE}/baremetalhosts"
    return f"{base}/{name}" if name else base


def create_host(kube_url: str, name: str, index: int, image: bool) -> None:
    mac = mac_for(index)
    spec: dict[str, Any] = {
        "bmc": {"address": "fake://127.0.0.1", "credentialsName": "bmc-secret"},
        "bootMACAddress": mac,
        "online": True,
        "automatedCleaningMode": "disabled",
    }
    if image:
        spec["image"] = IMAGE
    _kube(
        kube_url,
        "POST",
        _hosts_path(),
        {
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": name, "annotations": {"inspect.metal3.io": "disabled"}},
            "spec": spec,
        },
    )


def host_statuses(kube_url: str) -> dict[str, dict[str, Any]]:
    items = _kube(kube_url, "GET", _hosts_path())["items"]
    return {i["metadata"]["name"]: (i.get("status") or {}) for i in items}


def ironic_nodes(ironic: IronicProcess) -> dict[str, dict[str, Any]]:
    status, body = http_get(
        f"{ironic.url}/v1/nodes?fields=uuid,name,provision_state&limit=1000",
        ironic.credentials,
        timeout=60,
    )
    if status != 200:
        return {}
    return {n["name"]: n for n in json.loads(body)["nodes"]}


def wait_until(probe: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > timeout:
            raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - start


def all_provisioned(kube_url: str, ironic: IronicProcess, names: Sequence[str]) -> bool:
    statuses = host_statuses(kube_url)
    nodes = ironic_nodes(ironic)
    for name in names:
        status = statuses.get(name) or {}
        node = nodes.get(f"{NAMESPACE}~{name}")
        if node is None or node["provision_state"] != "active":
            return False
        provisioning = status.get("provisioning") or {}
        if provisioning.get("state") != "provisioned" or status.get("operationalStatus") != "OK":
            return False
        if provisioning.get("ID") != node["uuid"]:
            return False
    return True


@dataclass(frozen=True)
class RecoveryResult:
    hosts: int
    provision_s: float
    recovery_s: float
    deploys_during_recovery: int
    requests_during_recovery: int
    first_enroll_s: float | None
    idle_s: float
    idle_requests: int
    request_mix: str
    idle_mix: str


def script_recovery(ironic: IronicProcess, count: int, timeout: float) -> float:
    """Re-enroll and adopt ``count`` nodes named as bmo names them, one thread per node."""
    from concurrent.futures import ThreadPoolExecutor

    from hack.bench_ironic import _retry, connection

    started = time.monotonic()

    def one(index: int) -> None:
        bm = connection(ironic).baremetal
        name = f"{NAMESPACE}~host-{index:04d}"
        node = _retry(lambda: bm.create_node(name=name, driver="fake-hardware"), name)
        _retry(lambda: bm.create_port(node_id=node.id, address=mac_for(index)), name)
        _retry(lambda: bm.set_node_provision_state(node.id, "manage", wait=False), name)
        _retry(
            lambda: bm.wait_for_nodes_provision_state([node.id], "manageable", timeout=timeout),
            name,
        )
        _retry(
            lambda: bm.patch_node(
                node.id,
                [
                    {"op": "add", "path": "/instance_info/image_source", "value": IMAGE["url"]},
                    {"op": "add", "path": "/instance_info/image_checksum", "value": "0" * 32},
                ],
            ),
            name,
        )
        _retry(lambda: bm.set_node_provision_state(node.id, "adopt", wait=False), name)
        _retry(
            lambda: bm.wait_for_nodes_provision_state([node.id], "active", timeout=timeout),
            name,
        )

    with ThreadPoolExecutor(count) as pool:
        list(pool.map(one, range(count)))
    return time.monotonic() - started


def mac_for(index: int) -> str:
    return f"52:54:01:{(index >> 16) & 255:02x}:{(index >> 8) & 255:02x}:{index & 255:02x}"


@dataclass(frozen=True)
class OutageResult:
    hosts: int
    outage_s: float
    peak_per_s: int
    requests: int
    normal_peak_per_s: int
    converge_s: float


class Bench:
    """The emulator, Ironic, the proxy and ``bmo run`` for one host count."""

    def __init__(self, work: Path, bmo_args: Sequence[str] = ()) -> None:
        self.work = work
        self.bmo_args = tuple(bmo_args)
        self.kube = KubeAPIServer(host="127.0.0.1", port=0)
        self.kube.install_crds_from_dir(CRD_DIR)
        self.ironic = IronicProcess(
            state_dir=work / "ironic",
            auth="http_basic",
            username="admin",
            password=secrets.token_urlsafe(16),
        )
        self.proxy: IronicProxy | None = None
        self.bmo: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Bench:
        self.kube.start()
        self.ironic.start()
        self.proxy = IronicProxy(self.ironic.url)
        self.proxy.start()
        _kube(self.kube.url, "POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        _kube(
            self.kube.url,
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/secrets",
            {
                "metadata": {"name": "bmc-secret"},
                "data": {"username": "YWRtaW4=", "password": "cGFzc3dvcmQ="},
            },
        )
        env = {
            **os.environ,
            "IRONIC_ENDPOINT": f"{self.proxy.url}/v1/",
            "METAL3_AUTH_ROOT_DIR": str(self.ironic.auth_dir),
        }
        log = (self.work / "bmo.log").open("ab")
        self.bmo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bmo",
                "run",
                "--kube-url",
                self.kube.url,
                "--namespace",
                NAMESPACE,
                "--development-drivers",
                "--health-addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "0",
                "--webhook-port",
                "0",
                *self.bmo_args,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def __exit__(self, *_: object) -> None:
        if self.bmo is not None:
            terminate(self.bmo.pid, "bmo", self.bmo)
        if self.proxy is not None:
            self.proxy.stop()
        self.ironic.stop()
        self.kube.stop()

    def stop_bmo(self) -> None:
        if self.bmo is not None:
            terminate(self.bmo.pid, "bmo", self.bmo)
            self.bmo = None

    def recovery(self, count: int, timeout: float, idle: float = 0.0) -> RecoveryResult:
        assert self.proxy is not None
        names = [f"host-{i:04d}" for i in range(count)]
        for index, name in enumerate(names):
            create_host(self.kube.url, name, index, image=True)
        provision = wait_until(
            lambda: all_provisioned(self.kube.url, self.ironic, names),
            timeout,
            f"{count} hosts provisioned",
        )
        idle_requests = 0
        idle_mix = ""
        if idle > 0:
            # Let the last provisioning writes settle out of the cache's fast window first.
            time.sleep(15)
            idle_since = self.proxy.now()
            time.sleep(idle)
            idle_requests = len(self.proxy.requests(since=idle_since))
            idle_mix = ", ".join(
                f"{method} {template}: {n}"
                for (method, template, _), n in self.proxy.counts(since=idle_since).most_common()
            )
        self.ironic.wipe_database()
        self.ironic.start()
        since = self.proxy.now()
        recovery = wait_until(
            lambda: all_provisioned(self.kube.url, self.ironic, names),
            timeout,
            f"{count} hosts recovered",
        )
        return RecoveryResult(
            hosts=count,
            provision_s=provision,
            recovery_s=recovery,
            deploys_during_recovery=sum(self.proxy.deploys(since=since).values()),
            requests_during_recovery=len(self.proxy.requests(since=since)),
            first_enroll_s=min(
                (
                    r.at - since
                    for r in self.proxy.requests(since=since)
                    if r.method == "POST" and r.path.rstrip("/").endswith("/v1/nodes")
                ),
                default=None,
            ),
            idle_s=idle,
            idle_requests=idle_requests,
            idle_mix=idle_mix,
            request_mix=", ".join(
                f"{method} {template}{' ' + target if target else ''}: {n}"
                for (method, template, target), n in self.proxy.counts(since=since).most_common()
            ),
        )

    def outage(self, count: int, seconds: float, timeout: float) -> OutageResult:
        assert self.proxy is not None
        names = [f"busy-{i:04d}" for i in range(count)]
        start = self.proxy.now()
        for index, name in enumerate(names):
            create_host(self.kube.url, name, 50_000 + index, image=True)
        wait_until(
            lambda: (
                sum(
                    1
                    for n in names
                    if ((host_statuses(self.kube.url).get(n) or {}).get("provisioning") or {}).get(
                        "state"
                    )
                )
                >= count // 2
            ),
            timeout,
            "busy hosts under way",
        )
        normal_peak = self.proxy.peak_rate(since=start)
        self.proxy.drop()
        down = self.proxy.now()
        time.sleep(seconds)
        up = self.proxy.now()
        self.proxy.restore()
        converge = wait_until(
            lambda: all_provisioned(self.kube.url, self.ironic, names),
            timeout,
            f"{count} busy hosts provisioned after the outage",
        )
        return OutageResult(
            hosts=count,
            outage_s=seconds,
            peak_per_s=self.proxy.peak_rate(since=down, until=up),
            requests=len([r for r in self.proxy.requests(since=down) if r.at <= up]),
            normal_peak_per_s=normal_peak,
            converge_s=converge,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.bench_recovery", description=__doc__)
    parser.add_argument("--hosts", type=int, action="append", help="host count (repeatable)")
    parser.add_argument("--outage", type=float, default=60.0, help="outage seconds (0: skip)")
    parser.add_argument("--outage-hosts", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--idle", type=float, default=0.0, help="seconds at rest measured before the wipe"
    )
    parser.add_argument(
        "--no-script", action="store_true", help="skip the direct re-enroll + adopt script"
    )
    parser.add_argument(
        "--bmo-arg",
        action="append",
        default=[],
        help="extra bmo run flag, repeatable (e.g. --bmo-arg=--controller-concurrency=8)",
    )
    args = parser.parse_args(argv)
    counts = args.hosts or [20, 100]
    try:
        for index, count in enumerate(counts):
            with (
                tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp,
                Bench(Path(tmp), args.bmo_arg) as bench,
            ):
                result = bench.recovery(count, args.timeout, args.idle)
                first = (
                    f"{result.first_enroll_s:.1f}s" if result.first_enroll_s is not None else "-"
                )
                print(
                    f"recovery: {result.hosts} hosts provisioned in {result.provision_s:.1f}s; "
                    f"after wipe+restart all active/provisioned again in "
                    f"{result.recovery_s:.1f}s, {result.deploys_during_recovery} deploys, "
                    f"{result.requests_during_recovery} requests to Ironic; first re-enroll "
                    f"{first} after Ironic was back",
                    flush=True,
                )
                print(f"  (requests during recovery: {result.request_mix})", flush=True)
                if result.idle_s > 0:
                    per_host_min = result.idle_requests / result.hosts / (result.idle_s / 60)
                    print(
                        f"idle: {result.hosts} provisioned hosts, {result.idle_s:g}s at rest: "
                        f"{result.idle_requests} requests to Ironic = "
                        f"{per_host_min:.4f} per host per minute ({result.idle_mix})",
                        flush=True,
                    )
                if not args.no_script:
                    bench.stop_bmo()
                    bench.ironic.wipe_database()
                    bench.ironic.start()
                    script_s = script_recovery(bench.ironic, count, args.timeout)
                    print(
                        f"script: {count} nodes re-enrolled + adopted directly in "
                        f"{script_s:.1f}s; bmo/script {result.recovery_s / script_s:.2f}",
                        flush=True,
                    )
                    if index == 0 and args.outage > 0:
                        print("outage: skipped (bmo stopped for the script; use --no-script)")
                        continue
                if index == 0 and args.outage > 0:
                    out = bench.outage(args.outage_hosts, args.outage, args.timeout)
                    print(
                        f"outage: {out.hosts} busy hosts, {out.outage_s:g}s of dropped "
                        f"requests: peak {out.peak_per_s} req/s ({out.requests} in total; "
                        f"peak before the outage {out.normal_peak_per_s} req/s); converged "
                        f"{out.converge_s:.1f}s after Ironic returned",
                        flush=True,
                    )
    except BenchError as exc:
        print(f"bench_recovery: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
