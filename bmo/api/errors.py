"""The bmo.api exception tree: one root, precise subclasses."""

from __future__ import annotations


class APIError(Exception):
    """Root of every error raised by :mod:`bmo.api`."""


class DecodeError(APIError, ValueError):
    """A document does not have the shape of the type it is decoded into.

    ``path`` names the offending field (``spec.bmc.address``) so the message can point the
    user at the fix; the value itself is not repeated (it may be a secret).
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class SchemaLoadError(APIError):
    """The CRD shipped inside the package cannot be read (a packaging bug)."""
