"""The Ironic process: start, stop, restart, wipe; and the process helpers every test bed uses.

Only the standard library is used at import time, so this runs from bmo's ``.venv`` and is
importable from tests; everything Ironic-specific runs as a subprocess of the Ironic venv.
Every child is started as the leader of its own session and is only ever signalled while its
command line still names what we started, so a recycled pid is never hit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from testenv.ironic.config import (
    AUTH_STRATEGIES,
    LOOPBACK,
    STATE_SUBDIRS,
    LocalIronicConfig,
    render_ironic_conf,
)
from testenv.ironic.errors import IronicLocalError, PortInUseError, StartError, StopError
from testenv.ironic.install import VENV_DIR, htpasswd_line, require_installed, venv_bin

API_VERSION = "1.110"
START_DEADLINE = 60.0
STOP_DEADLINE = 15.0


# --------------------------------------------------------------------------------------------
# small process and HTTP helpers


def free_port() -> int:
    """A port the kernel considers free on loopback right now (racy, but good enough here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(
    url: str, credentials: tuple[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    """GET with optional HTTP basic auth; an HTTP error status is returned, not raised."""
    import base64
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"X-OpenStack-Ironic-API-Version": API_VERSION})
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _is_alive(pid: int) -> bool:
    """True unless the pid is gone or a zombie (a zombie has already exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def process_matches(pid: int, marker: str) -> bool:
    """Whether ``pid`` is still the process we started (its command line names ``marker``).

    Pid files outlive processes; a recycled pid must never be signalled.
    """
    return pid > 0 and _is_alive(pid) and marker in _cmdline(pid)


def proc_stats() -> Iterator[tuple[int, list[str]]]:
    """``(pid, fields)`` of every process: ``/proc/<pid>/stat`` after the command name
    (``fields[0]`` is the state, ``[1]`` the parent, ``[2]`` the group, ``[11:13]`` CPU)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        yield int(entry.name), fields


def _group_members(pgid: int) -> list[int]:
    return [pid for pid, fields in proc_stats() if int(fields[2]) == pgid and fields[0] != "Z"]


def terminate(
    pid: int,
    marker: str,
    popen: subprocess.Popen[bytes] | None = None,
    deadline: float = STOP_DEADLINE,
) -> bool:
    """SIGTERM ``pid`` (only if it still is our process), SIGKILL after ``deadline`` seconds.

    Every process here is started as the leader of its own session, so once the leader
    has gone, whatever is left of its process group (cotyledon's worker) is killed too.
    Returns whether a signal was sent.
    """
    if not process_matches(pid, marker):
        if popen is not None:
            popen.poll()
        return False
    os.kill(pid, signal.SIGTERM)
    if not _wait_exit(pid, popen, deadline) and process_matches(pid, marker):
        os.kill(pid, signal.SIGKILL)
        if not _wait_exit(pid, popen, 5.0):
            raise StopError(f"process {pid} did not exit after SIGKILL")
    leftovers = _group_members(pid)
    if leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        end = time.monotonic() + 5.0
        while _group_members(pid) and time.monotonic() < end:
            time.sleep(0.05)
    return True


def _wait_exit(pid: int, popen: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if popen is not None:
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    end = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)
    return True


def log_tail(*paths: Path, lines: int = 40) -> str:
    chunks = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        tail = "\n".join(text.splitlines()[-lines:])
        if tail:
            chunks.append(f"--- {path} ---\n{tail}")
    return "\n".join(chunks) or "(no log output)"


def spawn(
    argv: Sequence[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a detached child (own session) so stopping it never touches our own group, and
    Ctrl-C reaches only us (we stop it, group and all). Output goes to ``log_path``; the
    working directory is ``cwd``, else the log's folder."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=str(cwd if cwd is not None else log_path.parent),
        )


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (passwords, htpasswd)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


# --------------------------------------------------------------------------------------------
# Ironic


class IronicProcess:
    """One single-process Ironic (API + conductor) with its SQLite DB in ``state_dir``.

    The state file written on start lets a later process (the CLI's ``stop``) find and stop
    it; the port and credentials survive ``restart``/``wipe_database`` so clients keep working.
    """

    STATE_FILE = "ironic-local.json"

    def __init__(
        self,
        state_dir: Path,
        port: int = 0,
        auth: str = "http_basic",
        username: str = "admin",
        password: str | None = None,
        extra_conf: Path | None = None,
        http_port: int = 0,
        venv: Path = VENV_DIR,
        log_level: str | None = None,
    ) -> None:
        if auth not in AUTH_STRATEGIES:
            raise IronicLocalError(f"auth must be one of {AUTH_STRATEGIES}, not {auth!r}")
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.auth = auth
        self.username = username
        self._password = password
        self.extra_conf = Path(extra_conf).resolve() if extra_conf else None
        self.http_port = http_port
        self.venv = venv
        self.log_level = log_level or os.environ.get("IRONIC_LOG_LEVEL", "WARNING")
        self._proc: subprocess.Popen[bytes] | None = None
        self._http_proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self.pid: int | None = None
        self.http_pid: int | None = None

    def __repr__(self) -> str:
        return (
            f"IronicProcess(state_dir={str(self.state_dir)!r}, port={self.port}, "
            f"auth={self.auth!r}, pid={self.pid})"
        )

    # -- paths and derived values

    @property
    def conf_path(self) -> Path:
        return self.state_dir / "ironic.conf"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "ironic.sqlite"

    @property
    def log_path(self) -> Path:
        """Ironic's own log (oslo.log)."""
        return self.state_dir / "ironic.log"

    @property
    def console_log_path(self) -> Path:
        """stdout/stderr of the process: start-up crashes land here, not in ironic.log."""
        return self.state_dir / "ironic.stdout.log"

    @property
    def state_file(self) -> Path:
        return self.state_dir / self.STATE_FILE

    @property
    def auth_dir(self) -> Path:
        """Metal3's ``METAL3_AUTH_ROOT_DIR`` layout: ``<dir>/ironic/{username,password}``."""
        return self.state_dir / "auth"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def http_url(self) -> str | None:
        return f"http://{LOOPBACK}:{self.http_port}" if self.http_port > 0 else None

    @property
    def credentials(self) -> tuple[str, str] | None:
        if self.auth != "http_basic":
            return None
        return (self.username, self._ensure_password())

    def _ensure_password(self) -> str:
        """The configured password, else the one saved in the state dir, else a new one."""
        if self._password is None:
            saved = self.auth_dir / "ironic" / "password"
            with contextlib.suppress(OSError):
                self._password = saved.read_text().strip() or None
        if self._password is None:
            import secrets

            self._password = secrets.token_urlsafe(18)
        return self._password

    # -- lifecycle

    def is_running(self) -> bool:
        return self.pid is not None and process_matches(self.pid, str(self.conf_path))

    def start(self, deadline: float = START_DEADLINE) -> None:
        """Write the config, create/upgrade the schema, start Ironic and wait for its conductor.

        A port picked here (``port=0``) can be taken by someone else before Ironic binds it;
        then Ironic's worker crash-loops on EADDRINUSE, so that is detected from its log and
        retried on a new port. A port given explicitly is never changed.
        """
        require_installed(self.venv)
        if self.is_running():
            return
        end = time.monotonic() + deadline
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for sub in STATE_SUBDIRS:
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        self._write_auth_files()
        auto_port, auto_http = self.port == 0, self.http_port == 0
        schema_ready = False
        for attempt in range(3):
            self.port = self.port or free_port()
            self.http_port = self.http_port or free_port()
            try:
                self._check_port(self.port, "Ironic API")
                if self.http_port > 0:
                    self._check_port(self.http_port, "http_root server")
                self._write_conf()
                if not schema_ready:
                    self._sync_schema()
                    schema_ready = True
                self._spawn_processes()
                self._wait_ready(end)
            except PortInUseError as exc:
                self.stop()
                clash_is_ours = (exc.port == self.port and auto_port) or (
                    exc.port == self.http_port and auto_http
                )
                if not clash_is_ours or attempt == 2:
                    raise
                self.port = 0 if auto_port else self.port
                self.http_port = 0 if auto_http else self.http_port
            except StartError:
                self.stop()
                raise
            else:
                return

    @staticmethod
    def _check_port(port: int, what: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((LOOPBACK, port))
            except OSError as exc:
                raise PortInUseError(
                    f"{what} port {LOOPBACK}:{port} is in use: {exc}", port
                ) from exc

    def _write_conf(self) -> None:
        self.conf_path.write_text(
            render_ironic_conf(
                LocalIronicConfig(
                    state_dir=self.state_dir,
                    port=self.port,
                    auth=self.auth,
                    http_port=self.http_port if self.http_port > 0 else None,
                    ipmi=shutil.which("ipmitool") is not None,
                    log_level=self.log_level,
                )
            )
        )

    def _spawn_processes(self) -> None:
        conf_args = ["--config-file", str(self.conf_path)]
        if self.extra_conf is not None:
            conf_args += ["--config-file", str(self.extra_conf)]
        self._log_offset = self._console_log_size()
        self._proc = spawn([str(venv_bin("ironic", self.venv)), *conf_args], self.console_log_path)
        self.pid = self._proc.pid
        if self.http_port > 0:
            self._http_proc = spawn(
                [
                    str(venv_bin("python", self.venv)),
                    "-m",
                    "http.server",
                    str(self.http_port),
                    "--bind",
                    LOOPBACK,
                    "--directory",
                    str(self.state_dir / "httpboot"),
                ],
                self.state_dir / "http-server.log",
            )
            self.http_pid = self._http_proc.pid
        self._save_state()

    def _console_log_size(self) -> int:
        try:
            return self.console_log_path.stat().st_size
        except OSError:
            return 0

    def _port_clash_logged(self) -> bool:
        """cheroot's "Address already in use" in this start's part of the console log."""
        try:
            with self.console_log_path.open("rb") as log:
                log.seek(self._log_offset)
                return b"Address already in use" in log.read()
        except OSError:
            return False

    def _write_auth_files(self) -> None:
        htpasswd = self.state_dir / "htpasswd"
        if self.auth != "http_basic":
            shutil.rmtree(self.auth_dir, ignore_errors=True)
            htpasswd.unlink(missing_ok=True)
            return
        password = self._ensure_password()
        write_private(htpasswd, htpasswd_line(self.username, password, self.venv))
        write_private(self.auth_dir / "ironic" / "username", self.username + "\n")
        write_private(self.auth_dir / "ironic" / "password", password + "\n")

    def _sync_schema(self) -> None:
        """create_schema on a new DB (fast, no migrations), upgrade on an existing one."""
        action = "upgrade" if self.db_path.exists() else "create_schema"
        result = subprocess.run(
            [
                str(venv_bin("ironic-dbsync", self.venv)),
                "--config-file",
                str(self.conf_path),
                action,
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=str(self.state_dir),
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise StartError(f"ironic-dbsync {action} failed (exit {result.returncode}):\n{tail}")

    def _wait_ready(self, end: float) -> None:
        """Ready means the conductor has registered: /v1/drivers lists fake-hardware."""
        url = f"{self.url}/v1/drivers"
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise StartError(
                    f"Ironic exited with status {self._proc.returncode} during start-up:\n"
                    + log_tail(self.console_log_path, self.log_path)
                )
            try:
                status, body = http_get(url, self.credentials, timeout=2.0)
            except OSError:
                status, body = 0, b""
            if status == 200:
                names = {d.get("name") for d in json.loads(body).get("drivers", [])}
                if "fake-hardware" in names:
                    return
            if self._port_clash_logged():
                raise PortInUseError(
                    f"Ironic could not bind {LOOPBACK}:{self.port}:\n"
                    + log_tail(self.console_log_path, lines=5),
                    self.port,
                )
            if time.monotonic() >= end:
                raise StartError(
                    f"Ironic did not list the fake-hardware driver at {url} in time "
                    f"(last status {status}):\n" + log_tail(self.console_log_path, self.log_path)
                )
            time.sleep(0.2)

    def _save_state(self) -> None:
        state = {
            "pid": self.pid,
            "port": self.port,
            "auth": self.auth,
            "username": self.username,
            "http_pid": self.http_pid,
            "http_port": self.http_port,
            "extra_conf": str(self.extra_conf) if self.extra_conf else None,
            "url": self.url,
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def from_state_dir(cls, state_dir: Path, venv: Path = VENV_DIR) -> IronicProcess:
        """Rebuild the handle a previous ``start`` (maybe another process) left behind."""
        state_dir = Path(state_dir).resolve()
        state = read_json(state_dir / cls.STATE_FILE)
        extra = state.get("extra_conf")
        proc = cls(
            state_dir=state_dir,
            port=int(state.get("port") or 0),
            auth=str(state.get("auth") or "http_basic"),
            username=str(state.get("username") or "admin"),
            extra_conf=Path(extra) if extra else None,
            http_port=int(state.get("http_port") or 0),
            venv=venv,
        )
        proc.pid = state.get("pid")
        proc.http_pid = state.get("http_pid")
        return proc

    def stop(self) -> None:
        if self.pid is not None:
            terminate(self.pid, str(self.conf_path), self._proc)
        if self.http_pid is not None:
            terminate(self.http_pid, str(self.state_dir / "httpboot"), self._http_proc)
        self.pid = self.http_pid = None
        self._proc = self._http_proc = None
        if self.state_file.exists():
            self._save_state()

    def restart(self) -> None:
        self.stop()
        self.start()

    def wipe_database(self) -> None:
        """Stop and delete the SQLite DB; the next ``start`` recreates an empty schema."""
        self.stop()
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)

    def env(self) -> dict[str, str]:
        """Variables for bmo and for people: Metal3's names where Metal3 has one."""
        values = {
            "IRONIC_ENDPOINT": f"{self.url}/v1/",
            "IRONIC_URL": self.url,
            "IRONIC_AUTH_STRATEGY": self.auth,
        }
        if self.auth == "http_basic":
            values["METAL3_AUTH_ROOT_DIR"] = str(self.auth_dir)
            values["IRONIC_USERNAME"] = self.username
            values["IRONIC_PASSWORD_FILE"] = str(self.auth_dir / "ironic" / "password")
        if self.http_url:
            values["IRONIC_HTTP_URL"] = self.http_url
        return values
