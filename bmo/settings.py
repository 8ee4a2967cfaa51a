# Over 600 lines: every flag and variable of the Go operator (main.go, the Ironic
# provisioner) is declared, defaulted once and validated here.
"""The operator's root settings: one typed, frozen value composed of groups, loaded once from
command-line flags and the environment.

Flag and variable names are the Go baremetal-operator's (its ``main.go`` flags; the Ironic
variables of ``pkg/provisioner/ironic``), so manifests written for it work unchanged. Flags
win over environment variables. Everything is validated here, at start, so a typo fails with
a message naming the flag or variable and the fix instead of surfacing later deep inside a
reconcile; code below receives a :class:`Settings` value and never reads ``os.environ``.

The groups, kopf-style (``settings.<group>.<field>``):

==================== ========================================= ==========================
group                holds                                     type defined in
==================== ========================================= ==========================
``kube``             API server connection and client limits   ``bmo.runtime.settings``
``manager``          watched namespaces, probe/metrics address ``bmo.runtime.settings``
``leader_election``  the Lease and its timings                 ``bmo.runtime.settings``
``controller``       workers, provisioning retries, drivers    here
``webhook``          the admission webhook (``None``: off)     ``bmo.webhook.config``
``provisioner``      which provisioner, Ironic's environment   here (``bmo.ironic.config``)
``logging``          console or JSON, level                    here
``pod``              this pod's name and namespace             here
==================== ========================================= ==========================

Each default is defined once, next to the type that uses it; this module only refers to them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NoReturn

from bmo.api.secretpolicy import CREDENTIALS_LABEL_ENV, CredentialsSecretPolicy, PolicyError
from bmo.runtime.settings import (
    DEFAULT_HEALTH_ADDR,
    DEFAULT_KUBE_BURST,
    DEFAULT_KUBE_QPS,
    DEFAULT_KUBE_REQUEST_TIMEOUT,
    DEFAULT_LEASE_DURATION,
    DEFAULT_METRICS_ADDR,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    Address,
    KubeSettings,
    LeaderElectionSettings,
    ManagerSettings,
)
from bmo.tlspolicy import TLSPolicy, TLSPolicyError, parse_list
from bmo.webhook.config import DEFAULT_PORT as DEFAULT_WEBHOOK_PORT
from bmo.webhook.config import WebhookConfig, parse_tls_version
from bmo.webhook.config import add_arguments as add_webhook_arguments
from bmo.webhook.config import from_args as webhook_from_args
from bmo.webhook.errors import WebhookConfigError

if TYPE_CHECKING:
    from bmo.ironic.config import IronicConfig

__all__ = [
    "Address",
    "ControllerSettings",
    "KubeSettings",
    "LeaderElectionSettings",
    "LoggingSettings",
    "ManagerSettings",
    "PodSettings",
    "ProvisionerSettings",
    "Settings",
    "SettingsError",
    "add_arguments",
    "from_args",
    "load",
    "parse_address",
    "parse_label_selector",
    "parse_namespaces",
    "resolve_concurrency",
]

LEASE_NAME: Final = "baremetal-operator"
"""The Go operator's leader-election ID (``main.go``)."""
PROVISIONERS: Final = ("ironic", "fixture")
FIXTURE_TIMINGS: Final = ("demo", "instant")
DEFAULT_PROVISIONER: Final = PROVISIONERS[0]
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
DEFAULT_LOG_LEVEL: Final = "info"
DEFAULT_MAX_PROVISIONING_RETRIES: Final = 5
"""``-max-provisioning-retries`` (``main.go``); 0 means unlimited."""
AUTO_CONCURRENCY_MIN: Final = 2
AUTO_CONCURRENCY_MAX: Final = 8
"""``-controller-concurrency 0`` means min(CPUs, MAX) floored at MIN (``main.go``)."""
TRUE_VALUES: Final = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES: Final = frozenset({"", "0", "false", "no", "off"})
MAX_UINT16: Final = 65535


class SettingsError(ValueError):
    """A flag or environment variable has a value bmo cannot run with; the message says
    which one and how to fix it."""


