"""``python -m hack.sandbox [demo|up|down]``: run a sandbox until done or interrupted.

The first SIGINT/SIGTERM/SIGHUP unwinds the run wherever it is and stops everything the
sandbox started; ``down`` stops a sandbox running elsewhere, then whatever a killed one left.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from hack.sandbox.errors import AlreadyRunningError, Interrupted, SandboxError
from hack.sandbox.processes import DEFAULT_STATE_DIR, read_state, state_lock, stop_leftovers
from hack.sandbox.session import Options, Sandbox
from testenv.ironic import IronicLocalError, is_installed, process_matches


class _Signals:
    """The first SIGINT/SIGTERM/SIGHUP raises :class:`Interrupted` wherever the main thread is
    (a blocking start-up wait included); later ones are ignored while everything stops."""

    def __init__(self) -> None:
        self.stopping = False
        self.received: int | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum
        if not self.stopping:
            self.stopping = True
            raise Interrupted(signum)


def run_sandbox(options: Options, mode: str, out: IO[str] = sys.stdout) -> int:
    if not is_installed():
        raise SandboxError(
            "Ironic is not installed in .cache/ironic: run ./hack/demo.sh "
            "(or `.venv/bin/python -m testenv.ironic install`)"
        )
    signals = _Signals()
    signals.install()
    state_dir = options.state_dir.resolve()
    with state_lock(state_dir):
        leftovers = stop_leftovers(state_dir)
        if leftovers:
            print("stopped leftovers of an earlier sandbox: " + ", ".join(leftovers), file=out)
        sandbox = Sandbox(options, out)
        code = 0
        try:
            if mode == "demo":
                sandbox.demo()
                sandbox.summary()
            else:
                sandbox.up()
            sandbox.hints()
            if not options.exit_when_done:
                sandbox.wait_forever()
        except Interrupted as exc:
            sandbox.say(f"\n{exc.args[0]} received: stopping the sandbox")
            code = 0 if exc.signum != signal.SIGHUP else 1
        except (SandboxError, IronicLocalError) as exc:
            signals.stopping = True
            sandbox.say(f"\nerror: {exc}")
            code = 1
        except Exception:
            signals.stopping = True
            import traceback

            sandbox.say(f"\nunexpected error:\n{traceback.format_exc()}")
            sandbox.say("Logs: " + ", ".join(str(p) for p in sandbox.log_files()))
            code = 1
        finally:
            signals.stopping = True
            sandbox.stop()
            sandbox.say("sandbox stopped")
    return code


def run_down(state_dir: Path, out: IO[str] = sys.stdout) -> int:
    """Stop a sandbox running from ``state_dir`` (politely, through its own cleanup), then
    anything a killed one left behind."""
    state_dir = state_dir.resolve()
    owner = int(read_state(state_dir).get("pid") or 0)
    if owner and owner != os.getpid() and process_matches(owner, "hack.sandbox"):
        print(f"stopping the sandbox (pid {owner})", file=out)
        os.kill(owner, signal.SIGTERM)
    end = time.monotonic() + 60.0
    while True:
        try:
            with state_lock(state_dir):
                stopped = stop_leftovers(state_dir)
                break
        except AlreadyRunningError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
    for item in stopped:
        print(f"stopped {item}", file=out)
    print("sandbox is down", file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hack.sandbox",
        description="bmo's local sandbox: Kubernetes API emulator, real Ironic, sushy-tools, "
        "fake agent and bmo run, all on 127.0.0.1.",
    )
    parser.add_argument(
        "mode",
        nargs="?",
        default="demo",
        choices=("up", "demo", "down"),
        help="demo: walk hosts to available and provisioned (default); up: start and apply "
        "the hosts only; down: stop a sandbox left running",
    )
    parser.add_argument(
        "--hosts", type=int, default=3, help="fake:// hosts (the last is externally provisioned)"
    )
    parser.add_argument(
        "--redfish-hosts", type=int, default=1, help="Redfish virtual-media hosts on sushy-tools"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="logs, manifests, Ironic DB"
    )
    parser.add_argument(
        "--phase-timeout", type=float, default=None, help="seconds per phase (default: scaled)"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--keep-running",
        dest="exit_when_done",
        action="store_false",
        help="serve until Ctrl-C after the walk-through (default)",
    )
    group.add_argument(
        "--exit",
        dest="exit_when_done",
        action="store_true",
        help="stop everything and exit 0 once the walk-through succeeded",
    )
    parser.set_defaults(exit_when_done=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.hosts < 1 or args.redfish_hosts < 0:
        build_parser().error("--hosts must be at least 1 and --redfish-hosts at least 0")
    try:
        if args.mode == "down":
            return run_down(args.state_dir)
        options = Options(
            state_dir=args.state_dir,
            fake_hosts=args.hosts,
            redfish_hosts=args.redfish_hosts,
            phase_timeout=args.phase_timeout,
            exit_when_done=args.exit_when_done,
        )
        return run_sandbox(options, args.mode)
    except Interrupted:
        print("interrupted", file=sys.stderr)
        return 130
    except (SandboxError, IronicLocalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
