"""The local sandbox: bmo driving a real Ironic, with hosts you can watch in ``kubectl``.

``python -m hack.sandbox demo`` (what ``./hack/demo.sh`` runs) starts, all on 127.0.0.1:

* bmo's Kubernetes API emulator (``python -m testenv.kubeapi``, CRDs from ``config/crd/bases``),
* a real Ironic (``testenv/ironic``, HTTP basic auth, an empty database every run),
* sushy-tools' Redfish emulator with one fake system per Redfish host,
* the fake agent (``testenv/fake_agent``), which answers agent inspection with an inventory,
* ``bmo run`` as a subprocess,

then applies sample BareMetalHosts and their Secrets with ``kubectl apply``, shows them reach
``available``, sets an image on the ``fake://`` hosts and shows them reach ``provisioned``.
``up`` does the same without the walk-through; ``down`` stops a sandbox left behind.

Every process is started in its own session and stopped, group and all, on exit, Ctrl-C or
SIGTERM; the pids are recorded in ``<state-dir>/sandbox.json`` so a sandbox killed with
SIGKILL is cleaned up by the next ``up``/``demo`` or by ``down``. Everything lives in the
state directory (default ``.cache/sandbox``): logs, manifests, Ironic's database.

Modules: :mod:`~hack.sandbox.hosts` (the sample hosts and manifests),
:mod:`~hack.sandbox.processes` (children, the state dir and its lock),
:mod:`~hack.sandbox.session` (one run), ``__main__`` (the command line).
"""

from __future__ import annotations

from hack.sandbox.errors import (
    AlreadyRunningError,
    ChildDiedError,
    Interrupted,
    PhaseTimeoutError,
    SandboxError,
)
from hack.sandbox.hosts import HostSpec, render_manifests, sample_hosts, write_demo_image
from hack.sandbox.session import Options, Sandbox

__all__ = [
    "AlreadyRunningError",
    "ChildDiedError",
    "HostSpec",
    "Interrupted",
    "Options",
    "PhaseTimeoutError",
    "Sandbox",
    "SandboxError",
    "render_manifests",
    "sample_hosts",
    "write_demo_image",
]
