"""What a sandbox's run can fail with; each message is what the user sees."""

from __future__ import annotations

import signal


class SandboxError(Exception):
    """Base of the sandbox's errors; the message is what the user sees."""


class AlreadyRunningError(SandboxError):
    """Another sandbox holds the state directory's lock."""


class PhaseTimeoutError(SandboxError):
    """A phase did not finish before its deadline; the message names the log files."""


class ChildDiedError(SandboxError):
    """A process the sandbox started exited on its own."""


class Interrupted(BaseException):
    """SIGINT/SIGTERM/SIGHUP arrived: unwind, stop everything, exit.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