@dataclass(frozen=True)
class ControllerSettings:
    """How the controllers work: reconcile workers and the provisioning retry limit.

    ``development_drivers`` accepts development-only BMC schemes such as ``fake://``; the
    webhook and the Ironic provisioner are given the same answer.
    """

    concurrency: int = AUTO_CONCURRENCY_MIN
    max_provisioning_retries: int = DEFAULT_MAX_PROVISIONING_RETRIES
    development_drivers: bool = False
    #: ``--host-label-selector``: reconcile only the BareMetalHosts matching it (a fleet
    #: split between several bmo Deployments); ``""`` means every host.
    host_label_selector: str = ""
    #: Which Secrets may be BMC credentials (``BMO_BMC_CREDENTIALS_LABEL``; off by default).
    credentials_policy: CredentialsSecretPolicy = field(default_factory=CredentialsSecretPolicy)
    #: ``-build-preprov-image``: hosts get a PreprovisioningImage each and register with
    #: the image it builds; the PreprovisioningImage controller runs (upstream ``main.go``).
    build_preprov_image: bool = False


@dataclass(frozen=True)
class ProvisionerSettings:
    """Which provisioner drives the hosts; ``ironic`` is Ironic's environment, present
    exactly when ``name`` is ``"ironic"`` and the settings came from :func:`from_args`."""

    name: str = DEFAULT_PROVISIONER
    ironic: IronicConfig | None = None
    #: ``--fixture-timing``: how long the fixture's operations take (``demo``: long enough
    #: to watch states go by; ``instant``: every operation completes on the call that
    #: starts it, so benchmarks measure bmo rather than the stand-in's pauses).
    fixture_timing: str = "demo"


@dataclass(frozen=True)
class LoggingSettings:
    """``dev``: human-readable console output instead of JSON lines."""

    dev: bool = False
    level: str = DEFAULT_LOG_LEVEL


