"""The one exception tree for BMC addresses, drivers and credentials.

``str(error)`` is the Metal3 operator's message word for word, because webhook responses, events
and ``status.errorMessage`` carry it and users (and tests written against the Go operator) match
on it. Everything derives from ``ValueError`` so callers that only care "the user gave us bad
input" can catch that.
"""

from __future__ import annotations

__all__ = [
    "BMCAddressError",
    "BMCError",
    "CredentialsError",
    "DevelopmentDriverDisabledError",
    "UnknownBMCTypeError",
]


class BMCError(ValueError):
    """Base class: the BMC address, its type or its credentials are unusable."""


class BMCAddressError(BMCError):
    """The address is empty or does not parse as a Go ``net/url`` URL with a valid host."""


class UnknownBMCTypeError(BMCError):
    """The address parses but its scheme names no driver bmo supports."""

    def __init__(self, bmc_type: str, address: str, message: str | None = None) -> None:
        self.bmc_type = bmc_type
        self.address = address
        super().__init__(message or f"Unknown BMC type '{bmc_type}' for address {address}")


class DevelopmentDriverDisabledError(UnknownBMCTypeError):
    """A development-only scheme was used while development drivers are off.

    A subclass of ``UnknownBMCTypeError`` so that everything which treats an unknown type as
    "the user must fix the host; do not retry" treats this the same way.
    """

    def __init__(self, bmc_type: str, address: str, enable_hint: str) -> None:
        super().__init__(
            bmc_type,
            address,
            f"BMC type '{bmc_type}' is for development only: {enable_hint} to use it",
        )


class CredentialsError(BMCError):
    """The BMC credentials lack a username or a password.

    ``detail`` is the bare reason (``Missing BMC connection detail 'username' in
    credentials``); ``str()`` is the full upstream text with its ``Validation error with BMC
    credentials:`` prefix.
    """

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"Validation error with BMC credentials: {detail}")
