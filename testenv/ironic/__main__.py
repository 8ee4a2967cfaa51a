"""``python -m testenv.ironic``: install, start, stop, inspect and wipe the local Ironic by hand.

Subcommands: ``install`` (the cached venv), ``start``/``stop``/``status``/``env``/``wipe`` (one
Ironic per state dir) and ``sushy start|stop`` (the Redfish emulator). ``start`` and ``env``
print ``export`` lines for a shell.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from testenv.ironic.config import AUTH_STRATEGIES
from testenv.ironic.errors import IronicLocalError
from testenv.ironic.install import (
    DEFAULT_STATE_DIR,
    DEFAULT_SUSHY_STATE_DIR,
    VENV_DIR,
    ensure_installed,
)
from testenv.ironic.process import IronicProcess, http_get
from testenv.ironic.sushy import FakeSystem, SushyEmulator, numbered_systems


def _print_env(values: dict[str, str]) -> None:
    import shlex

    for key, value in values.items():
        print(f"export {key}={shlex.quote(value)}")


def _cmd_install(_: argparse.Namespace) -> int:
    elapsed = ensure_installed(quiet=True)
    print(f"ironic venv ready at {VENV_DIR} ({elapsed:.2f} s)", file=sys.stderr)
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    previous = IronicProcess.from_state_dir(args.state_dir)
    if previous.is_running():
        print(f"Ironic already running at {previous.url} (pid {previous.pid})", file=sys.stderr)
        _print_env(previous.env())
        return 0
    port = args.port if args.port is not None else previous.port
    http_port = args.http_port if args.http_port is not None else previous.http_port
    ironic = IronicProcess(
        state_dir=args.state_dir,
        port=port,
        auth=args.auth,
        username=args.username,
        password=args.password,
        extra_conf=args.extra_conf,
        http_port=http_port,
    )
    started = time.monotonic()
    ironic.start()
    print(
        f"Ironic ready at {ironic.url} (pid {ironic.pid}) in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    _print_env(ironic.env())
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    IronicProcess.from_state_dir(args.state_dir).stop()
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    ironic = IronicProcess.from_state_dir(args.state_dir)
    if not ironic.is_running():
        print(f"Ironic is not running (state dir {ironic.state_dir})")
        return 3
    try:
        status, _ = http_get(f"{ironic.url}/v1", timeout=2.0)
    except OSError as exc:
        print(f"Ironic pid {ironic.pid} is running but {ironic.url} does not answer: {exc}")
        return 1
    print(f"Ironic running at {ironic.url} (pid {ironic.pid}, auth {ironic.auth}, /v1 -> {status})")
    return 0 if status == 200 else 1


def _cmd_env(args: argparse.Namespace) -> int:
    ironic = IronicProcess.from_state_dir(args.state_dir)
    if not ironic.state_file.exists():
        print(f"no Ironic state in {ironic.state_dir}: run `start` first", file=sys.stderr)
        return 3
    values = ironic.env()
    sushy = SushyEmulator.from_state_dir(args.sushy_state_dir)
    if sushy.is_running():
        values["SUSHY_ENDPOINT"] = sushy.url
    _print_env(values)
    return 0


def _cmd_wipe(args: argparse.Namespace) -> int:
    IronicProcess.from_state_dir(args.state_dir).wipe_database()
    print("Ironic stopped and its database deleted; `start` recreates the schema", file=sys.stderr)
    return 0


def _cmd_sushy(args: argparse.Namespace) -> int:
    if args.action == "stop":
        SushyEmulator.from_state_dir(args.state_dir).stop()
        return 0
    previous = SushyEmulator.from_state_dir(args.state_dir)
    if previous.is_running():
        print(f"sushy-emulator already running at {previous.url}", file=sys.stderr)
        print(f"export SUSHY_ENDPOINT={previous.url}")
        return 0
    if args.systems_file:
        systems = [FakeSystem.from_dict(d) for d in json.loads(Path(args.systems_file).read_text())]
    else:
        systems = numbered_systems(args.systems)
    port = args.port if args.port is not None else previous.port
    emulator = SushyEmulator(args.state_dir, port, systems)
    started = time.monotonic()
    emulator.start()
    print(
        f"sushy-emulator ready at {emulator.url} with {len(systems)} systems "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    print(f"export SUSHY_ENDPOINT={emulator.url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testenv.ironic",
        description="A real Ironic and sushy-tools emulator on 127.0.0.1 for bmo's tests.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def with_state_dir(p: argparse.ArgumentParser, default: Path = DEFAULT_STATE_DIR) -> None:
        p.add_argument("--state-dir", type=Path, default=default, help=f"default {default}")

    sub.add_parser("install", help="create .cache/ironic/venv (cached)").set_defaults(
        func=_cmd_install
    )
    start = sub.add_parser("start", help="start Ironic and wait until its conductor is up")
    with_state_dir(start)
    start.add_argument("--port", type=int, default=None, help="0 picks a free port")
    start.add_argument("--auth", choices=AUTH_STRATEGIES, default="http_basic")
    start.add_argument("--username", default="admin")
    start.add_argument("--password", default=None, help="default: saved or generated")
    start.add_argument("--extra-conf", type=Path, default=None, help="a second --config-file")
    start.add_argument(
        "--http-port", type=int, default=None, help="http_root server: 0 picks a port, -1 disables"
    )
    start.set_defaults(func=_cmd_start)
    for name, func, text in (
        ("stop", _cmd_stop, "stop Ironic and its http server"),
        ("status", _cmd_status, "is Ironic running and answering"),
        ("wipe", _cmd_wipe, "stop Ironic and delete its database"),
    ):
        p = sub.add_parser(name, help=text)
        with_state_dir(p)
        p.set_defaults(func=func)
    env = sub.add_parser("env", help="print export lines for a running Ironic")
    with_state_dir(env)
    env.add_argument("--sushy-state-dir", type=Path, default=DEFAULT_SUSHY_STATE_DIR)
    env.set_defaults(func=_cmd_env)
    sushy = sub.add_parser("sushy", help="the sushy-tools Redfish emulator")
    sushy.add_argument("action", choices=("start", "stop"))
    with_state_dir(sushy, DEFAULT_SUSHY_STATE_DIR)
    sushy.add_argument("--port", type=int, default=None, help="0 picks a free port")
    group = sushy.add_mutually_exclusive_group()
    group.add_argument("--systems", type=int, default=2, help="number of generated systems")
    group.add_argument("--systems-file", type=Path, help="JSON list of {uuid, name, mac, ...}")
    sushy.set_defaults(func=_cmd_sushy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except IronicLocalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
