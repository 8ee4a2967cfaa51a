"""``bmo explain NAMESPACE/NAME``: why is this host where it is?

Reads what the answer needs — the BareMetalHost, its Events, whether its credentials Secret
exists (existence only: the contents are never parsed or kept), and the Ironic node — and
hands them to the pure :func:`bmo.explain.explain`. Ironic is configured from the
environment exactly as ``bmo run`` does it (``IRONIC_ENDPOINT``, ``METAL3_AUTH_ROOT_DIR``,
TLS variables); when Ironic is not configured or does not answer, that is one line of the
report, not a failure, because the Kubernetes side alone often answers the question.

Exit status: 0 the report was printed, 1 the host does not exist, 2 bad usage or the
Kubernetes API could not be used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from kubernetes import client as k8s

from bmo.api.constants import API_GROUP, API_VERSION, BMH_KIND, BMH_PLURAL
from bmo.api.firmware import HFC_PLURAL, HFS_PLURAL
from bmo.api.hostupdatepolicy import HUP_PLURAL
from bmo.commands.run import build_api_client
from bmo.explain import (
    ExplainError,
    Explanation,
    IronicLookup,
    LookupStatus,
    NodeFacts,
    SecretPresence,
    explain,
    node_lookup_keys,
    render_text,
    to_json,
)
from bmo.runtime.errors import KubeError, NotFound, Unreachable, kube_errors
from bmo.settings import KubeSettings, Settings, SettingsError

if TYPE_CHECKING:
    from bmo.ironic.client import NodeView

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2

EXPLAIN_RETRY_ATTEMPTS = 2
"""One retry for a dropped connection; a person is waiting, and a down Ironic is reported."""

DESCRIPTION = """\
Explain why a BareMetalHost is where it is: its state, operational status and error, when
bmo will retry next and why (backoff after errorCount failures, fixed delays, or "on the
next event"), the Ironic node's provision state, last_error, power state, maintenance and
fault, the host's recent Events, the finalizers holding a deletion, the paused/detached
annotations in effect, pending firmware changes (HostFirmwareSettings, HostFirmwareComponents)
and servicing, and a one-line diagnosis.

Ironic is found from the environment like `bmo run`: IRONIC_ENDPOINT, METAL3_AUTH_ROOT_DIR
(basic-auth files ironic/username and ironic/password), IRONIC_CACERT_FILE, IRONIC_INSECURE.
Secret contents and BMC passwords are never printed.

Exit status: 0 printed, 1 host not found, 2 usage or Kubernetes connection error.
"""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain why a BareMetalHost is in its current state",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="NAMESPACE/NAME", help="the BareMetalHost")
    connection = parser.add_mutually_exclusive_group()
    connection.add_argument(
        "--kube-url",
        help="API server URL without credentials, e.g. the local emulator http://127.0.0.1:PORT",
    )
    connection.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster config, then $KUBECONFIG)"
    )
    parser.add_argument(
        "--ironic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="look the node up in Ironic (default: yes; needs IRONIC_ENDPOINT)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default: %(default)s)",
    )
    parser.set_defaults(func=run)


class _UsageError(Exception):
    pass


def _parse_target(target: str) -> tuple[str, str]:
    namespace, sep, name = target.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise _UsageError(
            f"expected NAMESPACE/NAME, got {target!r}: e.g. `bmo explain metal3/worker-0`"
        )
    return namespace, name


def run(
    args: argparse.Namespace,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    environ = os.environ if environ is None else environ
    try:
        namespace, name = _parse_target(args.target)
    except _UsageError as exc:
        print(f"bmo explain: {exc}", file=err)
        return EXIT_USAGE
    settings = Settings(kube=KubeSettings(kubeconfig=args.kubeconfig, url=args.kube_url))
    try:
        api_client = build_api_client(settings, environ)
    except SettingsError as exc:
        print(f"bmo explain: {exc}", file=err)
        return EXIT_USAGE
    try:
        return _explain(
            args, api_client, namespace, name, out=out, err=err, environ=environ, now=now
        )
    finally:
        api_client.close()  # type: ignore[no-untyped-call]


def _explain(
    args: argparse.Namespace,
    api_client: k8s.ApiClient,
    namespace: str,
    name: str,
    *,
    out: TextIO,
    err: TextIO,
    environ: Mapping[str, str],
    now: datetime | None,
) -> int:
    server = api_client.configuration.host
    try:
        host = read_host(api_client, namespace, name)
    except NotFound:
        print(
            f"bmo explain: BareMetalHost {namespace}/{name} not found (check the namespace "
            "and name: kubectl get baremetalhosts -A)",
            file=err,
        )
        return EXIT_NOT_FOUND
    except Unreachable as exc:
        print(f"bmo explain: cannot reach the Kubernetes API at {server}: {_detail(exc)}", file=err)
        return EXIT_USAGE
    except KubeError as exc:
        print(
            f"bmo explain: cannot read BareMetalHost {namespace}/{name} from {server}: "
            f"{_detail(exc)}",
            file=err,
        )
        return EXIT_USAGE
    notes: list[str] = []
    events = list_events(api_client, namespace, name, notes)
    credentials_name = str(((host.get("spec") or {}).get("bmc") or {}).get("credentialsName") or "")
    presence = secret_presence(api_client, namespace, credentials_name)
    lookup = lookup_node(host, environ) if args.ironic else IronicLookup.skipped()
    firmware = {
        plural: read_optional(api_client, namespace, plural, name, notes)
        for plural in (HFS_PLURAL, HFC_PLURAL, HUP_PLURAL)
    }
    try:
        explanation = explain(
            host,
            lookup,
            events,
            now or datetime.now(UTC),
            credentials=presence,
            firmware_settings=firmware[HFS_PLURAL],
            firmware_components=firmware[HFC_PLURAL],
            update_policy=firmware[HUP_PLURAL],
        )
    except ExplainError as exc:
        print(f"bmo explain: {namespace}/{name}: {exc}", file=err)
        return EXIT_USAGE
    if notes:
        explanation = _with_notes(explanation, notes)
    out.write(to_json(explanation) + "\n" if args.output == "json" else render_text(explanation))
    return EXIT_OK


def _with_notes(explanation: Explanation, notes: list[str]) -> Explanation:
    return dataclasses.replace(explanation, notes=(*explanation.notes, *notes))


def _detail(exc: KubeError) -> str:
    """What went wrong: ``HTTP <status> <reason>``, or the transport error's own words."""
    if isinstance(exc, Unreachable) and exc.__cause__ is not None:
        return str(exc.__cause__)
    return str(exc)


def read_host(api_client: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    """The host as JSON; raises a :class:`~bmo.runtime.errors.KubeError` (``NotFound`` when
    it does not exist, ``Unreachable`` when the API server does not answer)."""
    api = k8s.CustomObjectsApi(api_client)
    with kube_errors():
        resp: Any = api.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, BMH_PLURAL, name, _preload_content=False
        )
    host: dict[str, Any] = json.loads(resp.data)
    return host


def read_optional(
    api_client: k8s.ApiClient, namespace: str, plural: str, name: str, notes: list[str]
) -> dict[str, Any] | None:
    """The host's same-named firmware object (HostFirmwareSettings, ...), ``None`` when it
    has none; a failure to read it becomes a note."""
    api = k8s.CustomObjectsApi(api_client)
    try:
        with kube_errors():
            resp: Any = api.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, plural, name, _preload_content=False
            )
        found: dict[str, Any] = json.loads(resp.data)
    except NotFound:
        return None
    except (KubeError, ValueError) as exc:
        detail = _detail(exc) if isinstance(exc, KubeError) else str(exc)
        notes.append(f"{plural} could not be read: {detail}")
        return None
    return found


