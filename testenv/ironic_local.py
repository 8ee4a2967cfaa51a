"""A real Ironic (and sushy-tools' Redfish emulator) on 127.0.0.1, for tests and the sandbox.

Ironic and sushy-tools live in their own virtualenv (``.cache/ironic/venv``) because their
dependency tree (oslo.*, SQLAlchemy, Flask, ...) must never leak into bmo's environment. This
module only uses the standard library at import time so it runs from bmo's ``.venv`` and is
importable from tests; everything Ironic-specific runs as a subprocess of the Ironic venv.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache" / "ironic"
VENV_DIR = CACHE_DIR / "venv"
DEFAULT_STATE_DIR = CACHE_DIR / "state"
DEFAULT_SUSHY_STATE_DIR = CACHE_DIR / "sushy"

# Known-good pins (shared notes §1). Changing this tuple invalidates the install stamp.
REQUIREMENTS: tuple[str, ...] = ("ironic==39.0.0", "sushy-tools==2.2.0", "pyghmi==1.6.19")
STAMP_FILE = VENV_DIR / ".bmo-ironic-stamp"

LOOPBACK = "127.0.0.1"
API_VERSION = "1.110"
START_DEADLINE = 60.0
STOP_DEADLINE = 15.0


class IronicLocalError(Exception):
    """Base of every error raised by the local Ironic tooling."""


class InstallError(IronicLocalError):
    """The Ironic virtualenv could not be created or populated."""


class NotInstalledError(IronicLocalError):
    """The Ironic virtualenv is missing; run ``python -m testenv.ironic_local install``."""


class StartError(IronicLocalError):
    """A process did not come up; the message carries the tail of its log."""


class PortInUseError(StartError):
    """A port Ironic or its http_root server was to listen on is taken."""

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


class StopError(IronicLocalError):
    """A process would not exit even after SIGKILL."""


# --------------------------------------------------------------------------------------------
# install


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
            "`.venv/bin/python -m testenv.ironic_local install`"
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


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


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


def _log_tail(*paths: Path, lines: int = 40) -> str:
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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (passwords, htpasswd)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


# --------------------------------------------------------------------------------------------
# ironic.conf


AUTH_STRATEGIES = ("noauth", "http_basic")

# Directories Ironic writes to; each one defaults to somewhere under / (notes §3).
STATE_SUBDIRS = (
    "tmp",
    "httpboot",
    "tftpboot",
    "tftpboot/master_images",
    "images",
    "master_images",
    "master_iso_images",
    "certificates",
    "locks",
)


@dataclass(frozen=True)
class LocalIronicConfig:
    """Everything ``ironic.conf`` depends on, so rendering it is a pure function."""

    state_dir: Path
    port: int
    auth: str = "http_basic"
    http_port: int | None = None
    ipmi: bool = False
    log_level: str = "WARNING"


def render_ironic_conf(cfg: LocalIronicConfig) -> str:
    """The single-process Ironic configuration from notes §3, every path inside state_dir."""
    if cfg.auth not in AUTH_STRATEGIES:
        raise IronicLocalError(f"auth must be one of {AUTH_STRATEGIES}, not {cfg.auth!r}")
    s = cfg.state_dir
    url = f"http://{LOOPBACK}:{cfg.port}"
    level = cfg.log_level.upper()
    loggers = (
        "ironic",
        "ironic.api",
        "cotyledon",
        "sqlalchemy",
        "oslo_db",
        "stevedore",
        "urllib3",
        "sushy",
        "futurist",
    )
    hardware = ["fake-hardware", "redfish"] + (["ipmi"] if cfg.ipmi else [])
    management = "fake,redfish,noop" + (",ipmitool" if cfg.ipmi else "")
    power = "fake,redfish" + (",ipmitool" if cfg.ipmi else "")
    vendor = "fake,no-vendor,redfish" + (",ipmitool" if cfg.ipmi else "")
    lines = [
        "[DEFAULT]",
        "host = ironic-local",
        f"auth_strategy = {cfg.auth}",
    ]
    if cfg.auth == "http_basic":
        lines.append(f"http_basic_auth_user_file = {s / 'htpasswd'}")
    lines += [
        "rpc_transport = none",
        f"tempdir = {s / 'tmp'}",
        f"log_file = {s / 'ironic.log'}",
        "use_stderr = false",
        f"debug = {'true' if level == 'DEBUG' else 'false'}",
        "default_log_levels = " + ",".join(f"{name}={level}" for name in loggers),
        f"enabled_hardware_types = {','.join(hardware)}",
        "enabled_bios_interfaces = fake,no-bios,redfish",
        "enabled_boot_interfaces = fake,ipxe,pxe,redfish-virtual-media,redfish-https",
        "enabled_console_interfaces = fake,no-console",
        "enabled_deploy_interfaces = fake,direct,ramdisk,custom-agent",
        "enabled_firmware_interfaces = fake,no-firmware,redfish",
        "enabled_inspect_interfaces = fake,agent,redfish,no-inspect",
        f"enabled_management_interfaces = {management}",
        "enabled_network_interfaces = noop,flat",
        "default_network_interface = noop",
        f"enabled_power_interfaces = {power}",
        "enabled_raid_interfaces = fake,no-raid,agent,redfish",
        "enabled_rescue_interfaces = fake,no-rescue",
        "enabled_storage_interfaces = fake,noop",
        f"enabled_vendor_interfaces = {vendor}",
        "",
        "[api]",
        f"host_ip = {LOOPBACK}",
        f"port = {cfg.port}",
        f"public_endpoint = {url}",
        "",
        "[service_catalog]",
        f"endpoint_override = {url}",
        "",
        "[database]",
        f"connection = sqlite:///{s / 'ironic.sqlite'}",
        "sqlite_synchronous = false",
        "",
        "[conductor]",
        "automated_clean = true",
        "node_history = false",
        "sync_power_state_interval = 60",
        "check_provision_state_interval = 10",
        f"file_url_allowed_paths = {s}",
        "",
        "[deploy]",
        f"http_root = {s / 'httpboot'}",
    ]
    if cfg.http_port is not None:
        lines.append(f"http_url = http://{LOOPBACK}:{cfg.http_port}")
    lines += [
        f"iso_master_path = {s / 'master_iso_images'}",
        "",
        "[pxe]",
        f"tftp_root = {s / 'tftpboot'}",
        f"tftp_master_path = {s / 'tftpboot' / 'master_images'}",
        f"images_path = {s / 'images'}",
        f"instance_master_path = {s / 'master_images'}",
        "",
        "[agent]",
        f"certificates_path = {s / 'certificates'}",
        "",
        "[ipmi]",
        "min_command_interval = 1",
        "",
        "[inspector]",
        "require_managed_boot = false",
        "",
        "[oslo_concurrency]",
        f"lock_path = {s / 'locks'}",
        "",
    ]
    return "\n".join(lines)


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
        _write_private(htpasswd, htpasswd_line(self.username, password, self.venv))
        _write_private(self.auth_dir / "ironic" / "username", self.username + "\n")
        _write_private(self.auth_dir / "ironic" / "password", password + "\n")

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
                    + _log_tail(self.console_log_path, self.log_path)
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
                    + _log_tail(self.console_log_path, lines=5),
                    self.port,
                )
            if time.monotonic() >= end:
                raise StartError(
                    f"Ironic did not list the fake-hardware driver at {url} in time "
                    f"(last status {status}):\n" + _log_tail(self.console_log_path, self.log_path)
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
        state = _read_json(state_dir / cls.STATE_FILE)
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


# --------------------------------------------------------------------------------------------
# sushy-tools Redfish emulator

LAUNCHER = Path(__file__).resolve().parent / "sushy_launcher.py"


@dataclass(frozen=True)
class FakeSystem:
    """One machine behind the emulator's fake driver; cpus/memory/disk feed Redfish inspection."""

    uuid: str
    name: str
    mac: str
    cpus: int = 2
    memory_gb: int = 8
    disk_gb: int = 100

    def as_config(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "power_state": "Off",
            "nics": [{"mac": self.mac}],
            "cpus": self.cpus,
            "memory_gb": self.memory_gb,
            "disk_gb": self.disk_gb,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FakeSystem:
        return cls(
            uuid=str(data["uuid"]),
            name=str(data["name"]),
            mac=str(data["mac"]),
            cpus=int(data.get("cpus", 2)),
            memory_gb=int(data.get("memory_gb", 8)),
            disk_gb=int(data.get("disk_gb", 100)),
        )


def numbered_systems(count: int, prefix: str = "bmo-fake") -> list[FakeSystem]:
    """Deterministic systems (stable UUIDs and MACs) so a sandbox can be rebuilt identically."""
    import uuid

    return [
        FakeSystem(
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-{i}")),
            name=f"{prefix}-{i}",
            mac=f"52:54:00:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}",
        )
        for i in range(count)
    ]


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


def render_sushy_conf(
    state_dir: Path, port: int, systems: Sequence[FakeSystem], auth_file: Path | None = None
) -> str:
    """sushy-tools config (a Python file): fake driver plus the storage inspection needs.

    Without SUSHY_EMULATOR_STORAGE ``/Storage`` answers 500, and without VOLUMES sushy's
    retries stretch a Redfish inspection to a minute or more (notes §6).
    """
    storage = {
        s.uuid: [
            {
                "Id": "1",
                "Name": "Local Storage Controller",
                "StorageControllers": [{"MemberId": "0", "Name": "Fake RAID", "SpeedGbps": 12}],
                "Drives": ["disk0"],
            }
        ]
        for s in systems
    }
    drives = {
        (s.uuid, "1"): [
            {
                "Id": "disk0",
                "Name": "Fake Disk",
                "CapacityBytes": s.disk_gb * 1024**3,
                "Protocol": "SATA",
            }
        ]
        for s in systems
    }
    volumes: dict[tuple[str, str], list[Any]] = {(s.uuid, "1"): [] for s in systems}
    lines = [
        "# Written by testenv/ironic_local.py; regenerated on every start.",
        f"SUSHY_EMULATOR_LISTEN_IP = {LOOPBACK!r}",
        f"SUSHY_EMULATOR_LISTEN_PORT = {port!r}",
        "SUSHY_EMULATOR_FAKE_DRIVER = True",
        f"SUSHY_EMULATOR_STATE_DIR = {str(state_dir / 'emulator-state')!r}",
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {[s.as_config() for s in systems]!r}",
        f"SUSHY_EMULATOR_STORAGE = {storage!r}",
        f"SUSHY_EMULATOR_DRIVES = {drives!r}",
        f"SUSHY_EMULATOR_VOLUMES = {volumes!r}",
    ]
    if auth_file is not None:
        lines.append(f"SUSHY_EMULATOR_AUTH_FILE = {str(auth_file)!r}")
    lines.append("")
    return "\n".join(lines)


class SushyEmulator:
    """sushy-tools' emulator with the fake system driver, on loopback.

    With ``credentials`` the Redfish API wants HTTP basic auth (sushy-tools' own htpasswd
    support), so a wrong BMC password fails the way it does on real hardware.
    """

    STATE_FILE = "sushy-local.json"

    def __init__(
        self,
        state_dir: Path,
        port: int = 0,
        systems: Sequence[FakeSystem] = (),
        venv: Path = VENV_DIR,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.systems = list(systems) or numbered_systems(2)
        self.venv = venv
        self.credentials = credentials
        self._proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None

    def __repr__(self) -> str:
        return f"SushyEmulator(state_dir={str(self.state_dir)!r}, port={self.port}, pid={self.pid})"

    @property
    def conf_path(self) -> Path:
        return self.state_dir / "sushy.conf"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "sushy.log"

    @property
    def state_file(self) -> Path:
        return self.state_dir / self.STATE_FILE

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @staticmethod
    def system_path(uuid: str) -> str:
        """The ``redfish_system_id`` Ironic wants for this system."""
        return f"/redfish/v1/Systems/{uuid}"

    def power_state(self, uuid: str) -> str:
        """The emulator's own view of the system's power ('On'/'Off'), read over Redfish."""
        status, body = http_get(self.url + self.system_path(uuid), self.credentials)
        if status != 200:
            raise IronicLocalError(f"GET {self.system_path(uuid)} answered {status}")
        return str(json.loads(body)["PowerState"])

    def is_running(self) -> bool:
        return self.pid is not None and process_matches(self.pid, str(self.conf_path))

    def start(self, deadline: float = START_DEADLINE) -> None:
        require_installed(self.venv)
        if self.is_running():
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port()
        auth_file = None
        if self.credentials is not None:
            auth_file = self.state_dir / "htpasswd"
            _write_private(auth_file, htpasswd_line(*self.credentials, venv=self.venv))
        self.conf_path.write_text(
            render_sushy_conf(self.state_dir, self.port, self.systems, auth_file)
        )
        self._proc = spawn(
            [
                str(venv_bin("python", self.venv)),
                str(LAUNCHER),
                "--config",
                str(self.conf_path),
                "--interface",
                LOOPBACK,
                "--port",
                str(self.port),
            ],
            self.log_path,
        )
        self.pid = self._proc.pid
        self._save_state()
        end = time.monotonic() + deadline
        while True:
            if self._proc.poll() is not None:
                self.pid = None
                raise StartError(
                    f"sushy-emulator exited with status {self._proc.returncode}:\n"
                    + _log_tail(self.log_path)
                )
            try:
                status, _ = http_get(
                    self.url + "/redfish/v1/Systems", self.credentials, timeout=2.0
                )
            except OSError:
                status = 0
            if status == 200:
                return
            if time.monotonic() >= end:
                self.stop()
                raise StartError(
                    "sushy-emulator did not answer in time:\n" + _log_tail(self.log_path)
                )
            time.sleep(0.1)

    def _save_state(self) -> None:
        state = {
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "systems": [s.as_config() | {"mac": s.mac} for s in self.systems],
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def from_state_dir(cls, state_dir: Path, venv: Path = VENV_DIR) -> SushyEmulator:
        state_dir = Path(state_dir).resolve()
        state = _read_json(state_dir / cls.STATE_FILE)
        systems = [FakeSystem.from_dict(s) for s in state.get("systems", [])]
        emulator = cls(state_dir, int(state.get("port") or 0), systems, venv)
        emulator.pid = state.get("pid")
        return emulator

    def stop(self) -> None:
        if self.pid is not None:
            terminate(self.pid, str(self.conf_path), self._proc)
        self.pid = None
        self._proc = None
        if self.state_file.exists():
            self._save_state()


# --------------------------------------------------------------------------------------------
# CLI


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
        prog="python -m testenv.ironic_local",
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
