"""The Ironic provisioner: the ``Provisioner`` verbs as Ironic node operations.

Mirrors upstream ``pkg/provisioner/ironic/``, split by verb the same way: :mod:`.core` (the
shared half of ``ironic.go`` and ``result.go``), :mod:`.register` (``register.go``),
:mod:`.inspection` (``inspecthardware.go``), :mod:`.prepare`, :mod:`.provision` (provision,
adopt, deprovision), :mod:`.power`, :mod:`.delete` (delete, detach), :mod:`.capacity`
(capacity, health, power failure), :mod:`.firmware` (BIOS settings, firmware components,
``servicing.go``), :mod:`.vmedia` (DataImage virtual media) and :mod:`.events` (BMC event
subscriptions). :class:`IronicProvisioner` composes them;
:class:`IronicProvisionerFactory` (``factory.go``) checks Ironic is ready first
(``dependencies.go TryInit``).

Each verb reads the node once, then acts on its ``provision_state`` following the Go
operator's per-state tables, and returns at most one Ironic action per call: the state
machine calls again (after ``requeue_after``) and the next call sees where Ironic got to.
Nothing is remembered between reconciles except what Ironic stores, which is why
``register`` runs every time and re-creates a node Ironic lost (the client's node cache and
BIOS settings cache only save requests: they answer for what Ironic stores, and stand aside
once Ironic shows a change).

Error mapping, the seam's contract (:mod:`bmo.provisioner.errors`):

* an Ironic *verdict* about the host (deploy failed, inspection failed, bad BMC address...)
  is a ``ProvisionResult(error_message=...)``, recorded by the state machine;
* Ironic being busy with the node (409 NodeLocked or another 409) raises
  :class:`HostLocked`/:class:`ProvisionerBusy` with a 3 s retry;
* Ironic unreachable or not ready raises :class:`ProvisionerNotReady`; other trouble
  talking to it (5xx, timeouts, rejected requests) raises :class:`ProvisionerError`;
* no node where one is needed raises :class:`NeedsRegistration`.

Messages never carry the BMC password or user data: Ironic's own texts are scrubbed of the
password before they leave this package, and request bodies are never logged.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bmo.ironic.capacity import free_slots
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.errors import NotReady
from bmo.ironic.nodecache import NodeChange
from bmo.ironic.provisioner.capacity import CapacityVerbs
from bmo.ironic.provisioner.core import (
    DELETE_MAINTENANCE_REASON,
    LONG_DELAY,
    SHORT_DELAY,
    node_name,
)
from bmo.ironic.provisioner.delete import DeleteVerbs
from bmo.ironic.provisioner.events import EventSubscriptionVerbs
from bmo.ironic.provisioner.firmware import FirmwareVerbs
from bmo.ironic.provisioner.inspection import InspectionVerbs
from bmo.ironic.provisioner.power import PowerVerbs
from bmo.ironic.provisioner.prepare import PrepareVerbs
from bmo.ironic.provisioner.provision import ProvisionVerbs
from bmo.ironic.provisioner.register import RegistrationVerbs
from bmo.ironic.provisioner.vmedia import VirtualMediaVerbs
from bmo.provisioner.errors import ProvisionerNotReady
from bmo.provisioner.types import EventPublisher, HostData

__all__ = [
    "DELETE_MAINTENANCE_REASON",
    "LONG_DELAY",
    "SHORT_DELAY",
    "IronicProvisioner",
    "IronicProvisionerFactory",
    "node_name",
]


class IronicProvisioner(
    RegistrationVerbs,
    InspectionVerbs,
    PrepareVerbs,
    ProvisionVerbs,
    PowerVerbs,
    DeleteVerbs,
    CapacityVerbs,
    FirmwareVerbs,
    VirtualMediaVerbs,
    EventSubscriptionVerbs,
):
    """One host's provisioner for one reconcile (see the package docstring).

    The verbs are mixins over :class:`bmo.ironic.provisioner.core.ProvisionerCore`, as the
    Go ``ironicProvisioner`` methods are spread over files; none calls another's helpers.
    """


class IronicProvisionerFactory:
    """Builds one :class:`IronicProvisioner` per host per reconcile over a shared client.

    ``preprov_image_builder`` says a PreprovisioningImage builder is running: registration
    then waits for a built image instead of using ``DEPLOY_*`` URLs (``ironic.go
    configureNode``).
    """

    def __init__(
        self,
        client: IronicClient,
        config: IronicConfig,
        *,
        allow_development: bool = False,
        rng: Callable[[], float] = random.random,
        preprov_image_builder: bool = False,
        node_cache: bool = False,
    ) -> None:
        self._client = client
        # ``node_cache``: serve node reads from one periodic list (bmo.ironic.nodecache),
        # started with the first provisioner this factory builds.
        self._cache = client.node_cache() if node_cache else None
        self._config = config
        self._allow_development = allow_development
        self._rng = rng
        self._preprov_image_builder = preprov_image_builder
        self._watched = False

    def watch_hosts(self, wake: Callable[[str, str], None]) -> bool:
        """Call ``wake(namespace, name)`` when the node of that host changes in Ironic in a
        way the host may act on (:attr:`NodeChange.actionable`: it comes to rest, its power,
        maintenance, fault or last error changes, it appears or vanishes). Without the node
        cache nothing will: returns ``False``."""
        if self._cache is None:
            return False

        def on_change(change: NodeChange) -> None:
            if not change.actionable:
                return
            namespace, sep, name = (change.name or "").partition("~")
            if sep and namespace and name:
                wake(namespace, name)

        self._cache.add_listener(on_change)
        self._watched = True
        return True

    def watch_capacity(self, freed: Callable[[int], None]) -> None:
        """After every node-cache poll, call ``freed(n)`` with the ``PROVISIONING_LIMIT``
        slots free by the cache's count (when any are). A no-op without the node cache.

        Every poll rather than only when a node leaves a busy state: a node may finish
        cleaning between two polls, and a slot counted for a request the cache had not yet
        seen come free without any node leaving a busy state.
        """
        cache = self._cache
        if cache is None:
            return
        limit = self._config.provisioning_limit

        def after_poll() -> None:
            free = free_slots(cache, limit)
            if free > 0:
                freed(free)

        cache.add_poll_listener(after_poll)

    def close(self) -> None:
        """Stop the node cache's poller (tests; ``bmo run`` lets the daemon thread end)."""
        if self._cache is not None:
            self._cache.stop()

    def new(self, host_data: HostData, publish: EventPublisher) -> IronicProvisioner:
        try:
            self._client.ensure_ready()
        except NotReady as exc:
            raise ProvisionerNotReady(f"ironic is not ready: {exc}") from None
        if self._cache is not None:
            self._cache.start()
        return IronicProvisioner(
            self._client,
            self._config,
            host_data,
            publish,
            allow_development=self._allow_development,
            rng=self._rng,
            preprov_image_builder=self._preprov_image_builder,
            watched=self._watched,
        )
