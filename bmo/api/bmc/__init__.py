"""BMC addresses, drivers and credentials, with the Metal3 operator's rules and messages.

``address`` parses (Go ``net/url`` semantics, via ``bmo.api.golang.url``), ``drivers`` maps
schemes to Ironic drivers and ``driver_info``, ``credentials`` holds the Secret's values,
``errors`` is the exception tree. Import from here; the submodules are an implementation detail.
"""

from __future__ import annotations

from bmo.api.bmc.address import ParsedAddress, parse_address, redact_address
from bmo.api.bmc.credentials import Credentials
from bmo.api.bmc.drivers import (
    DEVELOPMENT_DRIVERS_HINT,
    REMOVED_TYPES,
    AccessDetails,
    DriverInfoStyle,
    DriverSpec,
    access_details,
    driver_spec,
    supported_types,
)
from bmo.api.bmc.errors import (
    BMCAddressError,
    BMCError,
    CredentialsError,
    DevelopmentDriverDisabledError,
    UnknownBMCTypeError,
)

__all__ = [
    "DEVELOPMENT_DRIVERS_HINT",
    "REMOVED_TYPES",
    "AccessDetails",
    "BMCAddressError",
    "BMCError",
    "Credentials",
    "CredentialsError",
    "DevelopmentDriverDisabledError",
    "DriverInfoStyle",
    "DriverSpec",
    "ParsedAddress",
    "UnknownBMCTypeError",
    "access_details",
    "driver_spec",
    "parse_address",
    "redact_address",
    "supported_types",
]
