# Over 600 lines: every Ironic call goes through this one client (timeouts, retries,
# microversions, error translation); views, connection and microversions are split out.
"""``IronicClient``: openstacksdk underneath, bmo's vocabulary on top.

Mirrors what upstream gets from gophercloud plus ``pkg/provisioner/ironic/clients/`` and
``pkg/provisioner/ironic/dependencies.go`` (``TryInit``, ``checkIronicConductor``). What this
layer adds to the SDK:

* **One negotiation.** The API version document is read once; the microversion is chosen
  (:mod:`bmo.ironic.microversion`, from Metal3's list 1.110, 1.109, 1.95, 1.93, 1.89) and
  pinned on the connection (:mod:`bmo.ironic.connection`). After that every request carries
  it, and no reconcile pays a discovery round trip.
* **Cached readiness.** ``ready()`` (version still OK and ≥1 driver registered) is cached for
  ``IRONIC_CLIENT_CACHE_TTL`` through an injectable clock, good or bad result alike. A check
  lists the drivers; the version document is read again only after a failed check or once
  it is :data:`VERSION_RECHECK_INTERVAL` old.
* **BIOS settings of unchanged nodes** are kept (:mod:`bmo.ironic.bioscache`) for every
  provisioner over this client.
* **One exception tree** (:mod:`bmo.ironic.errors`) and **short retries** inside each call
  (:mod:`bmo.ironic.retry`); the SDK's own retries are switched off.
* **Typed snapshots** (:mod:`bmo.ironic.views`): :class:`NodeView` and :class:`PortView`,
  frozen.

Most node calls go through the SDK's session as raw JSON (``conn.baremetal.request`` with the
pinned microversion) rather than the SDK's ``Node`` resource, for measured reasons
(openstacksdk 4.22): its ``Node`` drops ``disable_power_off`` (1.95); its power call cannot
pass Ironic's server-side ``timeout`` (soft power off); and its provision-state and
maintenance calls re-GET the node after the PUT — an extra request per call against an API
that manages ~10 requests/s, and a GET failure inside our retry loop would re-send a PUT
Ironic already accepted. Where the SDK call is a single request (delete, validate, port
create) ``conn.baremetal.*`` is used.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import requests
from openstack import connection as sdk_connection

from bmo.ironic.bioscache import BiosSettingsCache
from bmo.ironic.config import IronicConfig
from bmo.ironic.connection import build_connection
from bmo.ironic.errors import (
    IronicError,
    IronicUnavailable,
    MACConflict,
    NodeNotFound,
    NotReady,
    PortNodeMissing,
    raise_for_status,
    translate_errors,
)
from bmo.ironic.microversion import (
    MIN_MICROVERSION,
    PREFERRED_MICROVERSIONS,
    choose_microversion,
    parse_version,
)
from bmo.ironic.nodecache import PORT_NEUTRAL_TARGETS, NodeCache, cache_fields
from bmo.ironic.retry import RetryPolicy, call_with_retries
from bmo.ironic.states import SLOT_TARGETS
from bmo.ironic.updates import PatchOp, render_ops
from bmo.ironic.views import NodeView, PortView, ValidationResult, ironic_time
from bmo.provisioner.deferral import check_action

# The views, the connection and the version helpers are re-exported: ``bmo.ironic.client``
# is where callers outside this package get them.
__all__ = [
    "MIN_MICROVERSION",
    "PREFERRED_MICROVERSIONS",
    "VERSION_RECHECK_INTERVAL",
    "IronicClient",
    "NodeView",
    "PortView",
    "ValidationResult",
    "build_connection",
    "choose_microversion",
    "parse_version",
]

log = logging.getLogger(__name__)

_NODE_LIST_LIMIT = 1000
#: Nodes per page of :meth:`IronicClient.list_changed_nodes` (usually the only page).
_CHANGED_PAGE: Final = 50
_PORT_LIST_LIMIT = 1000
#: The port fields bmo reads (:class:`PortView`).
_PORT_FIELDS = "uuid,address,node_uuid,pxe_enabled"
#: Seconds a readiness check trusts the last version document read by a successful check.
#: Upstream ``pkg/provisioner/ironic/dependencies.go TryInit`` reads it
#: (``clients.GetAvailableFeatures``) and lists the drivers (``checkIronicConductor``) on
#: every call; bmo caches that for ``IRONIC_CLIENT_CACHE_TTL`` (5 s), and some host
#: reconciles every few seconds, so a fleet at rest paid two requests every 5 s. The
#: drivers list alone tells whether the conductor is up; an Ironic replaced by another
#: version shows through a failed request (406 for a microversion it no longer serves, or
#: the outage of its restart), after which the next check reads the version again. Read
#: once a minute otherwise, a quiet upgrade (still serving the pinned microversion) is
#: noticed within a minute.
VERSION_RECHECK_INTERVAL: Final = 60.0

Clock = Callable[[], float]


# ---------------------------------------------------------------------------- the client


def _node_path(ident: str, *rest: str) -> str:
    return "/".join(("/nodes", quote(ident, safe=""), *rest))


def _port_view(item: Mapping[str, Any]) -> PortView:
    return PortView(
        uuid=str(item["uuid"]),
        address=str(item.get("address", "")),
        node_uuid=item.get("node_uuid"),
        pxe_enabled=item.get("pxe_enabled"),
    )


@dataclass(frozen=True)
class _Readiness:
    checked_at: float
    error: NotReady | None
    # When the version document was last read by a check that succeeded (this or an
    # earlier one); ``None`` after a failed check.
    version_read_at: float | None = None


class IronicClient:
    """Thread-safe; share one per process. Every method raises only :class:`IronicError`."""

    def __init__(
        self,
        config: IronicConfig,
        *,
        clock: Clock = time.monotonic,
        retry_policy: RetryPolicy | None = None,
        connection_factory: Callable[[IronicConfig], sdk_connection.Connection] = (
            build_connection
        ),
    ) -> None:
        self._config = config
        self._clock = clock
        self._retry = retry_policy or RetryPolicy()
        self._connection_factory = connection_factory
        self._conn: sdk_connection.Connection | None = None
        self._microversion: str | None = None
        self._readiness: _Readiness | None = None
        self._cache: NodeCache | None = None
        self._bios = BiosSettingsCache(clock=clock)
        # Separate locks: a slow readiness probe must not stall node calls that only need
        # the (already negotiated) microversion.
        self._conn_lock = threading.Lock()
        self._version_lock = threading.Lock()
        self._ready_lock = threading.Lock()

    @property
    def config(self) -> IronicConfig:
        return self._config

    def node_cache(self, **kwargs: Any) -> NodeCache:
        """The node cache serving :meth:`get_node` and :meth:`list_ports`, created (not
        started) on first call.

        Keyword arguments go to :class:`NodeCache` (intervals, clock) on creation.
        """
        with self._conn_lock:
            if self._cache is None:
                self._cache = NodeCache(
                    lambda wanted: self.list_nodes(fields=wanted),
                    lambda: cache_fields(self.microversion),
                    list_ports=self.list_all_ports,
                    list_changed=self.list_changed_nodes,
                    **kwargs,
                )
            return self._cache

    @property
    def bios_cache(self) -> BiosSettingsCache:
        """BIOS settings of unchanged nodes, shared by every provisioner over this client."""
        return self._bios

    @property
    def attached_cache(self) -> NodeCache | None:
        """The node cache, if :meth:`node_cache` created one."""
        return self._cache

    def _written(
        self,
        *idents: str | None,
        moved: bool = False,
        answer: NodeView | None = None,
        ports: Sequence[PortView] | None = None,
        keep_ports: bool = False,
    ) -> None:
        """Tell the node cache bmo wrote to the node, and what the write answered
        (:meth:`NodeCache.invalidate`)."""
        if self._cache is not None:
            self._cache.invalidate(
                *idents, moved=moved, answer=answer, ports=ports, keep_ports=keep_ports
            )

    def _mark(self) -> int | None:
        return self._cache.mark() if self._cache is not None else None

    # -- plumbing ------------------------------------------------------------------------

    def _connection(self) -> sdk_connection.Connection:
        with self._conn_lock:
            if self._conn is None:
                with translate_errors("connect to ironic"):
                    self._conn = self._connection_factory(self._config)
            return self._conn

    def _baremetal(self) -> Any:
        """The SDK proxy, pinned to the negotiated microversion.

        Touching ``conn.baremetal`` runs keystoneauth's endpoint discovery the first time,
        which can fail like any request, hence the mapping.
        """
        microversion = self.microversion
        with translate_errors("connect to ironic"):
            proxy = self._connection().baremetal
        if proxy.default_microversion != microversion:
            proxy.default_microversion = microversion
        return proxy

    def _call(
        self,
        operation: str,
        fn: Callable[[], Any],
        *,
        recover_conflict: Callable[[], Any] | None = None,
    ) -> Any:
        # Negotiate first, outside this call's retry loop: the negotiation has its own
        # retries, and nesting the two would multiply the attempts against a down Ironic.
        _ = self.microversion
        return call_with_retries(
            operation, fn, policy=self._retry, recover_conflict=recover_conflict
        )

    def _raw(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        converges: bool = False,
        observed: bool = True,
    ) -> requests.Response:
        """One request relative to ``/v1``; error statuses become :class:`IronicError`.
        ``converges``/``observed``: as :func:`check_action` takes them."""
        if method != "GET":
            check_action(operation, converges=converges, observed=observed)
        proxy = self._baremetal()
        kwargs: dict[str, Any] = {
            "microversion": self.microversion,
            "raise_exc": False,
            "connect_retries": 0,
        }
        if json is not None:
            kwargs["json"] = json
            # keystoneauth logs request bodies at DEBUG ("REQ: curl ... -d"), and bodies carry
            # BMC passwords, config-drive user data and pull secrets: never let it.
            kwargs["log"] = False
        if params:
            kwargs["params"] = dict(params)
        response: requests.Response = proxy.request(path, method, **kwargs)
        return raise_for_status(response, operation)

    def _json(self, response: requests.Response, operation: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise IronicUnavailable(
                f"{operation}: ironic returned a non-JSON body (HTTP {response.status_code})",
                status_code=response.status_code,
                operation=operation,
            ) from None

    # -- version and readiness -----------------------------------------------------------

    def _read_version(self) -> str:
        """Fetch the ``/v1`` version document and choose a microversion (raises NotReady)."""
        operation = "read ironic API version"

        def fetch() -> requests.Response:
            conn = self._connection()
            # An absolute URL through the SDK session: same TLS/timeout settings, and it
            # does not depend on keystoneauth discovery having succeeded already.
            response: requests.Response = conn.session.get(
                self._config.api_url, authenticated=False, raise_exc=False, connect_retries=0
            )
            return raise_for_status(response, operation)

        response = call_with_retries(operation, fetch, policy=self._retry)
        document = self._json(response, operation)
        version = document.get("version") if isinstance(document, dict) else None
        if not isinstance(version, dict):
            # Fall back to Ironic's range headers.
            version = {
                "min_version": response.headers.get("X-OpenStack-Ironic-API-Minimum-Version"),
                "version": response.headers.get("X-OpenStack-Ironic-API-Maximum-Version"),
            }
        max_version = version.get("version")
        if not isinstance(max_version, str) or not max_version:
            raise NotReady(f"{operation}: the version document names no API version")
        min_version = version.get("min_version")
        if not isinstance(min_version, str) or not min_version:
            min_version = "1.1"
        return choose_microversion(min_version, max_version)

    @property
    def microversion(self) -> str:
        """The pinned microversion, negotiated on first use (raises NotReady/IronicError)."""
        current = self._microversion
        if current is not None:
            return current
        with self._version_lock:
            if self._microversion is None:
                self._microversion = self._read_version()
                log.info("ironic microversion negotiated: %s", self._microversion)
            return self._microversion

    def ensure_ready(self) -> None:
        """Raise :class:`NotReady` unless Ironic was seen ready within the cache TTL."""
        with self._ready_lock:
            now = self._clock()
            cached = self._readiness
            ttl = self._config.cache_ttl
            if cached is None or ttl <= 0 or now - cached.checked_at >= ttl:
                last_read = cached.version_read_at if cached is not None else None
                read_version = (
                    cached is None
                    or cached.error is not None
                    or last_read is None
                    or now - last_read >= VERSION_RECHECK_INTERVAL
                )
                error = self._check_ready(read_version=read_version)
                if error is not None:
                    last_read = None
                elif read_version:
                    last_read = now
                cached = _Readiness(checked_at=now, error=error, version_read_at=last_read)
                self._readiness = cached
                if cached.error is not None and self._cache is not None:
                    # Ironic may come back on another (wiped) database.
                    self._cache.distrust()
        error = cached.error
        if error is not None:
            # A fresh instance per raise: the cached one is shared between threads.
            raise NotReady(
                str(error), status_code=error.status_code, operation=error.operation
            ) from error.__cause__

    def ready(self) -> bool:
        try:
            self.ensure_ready()
        except NotReady:
            return False
        return True

    def _check_ready(self, *, read_version: bool = True) -> NotReady | None:
        """One readiness check: the version document (when ``read_version``), then the
        drivers list (``dependencies.go checkIronicConductor``)."""
        try:
            if read_version or self._microversion is None:
                chosen = self._read_version()
                if self._microversion is not None and chosen != self._microversion:
                    # Ironic was replaced by another version: re-pin rather than send a
                    # header it no longer accepts.
                    log.warning("ironic microversion changed %s -> %s", self._microversion, chosen)
                self._microversion = chosen
            response = call_with_retries(
                "list ironic drivers",
                lambda: self._raw("GET", "/drivers", "list ironic drivers"),
                policy=self._retry,
            )
            body = self._json(response, "list ironic drivers")
            drivers = body.get("drivers") if isinstance(body, dict) else None
            if not drivers:
                return NotReady("ironic has no drivers registered yet (conductor not up)")
        except NotReady as exc:
            return exc
        except IronicError as exc:
            not_ready = NotReady(
                f"ironic is not usable: {exc}", status_code=exc.status_code, operation="ready"
            )
            not_ready.__cause__ = exc
            return not_ready
        return None

    # -- nodes ---------------------------------------------------------------------------

    def get_node(self, uuid_or_name: str, *, fresh: bool = False) -> NodeView | None:
        """The node, or ``None`` when Ironic has no node with that UUID or name.

        Served by the node cache when one is attached and can answer, unless ``fresh``.
        """
        if not uuid_or_name:
            return None
        if self._cache is not None and not fresh:
            cached = self._cache.lookup(uuid_or_name)
            if cached is not None:
                return cached
            if self._cache.knows_absent(uuid_or_name):
                return None
        operation = f"get node {uuid_or_name}"
        path = _node_path(uuid_or_name)
        mark = self._mark()
        try:
            response = self._call(operation, lambda: self._raw("GET", path, operation))
        except NodeNotFound:
            return None
        node = NodeView.from_json(self._json(response, operation))
        if self._cache is not None and mark is not None:
            # Newer than the snapshot: the host's next reads in this pass are served.
            self._cache.observed(mark, node)
        return node

    def find_node(
        self,
        uuid: str | None = None,
        name: str | None = None,
        legacy_name: str | None = None,
        boot_mac: str | None = None,
    ) -> NodeView | None:
        """Look up a host's node as upstream ``ironic.go findExistingHost`` does.

        UUID, then ``namespace~name``, then the legacy bare name (only when it contains no
        ``~``), then the node owning a port with ``boot_mac``. A node found only through its
        MAC that has a name belongs to someone else: :class:`MACConflict`.
        """
        for candidate in (uuid, name):
            if candidate:
                node = self.get_node(candidate)
                if node is not None:
                    return node
        if legacy_name and "~" not in legacy_name:
            node = self.get_node(legacy_name)
            if node is not None:
                return node
        if not boot_mac:
            return None
        ports = self.find_ports(address=boot_mac)
        if not ports:
            return None
        node_uuid = ports[0].node_uuid
        node = self.get_node(node_uuid) if node_uuid else None
        if node is None:
            raise PortNodeMissing(
                f"port {ports[0].uuid} with MAC {boot_mac} points to node {node_uuid}, "
                "which does not exist; retrying later",
                operation="find node",
            )
        if node.name:
            raise MACConflict(boot_mac, node.name)
        return node

    def create_node(
        self,
        *,
        name: str,
        driver: str,
        driver_info: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        interfaces: Mapping[str, str | None] | None = None,
        disable_power_off: bool | None = None,
        automated_clean: bool | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> NodeView:
        """POST a node. ``interfaces`` maps e.g. ``boot_interface`` → value; empty/None
        values are omitted so Ironic picks its defaults (``register.go enrollNode``)."""
        check_action("create node")
        body: dict[str, Any] = {"name": name, "driver": driver}
        if driver_info:
            body["driver_info"] = dict(driver_info)
        if properties:
            body["properties"] = dict(properties)
        for key, value in (interfaces or {}).items():
            if not key.endswith("_interface"):
                raise ValueError(f"not an interface field: {key!r}")
            if value:
                body[key] = value
        if disable_power_off is not None:
            body["disable_power_off"] = disable_power_off
        if automated_clean is not None:
            body["automated_clean"] = automated_clean
        if extra:
            body["extra"] = dict(extra)
        operation = f"create node {name}"
        created: list[NodeView] = []

        def create() -> NodeView:
            response = self._raw("POST", "/nodes", operation, json=body)
            node = NodeView.from_json(self._json(response, operation))
            created.append(node)
            return node

        try:
            node: NodeView = self._call(
                operation, create, recover_conflict=lambda: self.get_node(name, fresh=True)
            )
        except IronicError:
            self._written(name)  # a failed POST may still have created it
            raise
        if created and created[-1] is node:
            # Ironic answered the POST with the whole node, and a new node has no ports.
            self._written(name, answer=node, ports=())
        else:
            # Found after a conflict (an earlier attempt, or someone else): ports unknown.
            self._written(node.uuid, name)
        return node

    def update_node(
        self, uuid: str, ops: Sequence[PatchOp], *, converges: bool = False
    ) -> NodeView:
        """Apply JSON-patch ops; with no ops, nothing is sent and the node is re-read.
        ``converges``: registration's configuration, which every pass converges on
        (:func:`check_action`)."""
        check_action("update node", converges=converges, observed=False)
        operation = f"update node {uuid}"
        if not ops:
            node = self.get_node(uuid, fresh=True)
            if node is None:
                raise NodeNotFound(f"{operation}: HTTP 404", status_code=404, operation=operation)
            return node
        log.debug("%s: %s", operation, render_ops(ops))
        patch = [op.to_json() for op in ops]
        path = _node_path(uuid)
        response = self._call(
            operation,
            lambda: self._raw(
                "PATCH", path, operation, json=patch, converges=converges, observed=False
            ),
        )
        try:
            node = NodeView.from_json(self._json(response, operation))
        except IronicError:
            self._written(uuid)
            raise
        # Ironic answers a PATCH with the whole node; a node's fields never change its ports.
        self._written(uuid, answer=node, keep_ports=True)
        return node

    def delete_node(self, uuid: str) -> None:
        """Delete; a node that is already gone is fine."""
        check_action("delete node")
        self._call(
            f"delete node {uuid}",
            lambda: self._baremetal().delete_node(uuid, ignore_missing=True),
        )
        self._written(uuid)
        self._bios.evict(uuid)

    def list_nodes(self, fields: Iterable[str] | None = None) -> list[NodeView]:
        """All nodes (paged), e.g. with ``fields=("uuid", "name", "provision_state",
        "boot_interface")`` for the capacity count (``ironic.go loadBusyHosts``)."""
        operation = "list nodes"
        wanted = list(fields) if fields is not None else None
        if wanted is not None and "uuid" not in wanted:
            wanted.append("uuid")
        nodes: list[NodeView] = []
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"limit": _NODE_LIST_LIMIT}
            if wanted is not None:
                params["fields"] = ",".join(wanted)
            if marker is not None:
                params["marker"] = marker
            body = self._json(self._list_page(operation, "/nodes", params), operation)
            if not isinstance(body, dict):
                return nodes
            page = body.get("nodes") or []
            nodes.extend(NodeView.from_json(item) for item in page)
            if not body.get("next") or not page:
                return nodes
            marker = nodes[-1].uuid

    def list_changed_nodes(self, since: datetime | None) -> list[NodeView]:
        """Whole nodes (``updated_at`` included), most recently changed first, back to the
        first one changed before ``since`` (Ironic's clock); with ``since`` ``None``, only
        the newest one: the node cache's mark of where its next change list starts.

        ``GET /v1/nodes/detail?sort_key=updated_at&sort_dir=desc``: a ``fields=`` list
        cannot carry ``updated_at`` (see :func:`bmo.ironic.nodecache.cache_fields`), and the
        detail view costs Ironic more per node, which pays only because few nodes change
        between two polls. A node never written since it was created has no ``updated_at``
        and sorts last: it is only found by a full list.
        """
        operation = "list changed nodes"
        nodes: list[NodeView] = []
        marker: str | None = None
        limit = 1 if since is None else _CHANGED_PAGE
        while True:
            params: dict[str, Any] = {
                "limit": limit,
                "sort_key": "updated_at",
                "sort_dir": "desc",
            }
            if marker is not None:
                params["marker"] = marker
            body = self._json(self._list_page(operation, "/nodes/detail", params), operation)
            page = body.get("nodes") if isinstance(body, dict) else None
            if not page:
                return nodes
            nodes.extend(NodeView.from_json(item) for item in page)
            oldest = ironic_time(nodes[-1].updated_at)
            if since is None or oldest is None or oldest < since or not body.get("next"):
                return nodes
            marker = nodes[-1].uuid

    def _list_page(self, operation: str, path: str, params: Mapping[str, Any]) -> requests.Response:
        response: requests.Response = self._call(
            operation, lambda: self._raw("GET", path, operation, params=params)
        )
        return response

    def set_provision_state(
        self,
        uuid: str,
        target: str,
        *,
        config_drive: str | Mapping[str, Any] | None = None,
        clean_steps: Sequence[Mapping[str, Any]] | None = None,
        deploy_steps: Sequence[Mapping[str, Any]] | None = None,
        service_steps: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Request a provision-state change (202); does not wait for it.

        ``config_drive`` is the structured form (``user_data``/``meta_data``/``network_data``)
        or a string (URL or gzipped, base64-encoded ISO), as Ironic accepts both.
        """
        check_action("set provision state")
        body: dict[str, Any] = {"target": target}
        if config_drive is not None:
            body["configdrive"] = (
                dict(config_drive) if isinstance(config_drive, Mapping) else config_drive
            )
        for key, steps in (
            ("clean_steps", clean_steps),
            ("deploy_steps", deploy_steps),
            ("service_steps", service_steps),
        ):
            if steps is not None:
                body[key] = [dict(step) for step in steps]
        operation = f"set provision state {target} on node {uuid}"
        path = _node_path(uuid, "states/provision")
        self._call(operation, lambda: self._raw("PUT", path, operation, json=body))
        # 202 without a body: the node's state is unknown until read again.
        self._written(uuid, moved=target in SLOT_TARGETS, keep_ports=target in PORT_NEUTRAL_TARGETS)

    def set_power_state(self, uuid: str, target: str, timeout: int | None = None) -> None:
        """Request ``power on``/``power off``/``rebooting``/``soft power off``...

        ``timeout`` (seconds) is Ironic's server-side limit for soft actions.
        """
        body: dict[str, Any] = {"target": target}
        if timeout is not None:
            body["timeout"] = int(timeout)
        operation = f"set power state {target} on node {uuid}"
        path = _node_path(uuid, "states/power")
        self._call(operation, lambda: self._raw("PUT", path, operation, json=body, converges=True))
        self._written(uuid, keep_ports=True)

    def set_maintenance(self, uuid: str, reason: str | None = None) -> None:
        check_action("set maintenance")
        operation = f"set maintenance on node {uuid}"
        body = {"reason": reason} if reason else {}
        path = _node_path(uuid, "maintenance")
        self._call(operation, lambda: self._raw("PUT", path, operation, json=body))
        self._written(uuid, keep_ports=True)

    def unset_maintenance(self, uuid: str) -> None:
        check_action("unset maintenance")
        operation = f"unset maintenance on node {uuid}"
        path = _node_path(uuid, "maintenance")
        self._call(operation, lambda: self._raw("DELETE", path, operation))
        self._written(uuid, keep_ports=True)

    def validate(self, uuid: str) -> dict[str, ValidationResult]:
        """Per-interface validation; never raises for failing interfaces (caller decides)."""
        results = self._call(
            f"validate node {uuid}",
            lambda: self._baremetal().validate_node(uuid, required=()),
        )
        return {
            name: ValidationResult(result=res.result, reason=res.reason)
            for name, res in results.items()
        }

    def set_raid_config(self, uuid: str, target_raid_config: Mapping[str, Any]) -> None:
        """Set ``target_raid_config`` (applied later by a clean step)."""
        check_action("set raid config")
        operation = f"set RAID config on node {uuid}"
        path = _node_path(uuid, "states/raid")
        body = dict(target_raid_config)
        self._call(operation, lambda: self._raw("PUT", path, operation, json=body))
        self._written(uuid)

    def get_inventory(self, uuid: str) -> dict[str, Any] | None:
        """``{"inventory": ..., "plugin_data": ...}``, or ``None`` if none was stored."""
        operation = f"get inventory of node {uuid}"
        path = _node_path(uuid, "inventory")
        try:
            response = self._call(operation, lambda: self._raw("GET", path, operation))
        except NodeNotFound:
            return None
        body = self._json(response, operation)
        return dict(body) if isinstance(body, dict) else None

    def list_bios_settings(self, uuid: str, detail: bool) -> list[dict[str, Any]]:
        """``GET /v1/nodes/{id}/bios[?detail=True]``: one dict per setting (``name``,
        ``value`` and, with ``detail``, the registry fields; Ironic ≥ 1.74)."""
        operation = f"get BIOS settings of node {uuid}"
        path = _node_path(uuid, "bios")
        params = {"detail": "True"} if detail else None
        response = self._call(operation, lambda: self._raw("GET", path, operation, params=params))
        body = self._json(response, operation)
        items = body.get("bios") if isinstance(body, dict) else None
        return [dict(item) for item in items or () if isinstance(item, dict)]

    def list_firmware_components(self, uuid: str) -> list[dict[str, Any]]:
        """``GET /v1/nodes/{id}/firmware`` (Ironic ≥ 1.86): one dict per component."""
        operation = f"get firmware components of node {uuid}"
        path = _node_path(uuid, "firmware")
        response = self._call(operation, lambda: self._raw("GET", path, operation))
        body = self._json(response, operation)
        items = body.get("firmware") if isinstance(body, dict) else None
        return [dict(item) for item in items or () if isinstance(item, dict)]

    # -- virtual media and vendor passthru ----------------------------------------------
    # ``ironic.go GetDataImageStatus``/``AttachDataImage``/``DetachDataImage`` and
    # ``AddBMCEventSubscriptionForNode``/``RemoveBMCEventSubscriptionForNode``, on
    # gophercloud's ``nodes.GetVirtualMedia``/``AttachVirtualMedia``/``DetachVirtualMedia``
    # and ``CreateSubscription``/``DeleteSubscription`` requests.

    def get_virtual_media(self, uuid: str) -> list[dict[str, Any]]:
        """``GET /v1/nodes/{uuid}/vmedia`` (API 1.93): one entry per virtual device."""
        operation = f"get virtual media of node {uuid}"
        path = _node_path(uuid, "vmedia")
        response = self._call(operation, lambda: self._raw("GET", path, operation))
        body = self._json(response, operation)
        # Ironic answers {"vmedia": [...]}; a bare list is accepted as gophercloud does.
        entries = body.get("vmedia") if isinstance(body, dict) else body
        if not isinstance(entries, list):
            return []
        return [dict(entry) for entry in entries if isinstance(entry, dict)]

    def attach_virtual_media(self, uuid: str, image_url: str, device_type: str = "cdrom") -> None:
        """``POST /v1/nodes/{uuid}/vmedia`` (API 1.89); Ironic inserts it asynchronously."""
        check_action("attach virtual media")
        operation = f"attach virtual media to node {uuid}"
        path = _node_path(uuid, "vmedia")
        body = {"device_type": device_type, "image_url": image_url}
        self._call(operation, lambda: self._raw("POST", path, operation, json=body))
        self._written(uuid)

    def detach_virtual_media(self, uuid: str, device_types: Sequence[str] = ("cdrom",)) -> None:
        """``DELETE /v1/nodes/{uuid}/vmedia?device_types=...`` (API 1.89)."""
        check_action("detach virtual media")
        operation = f"detach virtual media from node {uuid}"
        path = _node_path(uuid, "vmedia")
        params = {"device_types": ",".join(device_types)}
        self._call(operation, lambda: self._raw("DELETE", path, operation, params=params))
        self._written(uuid)

    def vendor_passthru(
        self, uuid: str, method: str, http_method: str, body: Mapping[str, Any]
    ) -> Any:
        """``{http_method} /v1/nodes/{uuid}/vendor_passthru?method={method}``; the JSON answer.

        The body is never logged (``_raw`` turns keystoneauth's body logging off): event
        subscription headers carry credentials.
        """
        if http_method.upper() != "GET":
            check_action(f"vendor passthru {method}")
        operation = f"call vendor passthru {method} on node {uuid}"
        path = _node_path(uuid, "vendor_passthru")
        params = {"method": method}
        response = self._call(
            operation,
            lambda: self._raw(http_method, path, operation, json=dict(body), params=params),
        )
        if not response.content:
            return None
        return self._json(response, operation)

    # -- ports ---------------------------------------------------------------------------

    def find_ports(
        self, *, address: str | None = None, node_uuid: str | None = None
    ) -> list[PortView]:
        """Ports by MAC and/or node, always from Ironic (one request)."""
        params: dict[str, Any] = {"fields": _PORT_FIELDS}
        if address:
            params["address"] = address
        if node_uuid:
            params["node_uuid"] = node_uuid
        operation = "list ports"
        response = self._call(
            operation, lambda: self._raw("GET", "/ports", operation, params=params)
        )
        body = self._json(response, operation)
        return [
            _port_view(item) for item in (body.get("ports", []) if isinstance(body, dict) else [])
        ]

    def list_ports(self, node_uuid: str, *, fresh: bool = False) -> list[PortView]:
        """The node's ports (``register.go ensurePort`` lists them every registration).

        Served by the node cache when one is attached and can answer (see
        :meth:`NodeCache.ports`), unless ``fresh``; otherwise one request to Ironic.
        """
        if self._cache is not None and not fresh:
            cached = self._cache.ports(node_uuid)
            if cached is not None:
                return cached
        mark = self._mark()
        ports = self.find_ports(node_uuid=node_uuid)
        if self._cache is not None and mark is not None:
            self._cache.observed(mark, ports_of=node_uuid, ports=ports)
        return ports

    def list_all_ports(self) -> list[PortView]:
        """Every port (paged, only the :class:`PortView` fields): the node cache's port list."""
        operation = "list ports"
        ports: list[PortView] = []
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"fields": _PORT_FIELDS, "limit": _PORT_LIST_LIMIT}
            if marker is not None:
                params["marker"] = marker
            body = self._json(self._list_page(operation, "/ports", params), operation)
            if not isinstance(body, dict):
                return ports
            page = body.get("ports") or []
            ports.extend(_port_view(item) for item in page)
            if not body.get("next") or not page:
                return ports
            marker = ports[-1].uuid

    def create_port(
        self, node_uuid: str, mac: str, pxe_enabled: bool = True, *, converges: bool = False
    ) -> PortView:
        """Create a port; on a retried POST, an existing port for this node/MAC is the result.

        An existing port with this MAC on *another* node stays a :class:`Conflict`.
        ``converges``: registration's ports, which every pass converges on
        (:func:`check_action`).
        """
        check_action("create port", converges=converges, observed=False)
        operation = f"create port {mac} on node {node_uuid}"

        def create() -> PortView:
            port = self._baremetal().create_port(
                node_uuid=node_uuid, address=mac, is_pxe_enabled=pxe_enabled
            )
            return PortView(
                uuid=str(port.id),
                address=str(port.address),
                node_uuid=port.node_id,
                pxe_enabled=port.is_pxe_enabled,
            )

        def recover() -> PortView | None:
            for port in self.find_ports(address=mac):
                if port.node_uuid == node_uuid:
                    return port
            return None

        try:
            result: PortView = self._call(operation, create, recover_conflict=recover)
        except BaseException:
            # Even a failed POST may have created the port: the next read must not be
            # answered by a poll that started before it.
            self._written(node_uuid)
            raise
        if self._cache is not None:
            # Served with the node's ports when bmo knew them right before: never hidden.
            self._cache.port_created(node_uuid, result)
        return result
