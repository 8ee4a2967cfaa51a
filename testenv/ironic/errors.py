"""The exception tree of the local Ironic tooling: one base, one class per way it fails."""

from __future__ import annotations


class IronicLocalError(Exception):
    """Base of every error raised by the local Ironic tooling."""


class InstallError(IronicLocalError):
    """The Ironic virtualenv could not be created or populated."""


class NotInstalledError(IronicLocalError):
    """The Ironic virtualenv is missing; run ``python -m testenv.ironic install``."""


class StartError(IronicLocalError):
    """A process did not come up; the message carries the tail of its log."""


class PortInUseError(StartError):
    """A port Ironic or its http_root server was to listen on is taken."""

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


class StopError(IronicLocalError):
    """A process would not exit even after SIGKILL."""
