"""``bmo run``: the operator's manager process.

Parses flags and the Go operator's environment variables into ``Settings``, configures
logging, connects to the API server and runs the manager until SIGTERM/SIGINT (exit 0) or
until leadership is lost (exit 1).

The BareMetalHost controller is not wired yet: the manager runs the BareMetalHost and
credentials-Secret informers, leader election, probes and metrics, with a placeholder
reconciler that only logs each key it is given.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Any

import structlog
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bmo import settings as settings_mod
from bmo.logconfig import configure_logging
from bmo.reconcile.controller import Controller, Result
from bmo.reconcile.handlers import (
    OWNER_HOST_INDEX,
    SECRET_LABEL_SELECTOR,
    host_handler,
    owner_host_keys,
    secret_owner_handler,
)
from bmo.reconcile.informer import BAREMETALHOSTS, SECRETS, Informer
from bmo.reconcile.manager import Manager, RateLimitedApiClient
from bmo.reconcile.queue import RateLimitingQueue
from bmo.settings import Settings, SettingsError

log = structlog.get_logger(__name__)

EXIT_USAGE = 2
RESYNC_PERIOD = 10 * 60 * 60.0
"""controller-runtime's default SyncPeriod (10 h): a safety net, not a polling loop."""

DESCRIPTION = """\
Run the operator's manager: BareMetalHost and credentials-Secret informers, leader
election (--enable-leader-election), /healthz and /readyz (--health-addr), Prometheus
metrics (--metrics-addr, plain HTTP on 127.0.0.1:8080 by default) and graceful shutdown on
SIGTERM.

NOTE: the BareMetalHost controller is not wired into this command yet. Hosts are watched
and queued, but the reconciler is a placeholder that only logs each host key; no host is
registered, inspected or provisioned.

Environment (flags win): WATCH_NAMESPACE, POD_NAMESPACE, BMO_CONCURRENCY,
LEASE_DURATION_SECONDS, RENEW_DEADLINE_SECONDS, RETRY_PERIOD_SECONDS,
BMO_DEVELOPMENT_DRIVERS, KUBECONFIG.
"""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the operator's manager (host controller not wired yet: logs keys only)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    settings_mod.add_arguments(parser)
    parser.set_defaults(func=run)


class PlaceholderReconciler:
    """Logs the key it is given. Stands in until the BareMetalHost reconciler is wired."""

    def __init__(self, hosts: Informer) -> None:
        self.hosts = hosts

    def reconcile(self, namespace: str, name: str) -> Result:
        host = self.hosts.get(f"{namespace}/{name}")
        log.info(
            "placeholder reconcile: host controller not wired yet",
            exists=host is not None,
            generation=(host or {}).get("metadata", {}).get("generation"),
        )
        return Result()


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.from_args(args, os.environ)
    except SettingsError as exc:
        print(f"bmo run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(dev=settings.dev, level=settings.log_level)
    try:
        api_client = build_api_client(settings, os.environ)
    except SettingsError as exc:
        log.error("cannot configure the Kubernetes client", error=str(exc))
        return EXIT_USAGE
    manager = build_manager(settings, api_client)
    stop = threading.Event()
    install_signal_handlers(stop)
    log.info(
        "starting manager",
        namespaces=list(settings.namespaces) or "all",
        workers=settings.concurrency,
        leader_election=settings.leader_election.enabled,
        identity=manager.identity,
    )
    return manager.run(stop)


def build_manager(settings: Settings, api_client: k8s.ApiClient) -> Manager:
    manager = Manager(settings, api_client)
    queue: RateLimitingQueue[str] = RateLimitingQueue(name="baremetalhost")
    hosts = manager.add_informer(
        Informer(
            api_client,
            BAREMETALHOSTS,
            namespaces=settings.namespaces,
            resync_period=RESYNC_PERIOD,
        )
    )
    hosts.add_handler(host_handler(queue))
    secrets = manager.add_informer(
        Informer(
            api_client,
            SECRETS,
            namespaces=settings.namespaces,
            label_selector=SECRET_LABEL_SELECTOR,
            indexers={OWNER_HOST_INDEX: owner_host_keys},
            resync_period=RESYNC_PERIOD,
        )
    )
    secrets.add_handler(secret_owner_handler(queue))
    manager.add_controller(
        Controller("baremetalhost", PlaceholderReconciler(hosts), queue, settings.concurrency)
    )
    return manager


def build_api_client(settings: Settings, environ: Mapping[str, str]) -> RateLimitedApiClient:
    """Explicit ``--kubeconfig`` or ``--kube-url`` first; otherwise the in-cluster service
    account, then ``$KUBECONFIG`` / ``~/.kube/config``."""
    configuration = k8s.Configuration()
    kube = settings.kube
    if kube.kubeconfig:
        _load_kubeconfig(kube.kubeconfig, configuration)
    elif kube.url:
        configuration.host = kube.url.rstrip("/")
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            path = environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            if not os.path.exists(path.split(os.pathsep)[0]):
                raise SettingsError(
                    "no Kubernetes API configuration: not running in a cluster and no "
                    "kubeconfig found; pass --kubeconfig FILE, set KUBECONFIG, or pass "
                    "--kube-url URL (e.g. the local emulator)"
                ) from None
            _load_kubeconfig(path.split(os.pathsep)[0], configuration)
    return RateLimitedApiClient(configuration, qps=kube.qps, burst=kube.burst)


def _load_kubeconfig(path: str, configuration: k8s.Configuration) -> None:
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, client_configuration=configuration
        )
    except (k8s_config.ConfigException, OSError) as exc:
        raise SettingsError(f"--kubeconfig / KUBECONFIG {path!r} cannot be used: {exc}") from None


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the manager drains and exits 0. A second signal
    while draining is left to the same handler (draining continues)."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("signal received; shutting down", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
