"""``bmo run``: the operator's manager process, upstream ``main.go``.

Parses flags and the Go operator's environment variables into one validated ``Settings``,
configures logging, connects to the API server, builds the provisioner the controllers share
(Ironic, or the in-memory fixture for development), asks each controller package in
:data:`CONTROLLERS` to register itself with the manager (controller-runtime's
``SetupWithManager``) and runs the manager - informers, controllers, leader election, probes,
metrics - and the validating webhook until SIGTERM/SIGINT (exit 0) or until leadership is lost
(exit 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Any, Final, Protocol

import structlog
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bmo import settings as settings_mod
from bmo.api.errors import APIError
from bmo.api.firmware import FirmwareSchema, SettingSchema
from bmo.controllers.baremetalhost import setup as baremetalhost
from bmo.controllers.baremetalhost.credentials_lookup import credentials_lookup
from bmo.controllers.baremetalhost.host_lookup import host_lookup
from bmo.controllers.bmceventsubscription import setup as bmceventsubscription
from bmo.controllers.dataimage import setup as dataimage
from bmo.controllers.hostfirmwarecomponents import setup as hostfirmwarecomponents
from bmo.controllers.hostfirmwaresettings import setup as hostfirmwaresettings
from bmo.controllers.hostfirmwaresettings.setup import FIRMWARESCHEMAS
from bmo.controllers.preprovisioningimage import setup as preprovisioningimage
from bmo.provisioner import ProvisionerFactory
from bmo.provisioner.fixture import Delay, FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.logconfig import configure_logging
from bmo.runtime.manager import Manager, RateLimitedApiClient
from bmo.runtime.settings import DEFAULT_METRICS_ADDR
from bmo.settings import Settings, SettingsError
from bmo.webhook import SchemaLookup, WebhookError, WebhookServer
from bmo.webhook.config import CredentialsCheck, SecretLabels

log = structlog.get_logger(__name__)

EXIT_USAGE = 2
EXIT_STARTUP = 1


class ControllerSetup(Protocol):
    """A controller package's ``setup``: register its informers, handlers and controller."""

    def __call__(
        self, manager: Manager, settings: Settings, *, provisioner_factory: ProvisionerFactory
    ) -> object: ...


CONTROLLERS: Final[tuple[ControllerSetup, ...]] = (
    baremetalhost.setup,
    hostfirmwaresettings.setup,
    hostfirmwarecomponents.setup,
    preprovisioningimage.setup,
    dataimage.setup,
    bmceventsubscription.setup,
)
"""Every controller the manager runs; adding one is its package plus an entry here."""

FIXTURE_DELAYS = {
    "inspect": Delay(1, 2.0),
    "prepare": Delay(1, 1.0),
    "provision": Delay(1, 3.0),
    "deprovision": Delay(1, 2.0),
}
"""The fixture provisioner's operation lengths: long enough to watch states go by with
``kubectl get bmh -w``, short enough for a demo."""
FIXTURE_POLL_INTERVAL = 1.0
INSTANT = {op: Delay(0) for op in FIXTURE_DELAYS}
"""``--fixture-timing instant``: every operation completes on the call that starts it."""