@dataclass(frozen=True)
class PodSettings:
    """Who this process is (``POD_NAME``, ``POD_NAMESPACE`` from the downward API): the
    events' ``reportingInstance`` and the leader-election Lease's default namespace."""

    name: str = ""
    namespace: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the manager process is configured with (see the module table)."""

    kube: KubeSettings = field(default_factory=KubeSettings)
    manager: ManagerSettings = field(default_factory=ManagerSettings)
    leader_election: LeaderElectionSettings = field(
        default_factory=lambda: LeaderElectionSettings(lease_name=LEASE_NAME)
    )
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    webhook: WebhookConfig | None = field(default_factory=WebhookConfig)
    provisioner: ProvisionerSettings = field(default_factory=ProvisionerSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    pod: PodSettings = field(default_factory=PodSettings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the manager's flags (the webhook's included). Defaults are ``None`` so "not
    given" can fall back to the environment; the effective defaults are applied in
    :func:`from_args`."""
    add = parser.add_argument
    add(
        "--namespace",
        help="namespace(s) to watch, comma-separated; empty = cluster-wide "
        "(default: $WATCH_NAMESPACE)",
    )
    add(
        "--host-label-selector",
        help="reconcile only BareMetalHosts matching this label selector (e.g. "
        "'shard=a' or 'rack in (r1,r2)'), to split a fleet between several bmo "
        "Deployments; each needs its own --leader-election-id "
        "(default: $BMO_HOST_LABEL_SELECTOR; empty = every host)",
    )
    add(
        "--leader-election-id",
        help=f"name of the leader-election Lease (default: $BMO_LEADER_ELECTION_ID, else "
        f"'{LEASE_NAME}', or '{LEASE_NAME}-<hash of the selector>' with "
        "--host-label-selector, so shards never share a Lease)",
    )
    add(
        "--metrics-addr",
        help="metrics bind address: HTTPS, each scrape's bearer token checked with a "
        "TokenReview and a SubjectAccessReview (get /metrics); '0' disables "
        f"(default: {DEFAULT_METRICS_ADDR})",
    )
    add(
        "--metrics-insecure",
        action="store_true",
        default=None,
        help="development only: serve metrics as plain HTTP without authentication; "
        "refused unless --metrics-addr is a loopback address",
    )
    add(
        "--tls-cipher-suites",
        help="comma-separated Go cipher suite names the webhook and metrics servers allow "
        "for TLS 1.2 (default: OpenSSL's)",
    )
    add(
        "--tls-curve-preferences",
        help="the Go curve name (CurveP256, CurveP384 or CurveP521) for ECDH key exchange "
        "(default: OpenSSL's)",
    )
    add("--health-addr", help=f"/healthz and /readyz bind address (default: {DEFAULT_HEALTH_ADDR})")
    add(
        "--webhook-port",
        type=_int_flag("--webhook-port"),
        help=f"validating webhook port; 0 disables (default: {DEFAULT_WEBHOOK_PORT})",
    )
    add(
        "--provisioner",
        help=f"provisioner: {' or '.join(repr(p) for p in PROVISIONERS)} "
        f"(default: {DEFAULT_PROVISIONER})",
    )
    add(
        "--fixture-timing",
        choices=FIXTURE_TIMINGS,
        help="--provisioner fixture only: 'demo' operations take a few seconds (watchable "
        "with kubectl get bmh -w); 'instant' ones complete at once (default: demo)",
    )
    add(
        "--dev",
        action="store_true",
        default=None,
        help="development logging: human-readable console output",
    )
    add(
        "--log-level",
        help=f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]} (default: {DEFAULT_LOG_LEVEL})",
    )
    add(
        "--kube-api-qps",
        type=_float_flag("--kube-api-qps"),
        help=(
            "sustained Kubernetes API requests per second, per API type as in the Go operator "
            f"(default: {DEFAULT_KUBE_QPS:g})"
        ),
    )
    add(
        "--kube-api-burst",
        type=_int_flag("--kube-api-burst"),
        help=f"Kubernetes API request burst, per API type (default: {DEFAULT_KUBE_BURST})",
    )
    add(
        "--kube-api-timeout",
        type=_float_flag("--kube-api-timeout"),
        help="seconds one Kubernetes API call (not a watch) may take before it fails "
        f"(default: {DEFAULT_KUBE_REQUEST_TIMEOUT:g}, the API server's own limit)",
    )
    add("--kubeconfig", help="kubeconfig file (default: in-cluster config, then $KUBECONFIG)")
    add(
        "--kube-url",
        help="API server URL without credentials, e.g. the local emulator "
        "(http://127.0.0.1:PORT); used when no in-cluster config or kubeconfig is found",
    )
    add(
        "--controller-concurrency",
        type=_int_flag("--controller-concurrency"),
        help="reconcile workers; >0 overrides, 0 uses $BMO_CONCURRENCY or "
        f"min(CPUs, {AUTO_CONCURRENCY_MAX}) floored at {AUTO_CONCURRENCY_MIN} (default: 0)",
    )
    add(
        "--max-provisioning-retries",
        type=_int_flag("--max-provisioning-retries"),
        help="provisioning attempts before giving up; 0 = unlimited "
        f"(default: {DEFAULT_MAX_PROVISIONING_RETRIES})",
    )
    add(
        "--enable-leader-election",
        action="store_true",
        default=None,
        help=f"elect a leader through the Lease '{LEASE_NAME}' before reconciling",
    )
    add(
        "--lease-duration-seconds",
        type=_int_flag("--lease-duration-seconds"),
        help="leader-election lease duration "
        f"(default: $LEASE_DURATION_SECONDS or {DEFAULT_LEASE_DURATION:g})",
    )
    add(
        "--renew-deadline-seconds",
        type=_int_flag("--renew-deadline-seconds"),
        help="leader-election renew deadline "
        f"(default: $RENEW_DEADLINE_SECONDS or {DEFAULT_RENEW_DEADLINE:g})",
    )
    add(
        "--retry-period-seconds",
        type=_int_flag("--retry-period-seconds"),
        help="leader-election retry period "
        f"(default: $RETRY_PERIOD_SECONDS or {DEFAULT_RETRY_PERIOD:g})",
    )
    add(
        "--development-drivers",
        action="store_true",
        default=None,
        help="allow development-only BMC drivers such as 'fake' "
        "(default: $BMO_DEVELOPMENT_DRIVERS)",
    )
    add(
        "--build-preprov-image",
        action="store_true",
        default=None,
        help="enable integration with the PreprovisioningImage API: one image per host, "
        "built by the PreprovisioningImage controller from DEPLOY_ISO_URL / "
        "DEPLOY_KERNEL_URL / DEPLOY_RAMDISK_URL (default: $BMO_BUILD_PREPROV_IMAGE)",
    )
    add_webhook_arguments(parser)


