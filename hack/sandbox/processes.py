"""The processes a sandbox starts, and the state directory that lets a later run stop them.

Every process is started in its own session and stopped, group and all; the pids are
recorded in ``<state-dir>/sandbox.json`` so a sandbox killed with SIGKILL is cleaned up by
the next ``up``/``demo`` or by ``down``. One sandbox per state directory, held by a lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hack.sandbox.errors import AlreadyRunningError, SandboxError
from testenv.ironic import IronicProcess, SushyEmulator, process_matches, terminate

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO_ROOT / ".cache" / "sandbox"
STATE_FILE = "sandbox.json"


@dataclass
class Child:
    """A process the sandbox started; ``marker`` guards against signalling a recycled pid."""

    name: str
    popen: subprocess.Popen[bytes]
    marker: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, deadline: float = 20.0) -> None:
        terminate(self.pid, self.marker, self.popen, deadline)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:]) or "    (empty)"


def find_kubectl() -> str:
    found = shutil.which("kubectl") or shutil.which(
        "kubectl", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise SandboxError(
            "kubectl not found: run ./hack/demo.sh (it installs one) or put kubectl on PATH"
        )
    return found


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[IO[str]]:
    """One sandbox per state directory: the lock is held for the sandbox's whole life."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "sandbox.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = read_state(state_dir).get("pid")
            raise AlreadyRunningError(
                f"a sandbox is already running from {state_dir} (pid {owner}): stop it with "
                f"Ctrl-C in its terminal or `python -m hack.sandbox down --state-dir {state_dir}`"
            ) from None
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_state(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stop_leftovers(state_dir: Path) -> list[str]:
    """Stop whatever a sandbox killed without cleanup left behind; returns what was stopped."""
    stopped = []
    for child in read_state(state_dir).get("children", []):
        pid, marker = int(child.get("pid") or 0), str(child.get("marker") or "")
        if marker and process_matches(pid, marker):
            terminate(pid, marker)
            stopped.append(f"{child.get('name')} (pid {pid})")
    ironic = IronicProcess.from_state_dir(state_dir / "ironic")
    if ironic.is_running():
        stopped.append(f"Ironic (pid {ironic.pid})")
    ironic.stop()
    sushy = SushyEmulator.from_state_dir(state_dir / "sushy")
    if sushy.is_running():
        stopped.append(f"sushy-emulator (pid {sushy.pid})")
    sushy.stop()
    return stopped
