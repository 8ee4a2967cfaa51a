"""``python -m testenv.fake_agent --ironic-url URL``: the fake agent standalone, until a signal."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from testenv.fake_agent.agent import FakeAgent, read_auth_dir
from testenv.fake_agent.inventory import FakeAgentError

log = logging.getLogger("testenv.fake_agent")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testenv.fake_agent",
        description="Answer Ironic agent inspection of fake-hardware nodes with a plausible "
        "inventory, like a fleet of ironic-python-agent ramdisks. Runs until SIGINT/SIGTERM.",
    )
    parser.add_argument(
        "--ironic-url",
        default=os.environ.get("IRONIC_URL"),
        help="Ironic's base URL, e.g. http://127.0.0.1:6385 (default: $IRONIC_URL)",
    )
    parser.add_argument(
        "--auth-dir",
        type=Path,
        default=os.environ.get("METAL3_AUTH_ROOT_DIR") or None,
        help="directory holding ironic/username and ironic/password for HTTP basic auth "
        "(default: $METAL3_AUTH_ROOT_DIR; none means noauth)",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    args = parser.parse_args(argv)
    if not args.ironic_url:
        parser.error("--ironic-url (or $IRONIC_URL) is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        credentials = read_auth_dir(args.auth_dir) if args.auth_dir else None
    except FakeAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    agent = FakeAgent(args.ironic_url, credentials, interval=args.interval)
    log.info("fake agent polling %s every %.1f s", agent.ironic_url, agent.interval)
    agent.run(stop)
    log.info("fake agent stopped after %d inspections", len(agent.inspections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