def load(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    *,
    cpu_count: int | None = None,
) -> Settings:
    """Parse ``argv`` (flags only) and ``environ`` into validated :class:`Settings`."""
    parser = _RaisingParser(prog="bmo run")
    add_arguments(parser)
    args = parser.parse_args(list(argv))
    return from_args(args, os.environ if environ is None else environ, cpu_count=cpu_count)


def from_args(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    cpu_count: int | None = None,
) -> Settings:
    """Combine parsed flags with the environment; flags win. Raises :class:`SettingsError`.

    Ironic's environment is read last, and only for ``--provisioner ironic``, so a mistake
    in the flags is reported first and ``--provisioner fixture`` never loads openstacksdk.
    """
    namespace_raw = _flag_or_env(args, "namespace", environ, "WATCH_NAMESPACE")
    namespaces = parse_namespaces(namespace_raw or "", "--namespace / WATCH_NAMESPACE")
    pod = PodSettings(
        name=environ.get("POD_NAME", ""), namespace=environ.get("POD_NAMESPACE") or None
    )

    if args.metrics_addr is None:
        metrics_addr: Address | None = DEFAULT_METRICS_ADDR
    elif args.metrics_addr == "0":
        metrics_addr = None
    else:
        metrics_addr = parse_address(args.metrics_addr, "--metrics-addr")
    tls = _tls_policy(args)
    health_addr = (
        DEFAULT_HEALTH_ADDR
        if args.health_addr is None
        else parse_address(args.health_addr, "--health-addr")
    )

    webhook_port = DEFAULT_WEBHOOK_PORT if args.webhook_port is None else args.webhook_port
    if not 0 <= webhook_port <= MAX_UINT16:
        raise SettingsError(
            f"--webhook-port {webhook_port} is out of range: use 1-65535, or 0 to disable "
            "the webhook server"
        )

    provisioner = args.provisioner or DEFAULT_PROVISIONER
    if provisioner not in PROVISIONERS:
        raise SettingsError(
            f"--provisioner {provisioner!r} is not known: use one of {', '.join(PROVISIONERS)}"
        )

    log_level = (args.log_level or DEFAULT_LOG_LEVEL).lower()
    if log_level not in LOG_LEVELS:
        raise SettingsError(
            f"--log-level {args.log_level!r} is not known: use "
            f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}"
        )

    qps = DEFAULT_KUBE_QPS if args.kube_api_qps is None else args.kube_api_qps
    if qps <= 0:
        raise SettingsError(f"--kube-api-qps must be positive, got {qps:g}")
    burst = DEFAULT_KUBE_BURST if args.kube_api_burst is None else args.kube_api_burst
    if burst < 1:
        raise SettingsError(f"--kube-api-burst must be at least 1, got {burst}")
    request_timeout = (
        DEFAULT_KUBE_REQUEST_TIMEOUT if args.kube_api_timeout is None else args.kube_api_timeout
    )
    if not request_timeout > 0:
        raise SettingsError(f"--kube-api-timeout must be positive, got {request_timeout:g}")

    retries = (
        DEFAULT_MAX_PROVISIONING_RETRIES
        if args.max_provisioning_retries is None
        else args.max_provisioning_retries
    )
    if retries < 0:
        raise SettingsError(
            f"--max-provisioning-retries must be 0 (unlimited) or positive, got {retries}"
        )

    development_drivers = (
        True if args.development_drivers else _env_bool(environ, "BMO_DEVELOPMENT_DRIVERS")
    )
    selector = parse_label_selector(
        _flag_or_env(args, "host_label_selector", environ, "BMO_HOST_LABEL_SELECTOR") or "",
        "--host-label-selector / BMO_HOST_LABEL_SELECTOR",
    )
    try:
        credentials_policy = CredentialsSecretPolicy.parse(environ.get(CREDENTIALS_LABEL_ENV, ""))
    except PolicyError as exc:
        raise SettingsError(str(exc)) from None
    # Upstream has the flag only; the variable is bmo's twin, as for development drivers.
    build_preprov_image = (
        True
        if getattr(args, "build_preprov_image", None)
        else _env_bool(environ, "BMO_BUILD_PREPROV_IMAGE")
    )
    controller = ControllerSettings(
        concurrency=resolve_concurrency(args.controller_concurrency, environ, cpu_count=cpu_count),
        max_provisioning_retries=retries,
        development_drivers=development_drivers,
        host_label_selector=selector,
        credentials_policy=credentials_policy,
        build_preprov_image=build_preprov_image,
    )
    leader_election = _leader_election(
        args, environ, bool(args.enable_leader_election), namespaces, pod.namespace
    )
    lease_name = _lease_name(
        _flag_or_env(args, "leader_election_id", environ, "BMO_LEADER_ELECTION_ID") or "",
        selector,
    )
    leader_election = dataclasses.replace(leader_election, lease_name=lease_name)
    webhook = None if webhook_port == 0 else _webhook(args, webhook_port, development_drivers)

    return Settings(
        kube=KubeSettings(
            kubeconfig=args.kubeconfig or None,
            url=args.kube_url or None,
            qps=qps,
            burst=burst,
            request_timeout=request_timeout,
        ),
        manager=_manager(namespaces, health_addr, metrics_addr, bool(args.metrics_insecure), tls),
        leader_election=leader_election,
        controller=controller,
        webhook=webhook,
        provisioner=ProvisionerSettings(
            name=provisioner,
            ironic=_ironic(environ, build_preprov_image) if provisioner == "ironic" else None,
            fixture_timing=args.fixture_timing or FIXTURE_TIMINGS[0],
        ),
        logging=LoggingSettings(dev=bool(args.dev), level=log_level),
        pod=pod,
    )


