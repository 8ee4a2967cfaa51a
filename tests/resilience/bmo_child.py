"""``bmo run``, with every requeue delay capped, as a process tests can SIGKILL.

The only difference from ``bmo run`` is the cap (``BMO_TEST_MAX_REQUEUE_AFTER`` seconds):
Ironic's 10 s polls would make twenty host lifecycles take many minutes. Everything else -
flag parsing, the Ironic provisioner factory, the manager, the signal handlers - is the
code ``bmo run`` runs.

``python -m tests.resilience.bmo_child --kube-url URL --namespace NS ...``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import threading
from collections.abc import Sequence

from bmo import settings as settings_mod
from bmo.commands.run import (
    build_api_client,
    build_provisioner_factory,
    install_signal_handlers,
)
from bmo.controllers.baremetalhost import setup as baremetalhost
from bmo.controllers.baremetalhost.reconciler import HostReconcilerSettings
from bmo.runtime.logconfig import configure_logging
from bmo.runtime.manager import Manager


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bmo_child")
    settings_mod.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = settings_mod.from_args(args, os.environ)
    configure_logging(dev=settings.logging.dev, level=settings.logging.level)
    cap = float(os.environ.get("BMO_TEST_MAX_REQUEUE_AFTER", "0.5"))
    host_settings = dataclasses.replace(
        HostReconcilerSettings.from_settings(settings), max_requeue_after=cap
    )
    api_client = build_api_client(settings, os.environ)
    manager = Manager(settings.manager, api_client, leader_election=settings.leader_election)
    baremetalhost.setup(
        manager,
        settings,
        provisioner_factory=build_provisioner_factory(settings),
        host_settings=host_settings,
    )
    stop = threading.Event()
    install_signal_handlers(stop)
    return manager.run(stop)


if __name__ == "__main__":
    sys.exit(main())
