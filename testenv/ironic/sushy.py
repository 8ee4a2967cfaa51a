"""sushy-tools' Redfish emulator (fake system driver) on loopback, with the systems it serves.

The emulator runs under the Ironic venv's interpreter through its launcher
(``testenv/ironic/sushy_launcher.py``), which adds the hardware facts the fake driver lacks.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testenv.ironic.config import LOOPBACK
from testenv.ironic.errors import IronicLocalError, StartError
from testenv.ironic.install import VENV_DIR, htpasswd_line, require_installed, venv_bin
from testenv.ironic.process import (
    START_DEADLINE,
    free_port,
    http_get,
    log_tail,
    process_matches,
    read_json,
    spawn,
    terminate,
    write_private,
)

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


def render_sushy_conf(
    state_dir: Path, port: int, systems: Sequence[FakeSystem], auth_file: Path | None = None
) -> str:
    """sushy-tools config (a Python file): fake driver plus the storage inspection needs.

    Without SUSHY_EMULATOR_STORAGE the emulator answers ``/Storage`` with 500, and without
    SUSHY_EMULATOR_VOLUMES it answers ``/Storage/1/Volumes`` with 500, which sushy's retries
    stretch into a Redfish inspection of a minute or more.
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
        "# Written by testenv/ironic/sushy.py; regenerated on every start.",
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
            write_private(auth_file, htpasswd_line(*self.credentials, venv=self.venv))
        self.conf_path.write_text(
            render_sushy_conf(self.state_dir, self.port, self.systems, auth_file)
        )
        self._proc = spawn(
            [
                str(venv_bin("python", self.venv)),
                # -P: the launcher's folder (this package: config.py, sushy.py, ...) must not
                # go first on sys.path, where it would shadow modules sushy-tools imports.
                "-P",
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
                    + log_tail(self.log_path)
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
                    "sushy-emulator did not answer in time:\n" + log_tail(self.log_path)
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
        state = read_json(state_dir / cls.STATE_FILE)
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