def list_events(
    api_client: k8s.ApiClient, namespace: str, name: str, notes: list[str]
) -> list[dict[str, Any]]:
    """The host's Events (sorted later, by lastTimestamp); a failure becomes a note."""
    core = k8s.CoreV1Api(api_client)
    selector = f"involvedObject.name={name},involvedObject.kind={BMH_KIND}"
    try:
        with kube_errors():
            resp: Any = core.list_namespaced_event(
                namespace, field_selector=selector, _preload_content=False
            )
        body = json.loads(resp.data)
    except KubeError as exc:
        notes.append(f"Events could not be listed: {_detail(exc)}")
        return []
    except ValueError as exc:
        notes.append(f"Events could not be listed: {exc}")
        return []
    items = body.get("items") if isinstance(body, dict) else None
    return [item for item in items or () if isinstance(item, dict)]


def secret_presence(api_client: k8s.ApiClient, namespace: str, name: str) -> SecretPresence:
    """Whether the credentials Secret exists. The response body is never read."""
    if not name:
        return SecretPresence.UNKNOWN
    core = k8s.CoreV1Api(api_client)
    try:
        with kube_errors():
            resp: Any = core.read_namespaced_secret(name, namespace, _preload_content=False)
    except NotFound:
        return SecretPresence.MISSING
    except KubeError:
        return SecretPresence.UNKNOWN
    resp.drain_conn()
    resp.release_conn()
    return SecretPresence.PRESENT


def lookup_node(host: Mapping[str, Any], environ: Mapping[str, str]) -> IronicLookup:
    """The host's Ironic node by ``status.provisioning.ID``, then by ``<ns>~<name>``."""
    # Imported here: openstacksdk is slow to import and only this path needs it.
    from bmo.ironic.client import IronicClient
    from bmo.ironic.config import IronicConfig
    from bmo.ironic.errors import IronicConfigError, IronicError
    from bmo.ironic.retry import RetryPolicy

    keys = node_lookup_keys(host)
    try:
        config = IronicConfig.from_env(environ)
    except IronicConfigError as exc:
        return IronicLookup(LookupStatus.NOT_CONFIGURED, keys=keys, detail=str(exc))
    client = IronicClient(
        config, retry_policy=RetryPolicy(attempts=EXPLAIN_RETRY_ATTEMPTS, max_total=2.0)
    )
    found: NodeView | None = None
    try:
        for key in keys:
            found = client.get_node(key)
            if found is not None:
                break
    except IronicError as exc:
        return IronicLookup(LookupStatus.UNAVAILABLE, keys=keys, detail=f"{config.endpoint}: {exc}")
    if found is None:
        return IronicLookup(LookupStatus.NOT_FOUND, keys=keys, detail=f"at {config.endpoint}")
    return IronicLookup(LookupStatus.FOUND, node=node_facts(found), keys=keys)


def node_facts(node: NodeView) -> NodeFacts:
    """The printable subset of a ``NodeView`` (never ``driver_info`` or ``instance_info``)."""
    return NodeFacts(
        uuid=node.uuid,
        name=node.name,
        provision_state=node.provision_state,
        target_provision_state=node.target_provision_state,
        last_error=node.last_error,
        power_state=node.power_state,
        target_power_state=node.target_power_state,
        maintenance=node.maintenance,
        maintenance_reason=node.maintenance_reason,
        fault=node.fault,
        health=node.health,
        reservation=node.reservation,
        driver=node.driver,
    )
