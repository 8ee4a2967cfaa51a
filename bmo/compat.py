"""``baremetal-operator``: the Go operator's command line, for drop-in image swaps.

A Deployment written for the Go operator runs ``/baremetal-operator -enable-leader-election
-hostclaims …``. Go's ``flag`` package takes one or two dashes and ``-flag=false`` for
booleans; argparse takes neither, so this entry point rewrites the arguments into ``bmo
run``'s and then runs it. Flags of features bmo does not have are dropped with a warning on
stderr rather than failing the pod, because the shipped upstream manifests pass them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final

from bmo.cli import main as bmo_main

#: Go boolean flags bmo understands; ``-x=false`` simply leaves them out.
BOOLEAN_FLAGS: Final = frozenset(
    {"enable-leader-election", "dev", "development-drivers", "build-preprov-image"}
)

#: Go flags (upstream ``main.go``) of features bmo does not implement: accepted and ignored.
IGNORED_FLAGS: Final = frozenset({"hostclaims"})
IGNORED_BOOLEANS: Final = frozenset({"hostclaims"})


def translate(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(bmo run arguments, warnings)`` for a Go-style argument list."""
    out: list[str] = []
    warnings: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            out.append(arg)
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        if name.startswith("zap-") or name in IGNORED_FLAGS:
            if not sep and name not in IGNORED_BOOLEANS and not name.startswith("zap-devel"):
                i += 1  # the value is the next argument
            warnings.append(f"baremetal-operator: ignoring -{name}: not supported by bmo")
            continue
        if name in BOOLEAN_FLAGS and sep:
            if value.lower() in ("true", "1", "t"):
                out.append(f"--{name}")
            elif value.lower() not in ("false", "0", "f"):
                out.append(arg)  # let bmo's parser report the bad value
            continue
        out.append(f"--{name}{sep}{value}")
    return out, warnings


def main(argv: Sequence[str] | None = None) -> int:
    args, warnings = translate(sys.argv[1:] if argv is None else argv)
    for line in warnings:
        print(line, file=sys.stderr)
    return bmo_main(["run", *args])
