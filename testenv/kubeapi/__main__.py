"""``python -m testenv.kubeapi --port 8080 [--crds DIR]... [--host 127.0.0.1]``: serve until
SIGTERM or SIGINT, printing the URL first."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import KubeAPIServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testenv.kubeapi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--crds", action="append", default=[], metavar="DIR", help="install CRD YAML from DIR"
    )
    parser.add_argument("--history-limit", type=int, default=1000, help="watch event window")
    args = parser.parse_args(argv)
    try:
        srv = KubeAPIServer(args.host, args.port, args.history_limit)
    except ValueError as e:
        parser.error(str(e))
    for directory in args.crds:
        srv.install_crds_from_dir(directory)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    srv.start()
    print(srv.url, flush=True)
    try:
        done.wait()
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
