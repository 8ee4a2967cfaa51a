"""The provisioner seam: coarse, idempotent verbs over one host, and their factory.

Mirrors upstream ``pkg/provisioner/provisioner.go`` (``Provisioner``, ``Factory``,
``Result``; here ``ProvisionResult``). The state machine calls these on every reconcile and
decides from the ``ProvisionResult`` what to do next; a provisioner never sees Kubernetes and
never keeps per-reconcile state the next call needs (that lives in the backend, Ironic's
node, or the fixture's registry). Every method may be called repeatedly for the same
operation: while it returns ``dirty`` the operation is in progress.

Each ``restart_on_failure`` argument implements "fail once, then retry": it is true when
the host's recorded error is the one this operation produces, so a failure the backend
still reports is re-attempted instead of being recorded again.

Transient trouble raises :class:`bmo.provisioner.errors.ProvisionerError` (or a subclass);
anything else escaping a provisioner is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from bmo.api.hardware import HardwareDetails
from bmo.provisioner.types import (
    AdoptData,
    EventPublisher,
    FirmwareComponentStatus,
    FirmwareSettingsResult,
    HardwareState,
    HostData,
    InspectData,
    ManagementAccessData,
    PrepareData,
    ProvisionData,
    ProvisionResult,
    ServicingData,
)

__all__ = ["HostWatcher", "Provisioner", "ProvisionerFactory"]


@runtime_checkable
class Provisioner(Protocol):
    def register(
        self, data: ManagementAccessData, credentials_changed: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, str]:
        """Make sure the backend knows the host with current BMC details; returns its id.

        Runs on every reconcile: it re-creates a node the backend lost and pushes changed
        credentials (``credentials_changed``) or BMC addresses.
        """
        ...

    def preprovisioning_image_formats(self) -> tuple[str, ...] | None:
        """The formats a PreprovisioningImage for this host may have, most preferred
        first; ``None`` when no image is to be built (upstream ``Provisioner
        PreprovisioningImageFormats``). An empty tuple means none would do."""
        ...

    def inspect_hardware(
        self, data: InspectData, restart_on_failure: bool, refresh: bool, force_reboot: bool
    ) -> tuple[ProvisionResult, bool, HardwareDetails | None]:
        """Run or poll inspection: ``(result, started, details)``.

        ``started`` is true on the call that (re)started inspection; ``details`` arrive once
        inspection is complete. ``refresh`` re-inspects a host already inspected;
        ``force_reboot`` aborts a wait so a new ramdisk is booted.
        """
        ...

    def update_hardware_state(self) -> HardwareState: ...

    def adopt(self, data: AdoptData, restart_on_failure: bool) -> ProvisionResult:
        """Bring an already provisioned host under management without touching its disk."""
        ...

    def prepare(
        self, data: PrepareData, unprepared: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, bool]:
        """Apply RAID/BIOS/firmware via manual cleaning: ``(result, started)``."""
        ...

    def provision(self, data: ProvisionData, force_reboot: bool) -> ProvisionResult: ...

    def deprovision(
        self, restart_on_failure: bool, automated_cleaning_mode: str
    ) -> ProvisionResult: ...

    def delete(self) -> ProvisionResult:
        """Remove the host from the backend (the host object is going away)."""
        ...

    def detach(self, force: bool) -> ProvisionResult:
        """Remove the host from the backend without disturbing the running machine."""
        ...

    def power_on(self, force: bool) -> ProvisionResult: ...

    def power_off(self, reboot_mode: str, force: bool) -> ProvisionResult:
        """``reboot_mode`` is ``soft`` or ``hard``; ``force`` retries past a recorded error."""
        ...

    def has_capacity(self) -> bool:
        """Whether a (de)provisioning slot is free for this host (``PROVISIONING_LIMIT``)."""
        ...

    def get_health(self) -> str:
        """One of :class:`bmo.provisioner.types.Health`."""
        ...

    def has_power_failure(self) -> bool: ...

    def get_firmware_settings(self, include_schema: bool) -> FirmwareSettingsResult:
        """The host's BIOS settings (and registry with ``include_schema``), as the backend
        reports them (``ironic.go GetFirmwareSettings``)."""
        ...

    def get_firmware_components(self) -> tuple[FirmwareComponentStatus, ...]:
        """The ``bios``/``bmc``/``nic:*`` components with their versions
        (``ironic.go GetFirmwareComponents``).

        Raises :class:`bmo.provisioner.errors.FirmwareUpdateUnsupported` when the host's
        driver cannot report or update firmware.
        """
        ...

    def service(
        self, data: ServicingData, unprepared: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, bool]:
        """Apply BIOS settings/firmware updates to a provisioned host: ``(result, started)``.

        ``unprepared`` says there are changes to apply; ``started`` is true on the call
        that started (or aborted) servicing (``servicing.go Service``).
        """

    def get_data_image_status(self) -> bool:
        """Whether an image is inserted in the host's virtual CD (``GetDataImageStatus``).

        Raises :class:`HostLocked` while the backend is busy with the host (retry, record
        nothing) and :class:`ProvisionerError` when the state cannot be read.
        """
        ...

    def attach_data_image(self, url: str) -> None:
        """Insert the ISO at ``url`` as a virtual CD; raises ``ProvisionerError``."""
        ...

    def detach_data_image(self) -> None:
        """Eject the virtual CD; raises ``ProvisionerError``."""
        ...

    def add_bmc_event_subscription(
        self, destination: str, context: str, http_headers: Sequence[Mapping[str, str]]
    ) -> str:
        """Subscribe ``destination`` to the BMC's Redfish events; returns the subscription
        id. ``http_headers`` are credentials more often than not: never log them."""
        ...

    def remove_bmc_event_subscription(self, subscription_id: str) -> None:
        """Delete the BMC event subscription ``subscription_id``."""
        ...


@runtime_checkable
class ProvisionerFactory(Protocol):
    def new(self, host_data: HostData, publish: EventPublisher) -> Provisioner:
        """A provisioner for one host for one reconcile.

        Raises :class:`bmo.provisioner.errors.ProvisionerNotReady` while the backend cannot
        take requests.
        """
        ...


@runtime_checkable
class HostWatcher(Protocol):
    """A factory whose backend can tell when a host's machine changed on its own (Ironic's
    node cache): the controller registers a wake-up instead of waiting for a requeue delay.
    Upstream has no equivalent (it polls each node on every reconcile)."""

    def watch_hosts(self, wake: Callable[[str, str], None]) -> bool:
        """Call ``wake(namespace, name)`` whenever that host's machine changed; returns
        whether it will (``False``: this backend cannot tell, hosts keep polling)."""
        ...

    def watch_capacity(self, freed: Callable[[int], None]) -> None:
        """Call ``freed(n)`` whenever ``n`` > 0 (de)provisioning slots may be free, so as
        many hosts waiting for one (operational status ``delayed``) can try now instead of
        after their 1-2 minute backoff. Waking more would only have them read the count and
        go back to waiting."""
        ...
