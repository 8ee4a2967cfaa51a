"""Subcommands of the ``bmo`` CLI; each module exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bmo.commands import explain, run, validate

Register = Callable[["argparse._SubParsersAction[Any]"], None]

COMMANDS: list[Register] = [validate.register, run.register, explain.register]
