"""Typed, frozen operator settings loaded once from command-line flags and the environment.

Flag and variable names are the Go baremetal-operator's (reference §6), so manifests written
for it work unchanged. Flags win over environment variables. Everything is validated here, at
start, so a typo fails with a message naming the flag or variable and the fix instead of
surfacing later deep inside a reconcile; code below receives a ``Settings`` value and never
reads ``os.environ`` itself.

The Ironic connection settings (``IRONIC_ENDPOINT`` and friends) live in
``bmo.ironic.config``; they are composed with these by the caller.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

DEFAULT_METRICS_ADDR = "127.0.0.1:8080"
"""Plain HTTP on loopback. Upstream serves HTTPS with authn on ``:8443``; bmo does not
implement that filter, so it binds loopback by default and a deployment exposes metrics
deliberately (``--metrics-addr :8080``) behind its own network policy. ``0`` disables."""

DEFAULT_HEALTH_ADDR = ":9440"
DEFAULT_WEBHOOK_PORT = 9443
LEASE_NAME = "baremetal-operator"
PROVISIONERS = ("ironic", "fixture")
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})
MAX_UINT16 = 65535


class SettingsError(ValueError):
    """A flag or environment variable has a value bmo cannot run with; the message says
    which one and how to fix it."""


@dataclass(frozen=True)
class Address:
    """A ``host:port`` bind address; an empty host means every interface, like Go's
    ``:9440``."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class LeaderElectionSettings:
    """client-go ``leaderelection`` timings; ``namespace`` is where the Lease lives."""

    enabled: bool = False
    namespace: str | None = None
    lease_name: str = LEASE_NAME
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class KubeSettings:
    """How to reach the API server and how hard to hit it."""

    kubeconfig: str | None = None
    url: str | None = None
    qps: float = 20.0
    burst: int = 30


