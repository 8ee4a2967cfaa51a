"""The provisioner interface: how the host state machine drives a provisioning backend.

Ironic (``bmo.ironic``) is one implementation; :mod:`bmo.provisioner.fixture` is an
in-memory one for tests and benchmarks. This package knows the API types and nothing else.
"""

from __future__ import annotations

from bmo.provisioner.errors import (
    FirmwareUpdateUnsupported,
    HostLocked,
    NeedsPreprovisioningImage,
    NeedsRegistration,
    ProvisionerBusy,
    ProvisionerError,
    ProvisionerNotReady,
)
from bmo.provisioner.interface import HostWatcher, Provisioner, ProvisionerFactory
from bmo.provisioner.types import (
    AdoptData,
    EventPublisher,
    FirmwareComponentStatus,
    FirmwareComponentUpdate,
    FirmwareSettingsResult,
    HardwareState,
    Health,
    HostConfigData,
    HostData,
    InspectData,
    ManagementAccessData,
    PrepareData,
    PreprovisioningImage,
    ProvisionData,
    ProvisionResult,
    ServicingData,
    build_host_data,
)

__all__ = [
    "AdoptData",
    "EventPublisher",
    "FirmwareComponentStatus",
    "FirmwareComponentUpdate",
    "FirmwareSettingsResult",
    "FirmwareUpdateUnsupported",
    "HardwareState",
    "Health",
    "HostConfigData",
    "HostData",
    "HostLocked",
    "HostWatcher",
    "InspectData",
    "ManagementAccessData",
    "NeedsPreprovisioningImage",
    "NeedsRegistration",
    "PrepareData",
    "PreprovisioningImage",
    "ProvisionData",
    "ProvisionResult",
    "Provisioner",
    "ProvisionerBusy",
    "ProvisionerError",
    "ProvisionerFactory",
    "ProvisionerNotReady",
    "ServicingData",
    "build_host_data",
]
