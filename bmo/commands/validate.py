"""``bmo validate FILE...``: offline checks of BareMetalHost manifests (placeholder)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("validate", help="check BareMetalHost manifests offline")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise SystemExit("bmo validate: not implemented yet")