@dataclass(frozen=True)
class Settings:
    """Everything the manager process is configured with.

    ``namespaces`` empty means cluster-wide. ``metrics_addr`` ``None`` means metrics are
    disabled; ``webhook_port`` 0 disables webhooks.
    """

    namespaces: tuple[str, ...] = ()
    pod_namespace: str | None = None
    metrics_addr: Address | None = field(
        default_factory=lambda: parse_address(DEFAULT_METRICS_ADDR, "--metrics-addr")
    )
    health_addr: Address = field(
        default_factory=lambda: parse_address(DEFAULT_HEALTH_ADDR, "--health-addr")
    )
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    provisioner: str = "ironic"
    dev: bool = False
    concurrency: int = 2
    max_provisioning_retries: int = 5
    development_drivers: bool = False
    log_level: str = "info"
    leader_election: LeaderElectionSettings = LeaderElectionSettings()
    kube: KubeSettings = KubeSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the manager's flags. Defaults are ``None`` so "not given" can fall back to the
    environment; the effective defaults are applied in :func:`from_args`."""
    add = parser.add_argument
    add(
        "--namespace",
        help="namespace(s) to watch, comma-separated; empty = cluster-wide "
        "(default: $WATCH_NAMESPACE)",
    )
    add(
        "--metrics-addr",
        help=f"metrics bind address, plain HTTP; '0' disables (default: {DEFAULT_METRICS_ADDR})",
    )
    add("--health-addr", help=f"/healthz and /readyz bind address (default: {DEFAULT_HEALTH_ADDR})")
    add(
        "--webhook-port",
        type=_int_flag("--webhook-port"),
        help=f"validating webhook port; 0 disables (default: {DEFAULT_WEBHOOK_PORT})",
    )
    add("--provisioner", help="provisioner: 'ironic' or 'fixture' (default: ironic)")
    add(
        "--dev",
        action="store_true",
        default=None,
        help="development logging: human-readable console output",
    )
    add("--log-level", help="debug, info, warning or error (default: info)")
    add(
        "--kube-api-qps",
        type=_float_flag("--kube-api-qps"),
        help="sustained Kubernetes API requests per second (default: 20)",
    )
    add(
        "--kube-api-burst",
        type=_int_flag("--kube-api-burst"),
        help="Kubernetes API request burst (default: 30)",
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
        help="reconcile workers; >0 overrides, 0 uses $BMO_CONCURRENCY or min(CPUs, 8) "
        "floored at 2 (default: 0)",
    )
    add(
        "--max-provisioning-retries",
        type=_int_flag("--max-provisioning-retries"),
        help="provisioning attempts before giving up; 0 = unlimited (default: 5)",
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
        help="leader-election lease duration (default: $LEASE_DURATION_SECONDS or 15)",
    )
    add(
        "--renew-deadline-seconds",
        type=_int_flag("--renew-deadline-seconds"),
        help="leader-election renew deadline (default: $RENEW_DEADLINE_SECONDS or 10)",
    )
    add(
        "--retry-period-seconds",
        type=_int_flag("--retry-period-seconds"),
        help="leader-election retry period (default: $RETRY_PERIOD_SECONDS or 2)",
    )
    add(
        "--development-drivers",
        action="store_true",
        default=None,
        help="allow development-only BMC drivers such as 'fake' "
        "(default: $BMO_DEVELOPMENT_DRIVERS)",
    )


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
    """Combine parsed flags with the environment; flags win. Raises :class:`SettingsError`."""
    namespace_raw = _flag_or_env(args, "namespace", environ, "WATCH_NAMESPACE")
    namespaces = parse_namespaces(namespace_raw or "", "--namespace / WATCH_NAMESPACE")
    pod_namespace = environ.get("POD_NAMESPACE") or None

    metrics_raw = args.metrics_addr if args.metrics_addr is not None else DEFAULT_METRICS_ADDR
    metrics_addr = None if metrics_raw == "0" else parse_address(metrics_raw, "--metrics-addr")
    health_raw = args.health_addr if args.health_addr is not None else DEFAULT_HEALTH_ADDR
    health_addr = parse_address(health_raw, "--health-addr")

    webhook_port = DEFAULT_WEBHOOK_PORT if args.webhook_port is None else args.webhook_port
    if not 0 <= webhook_port <= MAX_UINT16:
        raise SettingsError(
            f"--webhook-port {webhook_port} is out of range: use 1-65535, or 0 to disable "
            "the webhook server"
        )

    provisioner = args.provisioner or "ironic"
    if provisioner not in PROVISIONERS:
        raise SettingsError(
            f"--provisioner {provisioner!r} is not known: use one of {', '.join(PROVISIONERS)}"
        )

    log_level = (args.log_level or "info").lower()
    if log_level not in ("debug", "info", "warning", "error"):
        raise SettingsError(
            f"--log-level {args.log_level!r} is not known: use debug, info, warning or error"
        )

    qps = 20.0 if args.kube_api_qps is None else args.kube_api_qps
    if qps <= 0:
        raise SettingsError(f"--kube-api-qps must be positive, got {qps:g}")
    burst = 30 if args.kube_api_burst is None else args.kube_api_burst
    if burst < 1:
        raise SettingsError(f"--kube-api-burst must be at least 1, got {burst}")

    retries = 5 if args.max_provisioning_retries is None else args.max_provisioning_retries
    if retries < 0:
        raise SettingsError(
            f"--max-provisioning-retries must be 0 (unlimited) or positive, got {retries}"
        )

    dev = bool(args.dev)
    enabled = bool(args.enable_leader_election)
    development_drivers = (
        True if args.development_drivers else _env_bool(environ, "BMO_DEVELOPMENT_DRIVERS")
    )

    return Settings(
        namespaces=namespaces,
        pod_namespace=pod_namespace,
        metrics_addr=metrics_addr,
        health_addr=health_addr,
        webhook_port=webhook_port,
        provisioner=provisioner,
        dev=dev,
        concurrency=resolve_concurrency(args.controller_concurrency, environ, cpu_count=cpu_count),
        max_provisioning_retries=retries,
        development_drivers=development_drivers,
        log_level=log_level,
        leader_election=_leader_election(args, environ, enabled, namespaces, pod_namespace),
        kube=KubeSettings(
            kubeconfig=args.kubeconfig or None,
            url=args.kube_url or None,
            qps=qps,
            burst=burst,
        ),
    )


def resolve_concurrency(
    flag: int | None, environ: Mapping[str, str], *, cpu_count: int | None = None
) -> int:
    """The Go operator's rule: a positive flag wins; 0 falls back to ``BMO_CONCURRENCY``,
    then to min(CPUs, 8) floored at 2; negative is an error."""
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
    return max(2, min(cpus, 8))


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
        raise SettingsError(f"{flag} {raw!r} must be host:port or :port (e.g. :9440)")
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
        15,
    )
    renew = _seconds(
        args.renew_deadline_seconds,
        environ,
        "RENEW_DEADLINE_SECONDS",
        "--renew-deadline-seconds",
        10,
    )
    retry = _seconds(
        args.retry_period_seconds, environ, "RETRY_PERIOD_SECONDS", "--retry-period-seconds", 2
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
        lease_duration=float(lease),
        renew_deadline=float(renew),
        retry_period=float(retry),
    )


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