def resolve_concurrency(
    flag: int | None, environ: Mapping[str, str], *, cpu_count: int | None = None
) -> int:
    """The Go operator's rule (``main.go``): a positive flag wins; 0 falls back to
    ``BMO_CONCURRENCY``, then to min(CPUs, :data:`AUTO_CONCURRENCY_MAX`) floored at
    :data:`AUTO_CONCURRENCY_MIN`; negative is an error."""
    value = 0 if flag is None else flag
    if value < 0:
        raise SettingsError(
            f"--controller-concurrency must be 0 (automatic) or positive, got {value}"
        )
    if value > 0:
        return value
    raw = environ.get("BMO_CONCURRENCY", "").strip()
    if raw:
        try:
            from_env = int(raw)
        except ValueError:
            raise SettingsError(
                f"BMO_CONCURRENCY={raw!r} is not an integer: set a positive number of workers "
                "or unset it"
            ) from None
        if from_env < 1:
            raise SettingsError(
                f"BMO_CONCURRENCY={from_env} must be positive: set a positive number of "
                "workers or unset it"
            )
        return from_env
    cpus = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(AUTO_CONCURRENCY_MIN, min(cpus, AUTO_CONCURRENCY_MAX))


def parse_namespaces(raw: str, source: str) -> tuple[str, ...]:
    """Comma-separated namespace names; duplicates dropped, order kept."""
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip()
        if not name:
            continue
        if not _is_dns_label(name):
            raise SettingsError(
                f"{source}: {name!r} is not a valid namespace name (lowercase letters, digits "
                "and '-', at most 63 characters)"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def parse_address(raw: str, flag: str) -> Address:
    """``host:port``, ``:port`` or ``[v6]:port``; port 0 asks the OS for a free one."""
    host, sep, port_text = raw.strip().rpartition(":")
    if not sep:
        raise SettingsError(
            f"{flag} {raw!r} must be host:port or :port (e.g. {DEFAULT_HEALTH_ADDR})"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise SettingsError(f"{flag} {raw!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= MAX_UINT16:
        raise SettingsError(f"{flag} {raw!r}: port must be 0-65535")
    return Address(host=host, port=port)


class _RaisingParser(argparse.ArgumentParser):
    """argparse exits the process on bad input; a library call must raise instead."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError(message)


_SELECTOR_KEY = r"(?:[a-z0-9A-Z.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_SELECTOR_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SELECTOR_TERM = re.compile(
    rf"^\s*(?:!?\s*{_SELECTOR_KEY}"
    rf"|{_SELECTOR_KEY}\s*(?:=|==|!=)\s*{_SELECTOR_VALUE}"
    rf"|{_SELECTOR_KEY}\s+(?:in|notin)\s+\(\s*{_SELECTOR_VALUE}(?:\s*,\s*{_SELECTOR_VALUE})*\s*\))"
    r"\s*$"
)


def parse_label_selector(raw: str, source: str) -> str:
    """A Kubernetes label selector (``k=v``, ``k!=v``, ``k in (a,b)``, ``k notin (a)``,
    ``k``, ``!k``, comma-separated), checked here so a typo fails at start instead of as an
    HTTP 400 from every list; returned as given (stripped)."""
    raw = raw.strip()
    if not raw:
        return ""
    for term in _split_selector(raw):
        if not _SELECTOR_TERM.match(term):
            raise SettingsError(
                f"{source}: {term.strip()!r} is not a label selector requirement; use "
                "key=value, key!=value, 'key in (a,b)', 'key notin (a,b)', key or !key, "
                "joined by commas"
            )
    return raw


def _split_selector(raw: str) -> list[str]:
    """Split on the commas outside parentheses."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(raw):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(raw[start:i])
            start = i + 1
    terms.append(raw[start:])
    return terms


def _lease_name(explicit: str, selector: str) -> str:
    """The Lease to elect a leader through. Shards of one fleet (different selectors, maybe
    the same namespace) must not share one, or only one shard would ever run: without an
    explicit name a selector gets a stable name of its own."""
    if explicit:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", explicit):
            raise SettingsError(
                f"--leader-election-id / BMO_LEADER_ELECTION_ID {explicit!r} is not a valid "
                "Lease name: lowercase letters, digits, '-' and '.', at most 253 characters"
            )
        return explicit
    if not selector:
        return LEASE_NAME
    digest = hashlib.sha256(selector.encode()).hexdigest()[:10]
    return f"{LEASE_NAME}-{digest}"


def _leader_election(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    enabled: bool,
    namespaces: tuple[str, ...],
    pod_namespace: str | None,
) -> LeaderElectionSettings:
    lease = _seconds(
        args.lease_duration_seconds,
        environ,
        "LEASE_DURATION_SECONDS",
        "--lease-duration-seconds",
        int(DEFAULT_LEASE_DURATION),
    )
    renew = _seconds(
        args.renew_deadline_seconds,
        environ,
        "RENEW_DEADLINE_SECONDS",
        "--renew-deadline-seconds",
        int(DEFAULT_RENEW_DEADLINE),
    )
    retry = _seconds(
        args.retry_period_seconds,
        environ,
        "RETRY_PERIOD_SECONDS",
        "--retry-period-seconds",
        int(DEFAULT_RETRY_PERIOD),
    )
    # client-go's NewLeaderElector checks, with its 1.2 jitter factor.
    if lease <= renew:
        raise SettingsError(
            f"lease duration ({lease}s) must be greater than the renew deadline ({renew}s): "
            "raise --lease-duration-seconds / LEASE_DURATION_SECONDS or lower "
            "--renew-deadline-seconds / RENEW_DEADLINE_SECONDS"
        )
    if renew <= 1.2 * retry:
        raise SettingsError(
            f"renew deadline ({renew}s) must be greater than 1.2 x the retry period "
            f"({retry}s): lower --retry-period-seconds / RETRY_PERIOD_SECONDS"
        )
    namespace = pod_namespace or (namespaces[0] if len(namespaces) == 1 else None)
    if enabled and namespace is None:
        raise SettingsError(
            "--enable-leader-election needs a namespace for the Lease: set POD_NAMESPACE "
            "(or watch exactly one namespace with --namespace / WATCH_NAMESPACE)"
        )
    return LeaderElectionSettings(
        enabled=enabled,
        namespace=namespace,
        lease_name=LEASE_NAME,
        lease_duration=float(lease),
        renew_deadline=float(renew),
        retry_period=float(retry),
    )


def _manager(
    namespaces: tuple[str, ...],
    health_addr: Address,
    metrics_addr: Address | None,
    insecure: bool,
    tls: TLSPolicy,
) -> ManagerSettings:
    try:
        return ManagerSettings(
            namespaces=namespaces,
            health_addr=health_addr,
            metrics_addr=metrics_addr,
            metrics_secure=not insecure,
            tls=tls,
        )
    except ValueError as exc:
        raise SettingsError(f"--metrics-insecure: {exc}") from None


def _tls_policy(args: argparse.Namespace) -> TLSPolicy:
    """The TLS policy both servers enforce (upstream ``main.go`` ``GetTLSOptionOverrideFuncs``
    applies one set of overrides to the webhook and the metrics server)."""
    try:
        return TLSPolicy(
            min_version=parse_tls_version(
                getattr(args, "tls_min_version", None) or "TLS12", "--tls-min-version"
            ),
            max_version=parse_tls_version(
                getattr(args, "tls_max_version", None) or "TLS13", "--tls-max-version"
            ),
            cipher_suites=parse_list(args.tls_cipher_suites),
            curve_preferences=parse_list(args.tls_curve_preferences),
        )
    except (TLSPolicyError, WebhookConfigError) as exc:
        raise SettingsError(str(exc)) from None


def _webhook(args: argparse.Namespace, port: int, development_drivers: bool) -> WebhookConfig:
    """The webhook's own flags (certificate directory, TLS versions), validated by it."""
    try:
        return webhook_from_args(args, port=port, allow_development=development_drivers)
    except WebhookConfigError as exc:
        raise SettingsError(str(exc)) from None


def _ironic(environ: Mapping[str, str], preprov_image_builder: bool) -> IronicConfig:
    """Ironic's variables, read and checked by ``bmo.ironic.config`` (imported here, late,
    so that only ``--provisioner ironic`` loads openstacksdk)."""
    from bmo.ironic.config import IronicConfig
    from bmo.ironic.errors import IronicConfigError

    try:
        return IronicConfig.from_env(environ, preprov_image_builder=preprov_image_builder)
    except IronicConfigError as exc:
        raise SettingsError(str(exc)) from None


def _seconds(
    flag_value: int | None, environ: Mapping[str, str], env: str, flag: str, default: int
) -> int:
    """Go parses these as 16-bit integers; keep the same bounds."""
    if flag_value is not None:
        value, source = flag_value, flag
    else:
        raw = environ.get(env, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(
                f"{env}={raw!r} is not a whole number of seconds: set e.g. {env}={default}"
            ) from None
        source = env
    if not 1 <= value <= MAX_UINT16:
        raise SettingsError(f"{source} must be between 1 and {MAX_UINT16} seconds, got {value}")
    return value


def _flag_or_env(
    args: argparse.Namespace, attr: str, environ: Mapping[str, str], env: str
) -> str | None:
    value: str | None = getattr(args, attr)
    if value is not None:
        return value
    return environ.get(env)


def _env_bool(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in TRUE_VALUES:
        return True
    if raw in FALSE_VALUES:
        return False
    raise SettingsError(f"{name}={environ[name]!r} is not a boolean: use 'true' or 'false'")


def _int_flag(flag: str) -> argparse._ActionType:
    def convert(raw: str) -> int:
        try:
            return int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} expects an integer, got {raw!r}") from None

    return convert


def _float_flag(flag: str) -> argparse._ActionType:
    def convert(raw: str) -> float:
        try:
            return float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} expects a number, got {raw!r}") from None

    return convert


def _is_dns_label(name: str) -> bool:
    if not 1 <= len(name) <= 63 or name[0] == "-" or name[-1] == "-":
        return False
    return all(c.islower() or c.isdigit() or c == "-" for c in name if c.isascii()) and (
        name.isascii()
    )
