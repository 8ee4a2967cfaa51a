"""What every verb of the Ironic provisioner shares: the host, the node, and how to act on it.

Mirrors the shared half of upstream ``pkg/provisioner/ironic/ironic.go`` (the
``ironicProvisioner`` struct, ``bmcAccess``, ``getNode``, ``tryUpdateNode``,
``tryChangeNodeProvisionState``, ``changeNodeProvisionState``, ``setMaintenanceFlag``,
``ironicNodeName``) and ``pkg/provisioner/ironic/result.go`` (requeue delays with jitter,
``operationFailed``, ``transientError``). The verbs are mixins over :class:`ProvisionerCore`
in the sibling modules, one per upstream file or verb group.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from bmo.api.bmc import AccessDetails, access_details
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.errors import (
    Conflict,
    IronicError,
    IronicUnavailable,
    NodeLocked,
    NodeNotFound,
    NotReady,
    Unauthorized,
    is_unreachable,
)
from bmo.ironic.microversion import parse_version
from bmo.ironic.updates import NodeUpdateBuilder
from bmo.ironic.views import NodeView
from bmo.provisioner.errors import (
    HostLocked,
    NeedsRegistration,
    ProvisionerBusy,
    ProvisionerError,
    ProvisionerNotReady,
)
from bmo.provisioner.types import EventPublisher, HostData, ProvisionResult
from bmo.redaction import SecretScrubber

__all__ = [
    "DEFAULT_INSPECT_INTERFACE",
    "DELETE_MAINTENANCE_REASON",
    "LONG_DELAY",
    "SHORT_DELAY",
    "WATCHED_WAIT_DELAY",
    "ProvisionerCore",
    "node_name",
]

log = logging.getLogger("bmo.ironic.provisioner")

#: Requeue delays of the Go provisioner: state changes that settle fast, and slow ones.
SHORT_DELAY: Final = 3.0
LONG_DELAY: Final = 10.0
#: The wait for Ironic's own progress (verifying, inspecting, cleaning, deploying, a power
#: change) when the node cache wakes the host as soon as its node changes: the requeue is
#: then only a safety net. Upstream (no cache) polls every node every 3-10 s; with hundreds
#: of hosts waiting, those polls alone filled the queue, and each step of a host holding a
#: provisioning slot waited 30-50 s behind them.
WATCHED_WAIT_DELAY: Final = 60.0
DELETE_MAINTENANCE_REASON: Final = "forcing deletion in baremetal-operator"
#: Inspection runs the agent in the ramdisk unless the BMC inspects out of band
#: (``register.go defaultInspectInterface``).
DEFAULT_INSPECT_INTERFACE: Final = "agent"
_REDACTED: Final = "<redacted>"


def node_name(namespace: str, name: str) -> str:
    """The Ironic node name of a host (``ironic.go ironicNodeName``)."""
    return f"{namespace}~{name}"


class ProvisionerCore:
    """One host's provisioner for one reconcile: its data, its node, and the shared helpers.

    Nothing is remembered between reconciles except what Ironic stores; within one, the node
    last read or written is kept so ``get_health``/``has_power_failure`` need no extra GET.
    """

    def __init__(
        self,
        client: IronicClient,
        config: IronicConfig,
        host_data: HostData,
        publish: EventPublisher,
        *,
        allow_development: bool = False,
        rng: Callable[[], float] = random.random,
        preprov_image_builder: bool = False,
        watched: bool = False,
    ) -> None:
        self._client = client
        self._config = config
        self._host = host_data
        self._publish = publish
        self._allow_development = allow_development
        self._rng = rng
        self._preprov_image_builder = preprov_image_builder
        # The node cache wakes this host whenever its node changes (the factory's
        # ``watch_hosts``): waits for Ironic's progress stretch to WATCHED_WAIT_DELAY.
        self._watched = watched
        # Learned by register() within this reconcile when the node is (re)created.
        self._node_uuid = host_data.provisioner_id
        self._node: NodeView | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(node={self.node_name!r}, uuid={self._node_uuid!r})"

    @property
    def node_name(self) -> str:
        return node_name(self._host.namespace, self._host.name)

    # ------------------------------------------------------------------ results (result.go)

    def _delay(self, seconds: float) -> float:
        """Requeue delays get +0-25 % jitter so hosts started together spread out."""
        return seconds * (1.0 + 0.25 * self._rng()) if seconds > 0 else 0.0

    def _wait(self, seconds: float) -> ProvisionResult:
        """Come back after ``seconds`` to see Ironic's progress (0: at once). Every
        non-zero wait ends with the node at rest (a stable state, no target) or a change of
        its power, maintenance, fault or last error, which a watched host is woken for
        (:attr:`bmo.ironic.nodecache.NodeChange.actionable`)."""
        if self._watched and seconds > 0:
            seconds = max(seconds, WATCHED_WAIT_DELAY)
        return ProvisionResult(dirty=True, requeue_after=self._delay(seconds))

    def _retry_locked(self) -> ProvisionResult:
        """Ironic refused a change because the node is locked by a task or conflicted: try
        again soon. A lock's release changes nothing the node cache watches, so this wait
        never stretches."""
        return ProvisionResult(dirty=True, requeue_after=self._delay(SHORT_DELAY))

    def _scrub(self, text: str) -> str:
        """The BMC password out of a message, raw, JSON-escaped or URL-encoded (Ironic may
        echo driver_info back in ``last_error``)."""
        return SecretScrubber([self._host.bmc_credentials.password], marker=_REDACTED)(text)

    def _failed(self, message: str) -> ProvisionResult:
        return ProvisionResult(error_message=self._scrub(message))

    def _publish_event(self, reason: str, message: str) -> None:
        self._publish(reason, self._scrub(message))

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """Ironic client errors → the provisioner's transient signals."""
        try:
            yield
        except NodeLocked as exc:
            raise HostLocked(self._scrub(f"{what}: {exc}"), self._delay(SHORT_DELAY)) from exc
        except Conflict as exc:
            raise ProvisionerBusy(self._scrub(f"{what}: {exc}"), self._delay(SHORT_DELAY)) from exc
        except NodeNotFound as exc:
            raise NeedsRegistration(self._scrub(f"{what}: node not found ({exc})")) from exc
        except (NotReady, Unauthorized) as exc:
            raise ProvisionerNotReady(self._scrub(f"{what}: {exc}")) from exc
        except IronicUnavailable as exc:
            if is_unreachable(exc):
                raise ProvisionerNotReady(self._scrub(f"{what}: {exc}")) from exc
            raise ProvisionerError(self._scrub(f"{what}: {exc}")) from exc
        except IronicError as exc:
            raise ProvisionerError(self._scrub(f"{what}: {exc}")) from exc

    # ------------------------------------------------------------------ node access (ironic.go)

    def _access(self) -> AccessDetails:
        return access_details(
            self._host.bmc_address,
            self._host.disable_certificate_verification,
            allow_development=self._allow_development,
        )

    def _supports(self, version: tuple[int, int]) -> bool:
        return parse_version(self._client.microversion) >= version

    def _get_node(self) -> NodeView:
        """The host's node by UUID; :class:`NeedsRegistration` when there is none."""
        if not self._node_uuid:
            raise NeedsRegistration()
        node = self._client.get_node(self._node_uuid)
        if node is None:
            raise NeedsRegistration()
        self._node = node
        return node

    def _update(
        self, node: NodeView, builder: NodeUpdateBuilder, *, converges: bool = False
    ) -> NodeView:
        if not builder:
            return node
        updated = self._client.update_node(node.uuid, builder.ops, converges=converges)
        self._node = updated
        return updated

    def _try_change_state(
        self,
        node: NodeView,
        target: str,
        *,
        config_drive: Mapping[str, Any] | None = None,
        clean_steps: list[dict[str, Any]] | None = None,
        steps: list[dict[str, Any]] | None = None,
        service_steps: list[dict[str, Any]] | None = None,
    ) -> ProvisionResult | None:
        """Request ``target``; ``None`` when Ironic accepted it, else the result to return.

        A node in maintenance cannot change state: with a ``fault`` Ironic put it there and
        will clear it itself, so wait; without one it is cleared first
        (``ironic.go tryChangeNodeProvisionState``).
        """
        if node.maintenance:
            if node.fault:
                log.info("node %s has fault %r; waiting", node.uuid, node.fault)
                return self._wait(LONG_DELAY)
            log.info("node %s in maintenance; clearing it before %s", node.uuid, target)
            self._client.unset_maintenance(node.uuid)
            return self._wait(0)
        try:
            self._client.set_provision_state(
                node.uuid,
                target,
                config_drive=config_drive,
                clean_steps=clean_steps,
                deploy_steps=steps,
                service_steps=service_steps,
            )
        except (NodeLocked, Conflict):
            log.info("node %s busy; retrying %s later", node.uuid, target)
            return self._retry_locked()
        log.info("node %s: %s -> %s", node.uuid, node.provision_state, target)
        return None

    def _change_state(self, node: NodeView, target: str, **kwargs: Any) -> ProvisionResult:
        """Request ``target``, then come back at once to read where the node went
        (``ironic.go changeNodeProvisionState``: ``operationContinuing(0)``), unless the
        node cache wakes this host when the node comes to rest or fails: the read at once
        finds it busy, and costs a pass and a request per state change."""
        result = self._try_change_state(node, target, **kwargs)
        return result if result is not None else self._requested()

    def _requested(self) -> ProvisionResult:
        """What a provision-state request Ironic accepted returns (see :meth:`_change_state`)."""
        return self._wait(SHORT_DELAY if self._watched else 0)

    def _unset_maintenance(self, node: NodeView) -> ProvisionResult:
        self._client.unset_maintenance(node.uuid)
        return self._wait(0)