DESCRIPTION = f"""\
Run the operator's manager: the BareMetalHost controller with its BareMetalHost and
credentials-Secret informers, the HostFirmwareSettings and HostFirmwareComponents
controllers, leader election (--enable-leader-election), /healthz and
/readyz (--health-addr), Prometheus metrics (--metrics-addr, HTTPS on {DEFAULT_METRICS_ADDR} by
default, each scrape's bearer token checked with a TokenReview and a SubjectAccessReview;
--metrics-insecure for plain HTTP on a loopback address), the validating webhook (HTTPS on
--webhook-port, 0 disables; BareMetalHosts, DataImages, BMCEventSubscriptions (a new one must
name an existing host), HostFirmwareComponents, and HostFirmwareSettings against their
FirmwareSchema) and graceful shutdown
on SIGTERM.

Provisioners (--provisioner):
  ironic   drive OpenStack Ironic at IRONIC_ENDPOINT (HTTP basic credentials from
           METAL3_AUTH_ROOT_DIR/ironic/{{username,password}}; see the Ironic variables of
           the Go operator: DEPLOY_KERNEL_URL, PROVISIONING_LIMIT, IRONIC_CACERT_FILE, ...)
  fixture  an in-memory stand-in that walks hosts through every state without hardware,
           for development and demos; nothing survives a restart

Use --kube-url http://127.0.0.1:PORT to run against the local Kubernetes API emulator, and
--development-drivers to accept development-only BMC addresses such as fake://.

BMO_BMC_CREDENTIALS_LABEL=KEY=VALUE (e.g. metal3.io/bmc-credentials=true) restricts BMC
credentials to Secrets carrying that label, at admission and in the controller (see
docs/security.md).

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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.from_args(args, os.environ)
    except SettingsError as exc:
        print(f"bmo run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(dev=settings.logging.dev, level=settings.logging.level)
    try:
        api_client = build_api_client(settings, os.environ)
        factory = build_provisioner_factory(settings)
        manager = build_manager(settings, api_client, provisioner_factory=factory)
        webhook = build_webhook(settings, secret_labels=credentials_lookup(manager, settings))
    except (SettingsError, WebhookError) as exc:
        log.error("cannot configure the operator", error=str(exc))
        return EXIT_USAGE
    if webhook is not None:
        attach_lookups(webhook, manager, settings)
    stop = threading.Event()
    install_signal_handlers(stop)
    log.info(
        "starting manager",
        namespaces=list(settings.manager.namespaces) or "all",
        workers=settings.controller.concurrency,
        provisioner=settings.provisioner.name,
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


def build_manager(
    settings: Settings,
    api_client: k8s.ApiClient,
    *,
    provisioner_factory: ProvisionerFactory,
    controllers: tuple[ControllerSetup, ...] = CONTROLLERS,
) -> Manager:
    """The manager with every controller in ``controllers`` registered."""
    manager = Manager(settings.manager, api_client, leader_election=settings.leader_election)
    for setup in controllers:
        setup(manager, settings, provisioner_factory=provisioner_factory)
    return manager


def attach_lookups(webhook: WebhookServer, manager: Manager, settings: Settings) -> None:
    """Feed the webhook's checks that need cluster state from the manager's caches: the
    FirmwareSchema for HostFirmwareSettings, and whether the host a new BMCEventSubscription
    names exists (see :mod:`bmo.controllers.baremetalhost.host_lookup`). Call after the
    controllers are registered, so the lookups share their informers."""
    webhook.schema_lookup = firmware_schema_lookup(manager)
    webhook.host_lookup = host_lookup(manager, settings)


def firmware_schema_lookup(manager: Manager) -> SchemaLookup:
    """FirmwareSchemas for the webhook's HostFirmwareSettings check, read from the cache the
    HostFirmwareSettings controller keeps (no API call per admission request)."""
    schemas = manager.informer(FIRMWARESCHEMAS)

    def lookup(namespace: str, name: str) -> Mapping[str, SettingSchema] | None:
        raw = schemas.get(f"{namespace}/{name}")
        if raw is None:
            return None
        try:
            return FirmwareSchema.from_dict(raw).spec.schema
        except (APIError, ValueError):
            return None

    return lookup


def build_webhook(
    settings: Settings, *, secret_labels: SecretLabels | None = None
) -> WebhookServer | None:
    """The webhook server unless ``--webhook-port 0`` turned it off (on every replica: the
    API server may call any of them, leader or not). ``secret_labels`` feeds the opt-in
    credentials policy (``BMO_BMC_CREDENTIALS_LABEL``)."""
    if settings.webhook is None:
        return None
    config = settings.webhook
    if secret_labels is not None:
        config = dataclasses.replace(
            config,
            credentials=CredentialsCheck(settings.controller.credentials_policy, secret_labels),
        )
    return WebhookServer(config, tls_policy=settings.manager.tls)


def build_provisioner_factory(settings: Settings) -> ProvisionerFactory:
    """The provisioner named by ``--provisioner``, shared by every controller (upstream
    ``main.go`` builds one factory too). Ironic's modules are imported only when used, so
    ``--provisioner fixture`` never loads openstacksdk."""
    if settings.provisioner.name == "fixture":
        delays = FIXTURE_DELAYS if settings.provisioner.fixture_timing == "demo" else INSTANT
        # No call log: tests read it from an in-process registry; in ``bmo run`` it only
        # grew with every provisioner call for as long as the process lived.
        registry = FixtureRegistry(
            delays=delays, poll_interval=FIXTURE_POLL_INTERVAL, record_calls=False
        )
        return FixtureProvisionerFactory(registry)
    config = settings.provisioner.ironic
    if config is None:
        raise SettingsError(
            "--provisioner ironic needs Ironic's settings: load them with "
            "bmo.settings.from_args (IRONIC_ENDPOINT, METAL3_AUTH_ROOT_DIR, ...)"
        )
    from bmo.ironic.client import IronicClient
    from bmo.ironic.provisioner import IronicProvisionerFactory

    return IronicProvisionerFactory(
        IronicClient(config),
        config,
        allow_development=settings.controller.development_drivers,
        node_cache=True,
        preprov_image_builder=settings.controller.build_preprov_image,
    )


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
    return RateLimitedApiClient(
        configuration, qps=kube.qps, burst=kube.burst, request_timeout=kube.request_timeout
    )


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
