"""The ``bmo`` command line: one entry point, one module per subcommand.

Each subcommand lives in ``bmo.commands.<name>`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (taking the parsed namespace, returning an exit
code). Keeping the wiring here and the behaviour there lets subcommands grow without
this file changing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bmo import __version__
from bmo.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bmo",
        description="Manage bare-metal servers declaratively: BareMetalHost objects driven "
        "through OpenStack Ironic (a Python peer of the Metal3 baremetal-operator).",
    )
    parser.add_argument("--version", action="version", version=f"bmo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    result: int = func(args)
    return result
