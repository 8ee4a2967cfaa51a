"""The Ironic virtualenv: created from PyPI once, trusted afterwards through a stamp file.

Ironic and sushy-tools live in their own virtualenv (``.cache/ironic/venv``) because their
dependency tree (oslo.*, SQLAlchemy, Flask, ...) must never leak into bmo's environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from testenv.ironic.errors import InstallError, NotInstalledError, StartError

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "ironic"
VENV_DIR = CACHE_DIR / "venv"
DEFAULT_STATE_DIR = CACHE_DIR / "state"
DEFAULT_SUSHY_STATE_DIR = CACHE_DIR / "sushy"

# Known-good pins: Ironic 39.0.0 serves API microversions up to 1.115 (bmo asks for 1.110),
# sushy-tools 2.2.0 is the Redfish emulator, pyghmi a fake IPMI BMC. Changing this tuple
# invalidates the install stamp.
REQUIREMENTS: tuple[str, ...] = ("ironic==39.0.0", "sushy-tools==2.2.0", "pyghmi==1.6.19")
STAMP_FILE = VENV_DIR / ".bmo-ironic-stamp"


def _stamp_text() -> str:
    """What the stamp records: the pins plus the interpreter the venv was made from."""
    return json.dumps(
        {"requirements": list(REQUIREMENTS), "python": sys.version_info[:2]}, sort_keys=True
    )


def venv_bin(name: str, venv: Path = VENV_DIR) -> Path:
    """A console script or interpreter inside the Ironic venv."""
    return venv / "bin" / name


def is_installed(venv: Path = VENV_DIR) -> bool:
    """True when the venv holds the pinned set (checked through the stamp, so it is instant)."""
    stamp = venv / STAMP_FILE.name
    try:
        current = stamp.read_text()
    except OSError:
        return False
    return current == _stamp_text() and venv_bin("ironic", venv).exists()


def require_installed(venv: Path = VENV_DIR) -> None:
    if not is_installed(venv):
        raise NotInstalledError(
            f"Ironic is not installed in {venv}: run ./hack/test.sh or "
            "`.venv/bin/python -m testenv.ironic install`"
        )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise installs: two test runs starting at once must not pip into the same venv."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_installed(venv: Path = VENV_DIR, *, quiet: bool = False) -> float:
    """Create the venv and install the pins unless the stamp says they are there.

    Returns the seconds it took. The stamp is written only after pip succeeds, so an
    interrupted install is redone on the next call rather than trusted.
    """
    started = time.monotonic()
    if is_installed(venv):
        return time.monotonic() - started
    with _file_lock(venv.parent / "install.lock"):
        if is_installed(venv):
            return time.monotonic() - started
        python = venv_bin("python", venv)
        if not python.exists():
            _run([sys.executable, "-m", "venv", str(venv)], "creating the venv")
        pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
        _run([*pip, "install", "-q", "--upgrade", "pip"], "upgrading pip")
        _run([*pip, "install", "-q", *REQUIREMENTS], "installing " + " ".join(REQUIREMENTS))
        (venv / STAMP_FILE.name).write_text(_stamp_text())
    elapsed = time.monotonic() - started
    if not quiet:
        print(f"installed {' '.join(REQUIREMENTS)} into {venv} in {elapsed:.1f} s", file=sys.stderr)
    return elapsed


def _run(argv: Sequence[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise InstallError(f"{what} failed (exit {result.returncode}):\n{tail}")


def htpasswd_line(username: str, password: str, venv: Path = VENV_DIR) -> str:
    """``user:<bcrypt hash>`` for an htpasswd file (Ironic and sushy-tools accept only bcrypt).

    Hashed with the Ironic venv's bcrypt; the password goes through stdin so it never shows
    up in a process listing.
    """
    script = (
        "import sys, bcrypt; "
        "print(bcrypt.hashpw(sys.stdin.read().encode(), bcrypt.gensalt(5)).decode())"
    )
    result = subprocess.run(
        [str(venv_bin("python", venv)), "-c", script],
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StartError("hashing a password with bcrypt failed")
    return f"{username}:{result.stdout.strip()}\n"
