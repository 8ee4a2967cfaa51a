"""``bmo run``: the operator's manager process.

Parses flags and the Go operator's environment variables into ``Settings``, configures
logging, connects to the API server, builds the provisioner (Ironic, or the in-memory
fixture for development) and runs the manager - BareMetalHost and credentials-Secret
informers, the BareMetalHost controller, leader election, probes, metrics and the validating
webhook - until SIGTERM/SIGINT (exit 0) or until leadership is lost (exit 1).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import structlog
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bmo import settings as settings_mod
from bmo.controllers.baremetalhost import metrics
from bmo.controllers.baremetalhost.events import EventRecorder
from bmo.controllers.baremetalhost.reconciler import (
    HostEventSink,
    HostReconciler,
    HostReconcilerSettings,
)
from bmo.provisioner import ProvisionerFactory
from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.controller import Controller
from bmo.runtime.eventhandlers import (
    OWNER_HOST_INDEX,
    SECRET_LABEL_SELECTOR,
    host_handler,
    owner_host_keys,
    secret_owner_handler,
)
from bmo.runtime.informer import BAREMETALHOSTS, HARDWAREDATA, SECRETS, Informer
from bmo.runtime.logconfig import configure_logging
from bmo.runtime.manager import Manager, RateLimitedApiClient
from bmo.runtime.queue import RateLimitingQueue
from bmo.settings import Settings, SettingsError
from bmo.webhook import WebhookError, WebhookServer
from bmo.webhook import add_arguments as add_webhook_arguments
from bmo.webhook import from_args as webhook_from_args

log = structlog.get_logger(__name__)

EXIT_USAGE = 2
EXIT_STARTUP = 1
RESYNC_PERIOD = 10 * 60 * 60.0
"""controller-runtime's default SyncPeriod (10 h): a safety net, not a polling loop."""

FIXTURE_DELAYS = {
    "inspect": Delay(1, 2.0),
    "prepare": Delay(1, 1.0),
    "provision": Delay(1, 3.0),
    "deprovision": Delay(1, 2.0),
}
"""The fixture provisioner's operation lengths: long enough to watch states go by with
``kubectl get bmh -w``, short enough for a demo."""
FIXTURE_POLL_INTERVAL = 1.0

