"""What an ironic-python-agent ramdisk says to Ironic, without a ramdisk.

* :mod:`~testenv.fake_agent.inventory`: the machine a ramdisk describes
  (:func:`hardware_for`), its inventory (:func:`build_inventory`) and the post Ironic waits
  for in ``inspect wait`` (:func:`post_inventory`).
* :mod:`~testenv.fake_agent.agent`: :class:`FakeAgent`, a fleet of ramdisks answering every
  agent inspection of a ``fake-hardware`` node.
* ``python -m testenv.fake_agent --ironic-url URL`` runs the fleet standalone.

Standard library only, so it runs from bmo's venv, from tests and from the sandbox. Logs go to
the ``testenv.fake_agent`` logger.
"""

from __future__ import annotations

from testenv.fake_agent.agent import (
    MAX_ATTEMPTS,
    PREFERRED_API_VERSION,
    FakeAgent,
    InspectCallback,
    Inspection,
    read_auth_dir,
)
from testenv.fake_agent.inventory import (
    CONTINUE_INSPECTION_VERSION,
    FakeAgentError,
    FakeDisk,
    FakeHardware,
    FakeNic,
    build_inventory,
    hardware_for,
    post_inventory,
)

__all__ = [
    "CONTINUE_INSPECTION_VERSION",
    "MAX_ATTEMPTS",
    "PREFERRED_API_VERSION",
    "FakeAgent",
    "FakeAgentError",
    "FakeDisk",
    "FakeHardware",
    "FakeNic",
    "InspectCallback",
    "Inspection",
    "build_inventory",
    "hardware_for",
    "post_inventory",
    "read_auth_dir",
]
