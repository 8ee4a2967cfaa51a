"""Signals a provisioner raises instead of returning a ``ProvisionResult``.

A ``ProvisionResult`` with an ``error_message`` is a *recorded* failure (the host's status
shows it and the state machine backs off); an exception is *transient*: nothing about the
host is recorded and the reconcile is retried through the work queue. The subclasses name the
transient cases the state machine treats specially, so it can react to meaning rather than
to whatever library the implementation sits on.
"""

from __future__ import annotations

__all__ = [
    "FirmwareUpdateUnsupported",
    "HostLocked",
    "NeedsPreprovisioningImage",
    "NeedsRegistration",
    "ProvisionerBusy",
    "ProvisionerError",
    "ProvisionerNotReady",
]


class ProvisionerError(Exception):
    """A transient provisioner failure: retry the reconcile later, record nothing."""


class NeedsRegistration(ProvisionerError):
    """The backend has no record of the host (e.g. its database was wiped).

    Registration runs on every reconcile, so this normally heals itself; during deletion
    without credentials the state machine instead skips straight to ``deleting``.
    """

    def __init__(self, message: str = "Host not registered") -> None:
        super().__init__(message)


class ProvisionerBusy(ProvisionerError):
    """The backend is working on the host right now (an Ironic node lock, HTTP 409).

    Not a failure: the state machine just comes back after ``retry_after`` seconds.
    """

    def __init__(self, message: str = "host is busy", retry_after: float = 3.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HostLocked(ProvisionerBusy):
    """Ironic's node lock specifically (``reservation`` set, or a 409 NodeLocked)."""


class ProvisionerNotReady(ProvisionerError):
    """The backend cannot take requests yet (Ironic unreachable, too old, no drivers).

    The reconciler requeues after 30 s and counts ``metal3_provisioner_not_ready_total``
    instead of treating it as a reconcile error.
    """


class NeedsPreprovisioningImage(ProvisionerError):
    """Registration needs a preprovisioning image the host does not have (yet)."""


class FirmwareUpdateUnsupported(ProvisionerError):
    """The backend cannot list or update firmware components for this host (an Ironic node
    with the ``no-firmware`` interface): ``provisioner.go ErrFirmwareUpdateUnsupported``.

    Callers treat it as "no HostFirmwareComponents for this host", not as a failure.
    """