DESCRIPTION = """\
Run the operator's manager: the BareMetalHost controller with its BareMetalHost and
credentials-Secret informers, leader election (--enable-leader-election), /healthz and
/readyz (--health-addr), Prometheus metrics (--metrics-addr, plain HTTP on 127.0.0.1:8080 by
default), the validating webhook (HTTPS on --webhook-port, 0 disables) and graceful shutdown
on SIGTERM.

Provisioners (--provisioner):
  ironic   drive OpenStack Ironic at IRONIC_ENDPOINT (HTTP basic credentials from
           METAL3_AUTH_ROOT_DIR/ironic/{username,password}; see the Ironic variables of
           the Go operator: DEPLOY_KERNEL_URL, PROVISIONING_LIMIT, IRONIC_CACERT_FILE, ...)
  fixture  an in-memory stand-in that walks hosts through every state without hardware,
           for development and demos; nothing survives a restart

Use --kube-url http://127.0.0.1:PORT to run against the local Kubernetes API emulator, and
--development-drivers to accept development-only BMC addresses such as fake://.

Environment (flags win): WATCH_NAMESPACE, POD_NAMESPACE, POD_NAME (the events'
reportingInstance), BMO_CONCURRENCY, LEASE_DURATION_SECONDS, RENEW_DEADLINE_SECONDS,
RETRY_PERIOD_SECONDS, BMO_DEVELOPMENT_DRIVERS, KUBECONFIG.
"""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the operator's manager (BareMetalHost controller, probes, metrics, webhook)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    settings_mod.add_arguments(parser)
    add_webhook_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.from_args(args, os.environ)
    except SettingsError as exc:
        print(f"bmo run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(dev=settings.dev, level=settings.log_level)
    try:
        api_client = build_api_client(settings, os.environ)
        factory = build_provisioner_factory(settings, os.environ)
        webhook = build_webhook(settings, args)
    except (SettingsError, WebhookError) as exc:
        log.error("cannot configure the operator", error=str(exc))
        return EXIT_USAGE
    manager = build_manager(
        settings,
        api_client,
        factory=factory,
        reporting_instance=os.environ.get("POD_NAME", ""),
    )
    stop = threading.Event()
    install_signal_handlers(stop)
    log.info(
        "starting manager",
        namespaces=list(settings.namespaces) or "all",
        workers=settings.concurrency,
        provisioner=settings.provisioner,
        leader_election=settings.leader_election.enabled,
        identity=manager.identity,
    )
    try:
        if webhook is not None:
            try:
                webhook.start()
            except WebhookError as exc:
                log.error("cannot start the webhook server", error=str(exc))
                return EXIT_STARTUP
            manager.add_ready_check("webhook", webhook.ready)
        return manager.run(stop)
    finally:
        if webhook is not None:
            webhook.stop()
        metrics.uninstall_host_collector()


def build_webhook(settings: Settings, args: argparse.Namespace) -> WebhookServer | None:
    """The webhook server when ``--webhook-port`` is not 0 (on every replica: the API
    server may call any of them, leader or not)."""
    if settings.webhook_port == 0:
        return None
    config = webhook_from_args(
        args, port=settings.webhook_port, allow_development=settings.development_drivers
    )
    return WebhookServer(config)


def build_provisioner_factory(settings: Settings, environ: Mapping[str, str]) -> ProvisionerFactory:
    """The provisioner named by ``--provisioner``; Ironic's settings come from ``environ``.

    Raises :class:`SettingsError` for missing or bad Ironic variables. Ironic's modules
    are imported only when used, so ``--provisioner fixture`` never loads openstacksdk.
    """
    if settings.provisioner == "fixture":
        registry = FixtureRegistry(delays=FIXTURE_DELAYS, poll_interval=FIXTURE_POLL_INTERVAL)
        return FixtureProvisionerFactory(registry)
    from bmo.ironic.client import IronicClient
    from bmo.ironic.config import IronicConfig
    from bmo.ironic.errors import IronicConfigError
    from bmo.ironic.provisioner import IronicProvisionerFactory

    try:
        config = IronicConfig.from_env(environ)
    except IronicConfigError as exc:
        raise SettingsError(str(exc)) from None
    return IronicProvisionerFactory(
        IronicClient(config), config, allow_development=settings.development_drivers
    )


@dataclass(frozen=True)
class HostController:
    """What :func:`build_manager` wired, for callers (tests) that look inside."""

    hosts: Informer
    secrets: Informer
    reconciler: HostReconciler
    controller: Controller


def build_manager(
    settings: Settings,
    api_client: k8s.ApiClient,
    *,
    factory: ProvisionerFactory,
    reporting_instance: str = "",
    host_settings: HostReconcilerSettings | None = None,
    manager: Manager | None = None,
) -> Manager:
    """The manager with the BareMetalHost controller; ``host_settings`` defaults to
    ``settings``' (tests pass a cap on requeue delays)."""
    manager = manager if manager is not None else Manager(settings, api_client)
    add_host_controller(
        manager,
        settings,
        api_client,
        factory=factory,
        reporting_instance=reporting_instance,
        host_settings=host_settings,
    )
    return manager


def add_host_controller(
    manager: Manager,
    settings: Settings,
    api_client: k8s.ApiClient,
    *,
    factory: ProvisionerFactory,
    reporting_instance: str = "",
    host_settings: HostReconcilerSettings | None = None,
    events: HostEventSink | None = None,
) -> HostController:
    """Wire the BareMetalHost controller into ``manager``; ``events`` replaces the Kubernetes
    event recorder (tests observe what is published, and when)."""
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
    hardware = manager.add_informer(
        Informer(api_client, HARDWAREDATA, namespaces=settings.namespaces)
    )
    reconciler = HostReconciler(
        api_client,
        hosts,
        secrets,
        factory,
        host_settings
        if host_settings is not None
        else HostReconcilerSettings.from_settings(settings),
        events=events
        if events is not None
        else EventRecorder(api_client, reporting_instance=reporting_instance),
        hardware_store=hardware,
    )
    controller = manager.add_controller(
        Controller("baremetalhost", reconciler, queue, settings.concurrency)
    )
    metrics.install_host_collector(hosts.objects)
    return HostController(hosts, secrets, reconciler, controller)


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
