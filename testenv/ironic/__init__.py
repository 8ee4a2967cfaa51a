"""A real Ironic (and sushy-tools' Redfish emulator) on 127.0.0.1, for tests and the sandbox.

* :mod:`~testenv.ironic.install`: the Ironic virtualenv from PyPI, trusted through a stamp.
* :mod:`~testenv.ironic.config`: the generated ``ironic.conf`` (:class:`LocalIronicConfig`).
* :mod:`~testenv.ironic.process`: start/stop/wipe one Ironic; ports, spawning, stopping.
* :mod:`~testenv.ironic.sushy`: the sushy-tools emulator and the systems it serves.
* ``python -m testenv.ironic``: the same by hand (``install``, ``start``, ``sushy start`` ...).

Only the standard library is imported here, so this runs from bmo's ``.venv``; Ironic itself
runs as a subprocess of its own venv.
"""

from __future__ import annotations

from testenv.ironic.config import AUTH_STRATEGIES, LOOPBACK, LocalIronicConfig, render_ironic_conf
from testenv.ironic.errors import (
    InstallError,
    IronicLocalError,
    NotInstalledError,
    PortInUseError,
    StartError,
    StopError,
)
from testenv.ironic.install import (
    VENV_DIR,
    ensure_installed,
    htpasswd_line,
    is_installed,
    require_installed,
    venv_bin,
)
from testenv.ironic.process import (
    IronicProcess,
    free_port,
    http_get,
    process_matches,
    spawn,
    terminate,
)
from testenv.ironic.sushy import FakeSystem, SushyEmulator, numbered_systems, render_sushy_conf

__all__ = [
    "AUTH_STRATEGIES",
    "LOOPBACK",
    "VENV_DIR",
    "FakeSystem",
    "InstallError",
    "IronicLocalError",
    "IronicProcess",
    "LocalIronicConfig",
    "NotInstalledError",
    "PortInUseError",
    "StartError",
    "StopError",
    "SushyEmulator",
    "ensure_installed",
    "free_port",
    "htpasswd_line",
    "http_get",
    "is_installed",
    "numbered_systems",
    "process_matches",
    "render_ironic_conf",
    "render_sushy_conf",
    "require_installed",
    "spawn",
    "terminate",
    "venv_bin",
]
