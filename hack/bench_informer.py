"""Informer ingest benchmark: how long 10 000 objects take to reach the cache and handlers.

Starts the Kubernetes API emulator (``python -m testenv.kubeapi``) as a child process on
127.0.0.1 so server and informer do not share a GIL, installs a small CRD, and measures:

1. **list**: N objects exist; time from ``Informer.run`` to ``has_synced()`` (paginated list,
   freeze into the cache, one ADDED handler call per object);
2. **watch (live)**: the informer is synced on an empty namespace; N objects are created by
   parallel writers; time until the handler has seen every ADDED, and the lag after the last
   create (this phase is bound by how fast the emulator accepts creates);
3. **watch (replay)**: N objects were created while nobody watched; a reflector watches from
   the resourceVersion before them, so N ADDED events stream back-to-back: the informer's
   raw watch ingest rate.

Usage: ``.venv/bin/python hack/bench_informer.py [--objects 10000] [--writers 4]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import client as k8s  # noqa: E402

from bmo.runtime.cache import KubeObject  # noqa: E402
from bmo.runtime.informer import Informer, Resource  # noqa: E402

GROUP = "bench.bmo.test"
EMULATOR = [sys.executable, "-m", "testenv.kubeapi", "--host", "127.0.0.1", "--port", "0"]
BENCH = Resource(GROUP, "v1", "benchhosts", "BenchHost")


def crd() -> dict[str, Any]:
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"benchhosts.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "benchhosts", "singular": "benchhost", "kind": "BenchHost"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": loose, "status": loose},
                        }
                    },
                }
            ],
        },
    }


def host_body(i: int) -> dict[str, Any]:
    """Roughly the size and shape of a BareMetalHost spec."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "BenchHost",
        "metadata": {
            "name": f"host-{i:05d}",
            "labels": {"rack": f"r{i % 40}", "role": "worker"},
            "annotations": {"note": "benchmark"},
        },
        "spec": {
            "online": True,
            "bootMACAddress": f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
            "bmc": {
                "address": f"redfish+http://127.0.0.1:8000/redfish/v1/Systems/{i}",
                "credentialsName": f"host-{i:05d}-bmc-secret",
            },
            "rootDeviceHints": {"deviceName": "/dev/sda"},
            "image": {"url": "http://127.0.0.1/images/os.qcow2", "checksum": "0" * 64},
        },
    }


class Counter:
    """Counts ADDED events and notes when the target is reached."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.adds = 0
        self.done_at: float | None = None
        self.done = threading.Event()

    def on_add(self, obj: KubeObject) -> None:
        self.adds += 1  # handlers run under the informer's dispatch lock
        if self.adds == self.target:
            self.done_at = time.perf_counter()
            self.done.set()

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        pass

    def on_delete(self, obj: KubeObject) -> None:
        pass


def start_emulator(history: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*EMULATOR, "--history-limit", str(history)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"emulator did not start (printed {url!r})")
    return proc, url


def create_all(api_client: k8s.ApiClient, namespace: str, n: int, writers: int) -> float:
    custom = k8s.CustomObjectsApi(api_client)

    def create(i: int) -> None:
        custom.create_namespaced_custom_object(GROUP, "v1", namespace, "benchhosts", host_body(i))

    started = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(create, range(n)))
    return time.perf_counter() - started


def quietly(func: Callable[[], None]) -> Callable[[], None]:
    """The replay watch ends by being cut off; that is not an error worth a traceback."""

    def run() -> None:
        with contextlib.suppress(Exception):
            func()

    return run


def run_informer(informer: Informer) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    return stop, informer.start(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=16)
    args = parser.parse_args(argv)
    n = args.objects

    proc, url = start_emulator(history=n * 4)
    pool = k8s.Configuration(host=url)
    pool.connection_pool_maxsize = max(4, args.writers * 2)
    api_client = k8s.ApiClient(pool)
    results: dict[str, Any] = {"objects": n, "writers": args.writers}
    try:
        k8s.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd())
        core = k8s.CoreV1Api(api_client)
        for ns in ("bench-list", "bench-watch"):
            core.create_namespace({"metadata": {"name": ns}})

        # 1. list + cache fill
        results["create_seconds_list_phase"] = round(
            create_all(api_client, "bench-list", n, args.writers), 2
        )
        gc.collect()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        counter = Counter(n)
        informer = Informer(api_client, BENCH, namespaces=["bench-list"])
        informer.add_handler(counter)
        started = time.perf_counter()
        stop, thread = run_informer(informer)
        while not informer.has_synced():
            time.sleep(0.005)
        synced = time.perf_counter() - started
        counter.done.wait(60)
        results["list_sync_seconds"] = round(synced, 3)
        results["list_objects_per_second"] = round(n / synced)
        results["list_adds_handled"] = counter.adds
        results["cache_objects"] = len(informer.store)
        results["max_rss_growth_mib"] = round(
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024, 1
        )
        stop.set()
        thread.join(30)

        # 2. watch ingest
        counter = Counter(n)
        informer = Informer(api_client, BENCH, namespaces=["bench-watch"])
        informer.add_handler(counter)
        stop, thread = run_informer(informer)
        while not informer.has_synced():
            time.sleep(0.005)
        started = time.perf_counter()
        create_seconds = create_all(api_client, "bench-watch", n, args.writers)
        last_create = started + create_seconds
        if not counter.done.wait(120):
            raise SystemExit(f"only {counter.adds}/{n} ADDED events handled")
        assert counter.done_at is not None
        results["watch_create_seconds"] = round(create_seconds, 2)
        results["watch_creates_per_second"] = round(n / create_seconds)
        results["watch_all_added_handled_seconds"] = round(counter.done_at - started, 2)
        results["watch_lag_after_last_create_ms"] = round((counter.done_at - last_create) * 1000)
        results["watch_stats"] = informer.stats()
        stop.set()
        thread.join(30)

        # 3. watch replay: events already in the server's history, streamed at full speed
        core.create_namespace({"metadata": {"name": "bench-replay"}})
        before = k8s.CustomObjectsApi(api_client).list_namespaced_custom_object(
            GROUP, "v1", "bench-replay", "benchhosts"
        )["metadata"]["resourceVersion"]
        create_all(api_client, "bench-replay", n, args.writers)
        counter = Counter(n)
        informer = Informer(api_client, BENCH, namespaces=["bench-replay"])
        informer.add_handler(counter)
        reflector = informer._reflectors[0]  # bench-only: resume as if synced at `before`
        reflector.last_rv = before
        started = time.perf_counter()
        watcher = threading.Thread(target=quietly(reflector.watch), daemon=True)
        watcher.start()
        if not counter.done.wait(120):
            raise SystemExit(f"replay: only {counter.adds}/{n} ADDED events handled")
        assert counter.done_at is not None
        replay = counter.done_at - started
        results["replay_all_added_handled_seconds"] = round(replay, 3)
        results["replay_events_per_second"] = round(n / replay)
        reflector.abort()
        watcher.join(10)
    finally:
        api_client.close()
        proc.terminate()
        proc.wait(10)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
