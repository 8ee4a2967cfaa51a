"""What an ironic-python-agent ramdisk says to Ironic, without a ramdisk.

Ironic's fake inspect interface stores no hardware data, so nothing downstream (bmo's
HardwareDetails, root-device hints) can be exercised with it. A node with
``inspect_interface="agent"`` instead waits in ``inspect wait`` for a ramdisk to post its
inventory to ``/v1/continue_inspection``; :func:`post_inventory` is that post. It needs no
credentials: Ironic leaves the ramdisk endpoints public, exactly as a real agent sees them.

:class:`FakeAgent` is the ramdisk fleet: it polls Ironic's node list and answers every
``fake-hardware`` node that waits in ``inspect wait`` with an inventory derived from the
node's name, so the sandbox, the benchmarks and tests get real inspection data without
anyone posting by hand. ``python -m testenv.fake_agent --ironic-url URL`` runs it standalone.

Standard library only, so it runs from bmo's venv, from tests and from the sandbox.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTINUE_INSPECTION_VERSION = "1.84"
PREFERRED_API_VERSION = "1.110"
"""The newest microversion the agent asks for (what bmo asks for); older Ironics get theirs."""

log = logging.getLogger(__name__)


class FakeAgentError(Exception):
    """Ironic refused the inventory; ``status`` is the HTTP status (0 if it never answered)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FakeDisk:
    """A disk beyond the first (the first is described by :class:`FakeHardware`'s fields)."""

    name: str
    size_bytes: int
    rotational: bool = False
    model: str = "FAKE DISK"
    serial: str = "fake-serial"
    vendor: str = "FAKE"
    hctl: str = "0:0:1:0"
    wwn: str = ""


@dataclass(frozen=True)
class FakeNic:
    """A NIC beyond the boot one; its MAC must not belong to any other node's port."""

    name: str
    mac: str
    speed_mbps: int = 10000
    has_carrier: bool = True


@dataclass(frozen=True)
class FakeHardware:
    """The machine the fake agent describes; defaults are a small x86_64 UEFI server."""

    cpu_count: int = 2
    cpu_model: str = "Fake CPU"
    cpu_arch: str = "x86_64"
    cpu_mhz: int = 2400
    memory_mb: int = 4096
    disk_name: str = "/dev/sda"
    disk_size_bytes: int = 50 * 1024**3
    disk_rotational: bool = False
    disk_serial: str = "fake-serial-1"
    vendor: str = "Fake Inc."
    product: str = "Fake Product"
    serial_number: str = "SN-1"
    boot_mode: str = "uefi"
    nic_speed_mbps: int = 10000
    bios_vendor: str = "Fake BIOS Inc."
    bios_version: str = "1.0.0"
    bios_date: str = "01/01/2024"
    extra_disks: tuple[FakeDisk, ...] = ()
    extra_nics: tuple[FakeNic, ...] = ()


_CPU_MODELS = (
    "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
    "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz",
    "AMD EPYC 7313 16-Core Processor",
    "AMD EPYC 7543 32-Core Processor",
)
_PRODUCTS = (
    ("Dell Inc.", "PowerEdge R650"),
    ("HPE", "ProLiant DL360 Gen10 Plus"),
    ("Lenovo", "ThinkSystem SR630 V2"),
    ("Supermicro", "SYS-1029P-WTR"),
)


def hardware_for(name: str) -> FakeHardware:
    """A plausible server that is always the same for the same node name.

    Deterministic so a rebuilt sandbox reports identical hardware and tests can predict it;
    varied so a fleet's HardwareDetails are not all alike. Extra NIC MACs are locally
    administered (``0e:`` prefix) so they never collide with the ``52:54:00`` ports.
    """
    digest = hashlib.sha256(name.encode()).digest()
    vendor, product = _PRODUCTS[digest[0] % len(_PRODUCTS)]
    ssd = digest[5] % 2 == 0
    extra_disks = tuple(
        FakeDisk(
            name=f"/dev/sd{chr(ord('b') + i)}",
            size_bytes=(480, 960, 1920, 3840)[digest[6 + i] % 4] * 10**9,
            rotational=not ssd,
            serial=f"{digest[8 + i]:02X}{digest.hex()[:10].upper()}{i}",
            hctl=f"0:0:{i + 1}:0",
            wwn=f"0x5000c500{digest.hex()[12 + 4 * i : 20 + 4 * i]}",
        )
        for i in range(digest[4] % 3)
    )
    extra_nics = tuple(
        FakeNic(
            name=f"eth{i + 1}",
            mac="0e:" + ":".join(f"{b:02x}" for b in digest[10 + 5 * i : 15 + 5 * i]),
            speed_mbps=(10000, 25000)[digest[9] % 2],
            has_carrier=i == 0,
        )
        for i in range(digest[3] % 3)
    )
    return FakeHardware(
        cpu_count=(4, 8, 16, 32)[digest[1] % 4],
        cpu_model=_CPU_MODELS[digest[2] % len(_CPU_MODELS)],
        cpu_mhz=(2000, 2400, 2800, 3000)[digest[2] % 4],
        memory_mb=(16384, 32768, 65536, 131072)[digest[7] % 4],
        disk_size_bytes=(240, 480, 960)[digest[6] % 3] * 10**9,
        disk_rotational=False,
        disk_serial=f"S{digest.hex()[20:32].upper()}",
        vendor=vendor,
        product=product,
        serial_number=f"SN{digest.hex()[32:42].upper()}",
        nic_speed_mbps=(10000, 25000)[digest[9] % 2],
        bios_version=f"{1 + digest[8] % 3}.{digest[9] % 20}.{digest[10] % 10}",
        extra_disks=extra_disks,
        extra_nics=extra_nics,
    )


def _disk(
    name: str,
    size: int,
    rotational: bool,
    serial: str,
    model: str,
    vendor: str,
    hctl: str,
    wwn: str,
) -> dict[str, Any]:
    return {
        "name": name,
        "model": model,
        "size": size,
        "rotational": rotational,
        "serial": serial,
        "vendor": vendor,
        "wwn": wwn or None,
        "wwn_with_extension": wwn or None,
        "wwn_vendor_extension": None,
        "hctl": hctl,
        "by_path": f"/dev/disk/by-path/pci-0000:00:1f.2-ata-{hctl.split(':')[2]}",
    }


def _interface(name: str, mac: str, speed_mbps: int, carrier: bool) -> dict[str, Any]:
    return {
        "name": name,
        "mac_address": mac.lower(),
        "ipv4_address": None,
        "ipv6_address": None,
        "has_carrier": carrier,
        "lldp": None,
        "vendor": "0x8086",
        "product": "0x1572",
        "speed_mbps": speed_mbps,
        "biosdevname": None,
        "client_id": None,
    }


def build_inventory(
    mac: str, hostname: str, hardware: FakeHardware = FakeHardware()
) -> dict[str, Any]:
    """An IPA-style continue_inspection body (notes §5).

    Two traps shaped it: ``boot.pxe_interface`` must be the MAC of one listed interface (the
    default ``add_ports = pxe`` hook looks it up), and an interface with a loopback IP is
    skipped as "local", so ``ipv4_address`` stays null.
    """
    mac = mac.lower()
    hw = hardware
    disks = [
        _disk(
            hw.disk_name,
            hw.disk_size_bytes,
            hw.disk_rotational,
            hw.disk_serial,
            "FAKE DISK",
            "FAKE",
            "0:0:0:0",
            "",
        )
    ]
    disks += [
        _disk(d.name, d.size_bytes, d.rotational, d.serial, d.model, d.vendor, d.hctl, d.wwn)
        for d in hw.extra_disks
    ]
    interfaces = [_interface("eth0", mac, hw.nic_speed_mbps, True)]
    interfaces += [_interface(n.name, n.mac, n.speed_mbps, n.has_carrier) for n in hw.extra_nics]
    return {
        "inventory": {
            "interfaces": interfaces,
            "cpu": {
                "model_name": hw.cpu_model,
                "frequency": str(hw.cpu_mhz),
                "count": hw.cpu_count,
                "architecture": hw.cpu_arch,
                "flags": ["fpu", "vme", "sse4_2", "vmx", "aes", "avx2"],
            },
            "memory": {
                "total": hw.memory_mb * 1024 * 1024,
                "physical_mb": hw.memory_mb,
            },
            "disks": disks,
            "bmc_address": "",
            "bmc_v6address": "::/0",
            "system_vendor": {
                "product_name": hw.product,
                "serial_number": hw.serial_number,
                "manufacturer": hw.vendor,
                "firmware": {
                    "vendor": hw.bios_vendor,
                    "version": hw.bios_version,
                    "build_date": hw.bios_date,
                },
            },
            "boot": {"current_boot_mode": hw.boot_mode, "pxe_interface": mac},
            "hostname": hostname,
        },
        "root_disk": disks[0] | {"name": hw.disk_name, "size": hw.disk_size_bytes},
        "boot_interface": mac,
    }


def post_inventory(
    ironic_url: str,
    node: str,
    mac: str,
    hardware: FakeHardware = FakeHardware(),
    timeout: float = 30.0,
) -> dict[str, Any]:
    """POST the inventory for the node with port ``mac``; returns Ironic's answer.

    ``node`` (name or UUID) only becomes the reported hostname: Ironic finds the node by MAC,
    as it would for a real ramdisk. The node must be in ``inspect wait``.
    """
    body = json.dumps(build_inventory(mac, hostname=node, hardware=hardware)).encode()
    request = urllib.request.Request(
        ironic_url.rstrip("/") + "/v1/continue_inspection",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-OpenStack-Ironic-API-Version": CONTINUE_INSPECTION_VERSION,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise FakeAgentError(
            f"continue_inspection for {node} ({mac}) answered {exc.code}: {detail}", exc.code
        ) from exc
    except OSError as exc:
        raise FakeAgentError(
            f"continue_inspection for {node} could not reach Ironic: {exc}"
        ) from exc
    answer = json.loads(raw) if raw else {}
    return answer if isinstance(answer, dict) else {"answer": answer}


# --------------------------------------------------------------------------------------------
# the polling agent


def _version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


@dataclass(frozen=True)
class Inspection:
    """One inventory the agent posted: which node, which port MAC, what it claimed."""

    uuid: str
    name: str
    mac: str
    hardware: FakeHardware
    posted_at: float
    post_seconds: float
    """How long Ironic took to accept the post (its load shows here first)."""


InspectCallback = Callable[[Inspection], None]

MAX_ATTEMPTS = 5
"""Posts tried per inspection before the agent gives up on it (Ironic keeps refusing)."""


class FakeAgent:
    """Answers agent inspection for every ``fake-hardware`` node, as its ramdisk would.

    Each poll lists the nodes (one request, paged by Ironic's ``next`` link) and posts an
    inventory for each node in ``inspect wait`` with ``inspect_interface == "agent"`` that it
    has not answered yet. An inspection is identified by the node's UUID plus its
    ``inspection_started_at``, so a node re-inspected later is answered again, while a node
    still in ``inspect wait`` after a successful post (Ironic processes it asynchronously)
    is not posted twice. A failed post is retried on the next poll, up to ``MAX_ATTEMPTS``.
    Posts go out from up to ``workers`` threads at once, as independent ramdisks would.
    """

    NODE_FIELDS = (
        "uuid",
        "name",
        "provision_state",
        "driver",
        "inspect_interface",
        "inspection_started_at",
    )

    def __init__(
        self,
        ironic_url: str,
        credentials: tuple[str, str] | None,
        *,
        interval: float = 1.0,
        timeout: float = 30.0,
        workers: int = 8,
        on_inspect: InspectCallback | None = None,
    ) -> None:
        self.ironic_url = ironic_url.rstrip("/")
        self.workers = workers
        self._credentials = credentials
        self.interval = interval
        self.timeout = timeout
        self.on_inspect = on_inspect
        self.api_version: str | None = None
        self.inspections: list[Inspection] = []
        self.last_error: str | None = None
        self._answered: set[tuple[str, str]] = set()
        self._attempts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        # Never the credentials.
        return f"FakeAgent(ironic_url={self.ironic_url!r}, interval={self.interval})"

    # -- lifecycle

    def start(self) -> FakeAgent:
        """Run in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="fake-agent", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread and wait for it; a poll in flight finishes first."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise FakeAgentError(f"the fake agent thread did not stop within {timeout} s")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set. Errors are logged and kept in ``last_error``: Ironic
        restarting under the agent must not kill it."""
        while not stop.is_set():
            try:
                self.poll_once()
            except (FakeAgentError, OSError, ValueError) as exc:
                if str(exc) != self.last_error:
                    log.warning("fake agent poll failed: %s", exc)
                self.last_error = str(exc)
            stop.wait(self.interval)

    # -- one round

    def poll_once(self) -> list[Inspection]:
        """List the nodes once and answer every new inspection; returns what was posted."""
        if self.api_version is None:
            self.api_version = self.negotiate_version()
        waiting = [
            node
            for node in self.list_nodes()
            if node.get("provision_state") == "inspect wait"
            and node.get("driver") == "fake-hardware"
            and node.get("inspect_interface") == "agent"
        ]
        keys = {(str(n["uuid"]), str(n.get("inspection_started_at"))) for n in waiting}
        with self._lock:
            # Forget inspections that ended so the bookkeeping stays as small as the fleet.
            self._answered &= keys
            self._attempts = {k: v for k, v in self._attempts.items() if k in keys}
        todo = []
        for node in waiting:
            key = (str(node["uuid"]), str(node.get("inspection_started_at")))
            with self._lock:
                if key not in self._answered and self._attempts.get(key, 0) < MAX_ATTEMPTS:
                    todo.append((node, key))
        if len(todo) <= 1 or self.workers <= 1:
            answers = [self._answer(node, key) for node, key in todo]
        else:
            # Ramdisks are independent machines: under load one post can take seconds, and
            # answering a fleet one by one would make inspection look as slow as the fleet.
            with ThreadPoolExecutor(min(self.workers, len(todo))) as pool:
                answers = list(pool.map(lambda item: self._answer(*item), todo))
        return [a for a in answers if a is not None]

    def _answer(self, node: dict[str, Any], key: tuple[str, str]) -> Inspection | None:
        uuid = str(node["uuid"])
        name = str(node.get("name") or uuid)
        with self._lock:
            self._attempts[key] = self._attempts.get(key, 0) + 1
        try:
            macs = self.port_macs(uuid)
            if not macs:
                raise FakeAgentError(f"node {name} has no port: nothing to report as its NIC")
            hardware = hardware_for(name)
            started = time.monotonic()
            post_inventory(
                self.ironic_url,
                name.rsplit("~", 1)[-1],
                macs[0],
                hardware,
                timeout=self.timeout,
            )
        except FakeAgentError as exc:
            log.warning("fake agent: inspection of %s not answered: %s", name, exc)
            self.last_error = str(exc)
            return None
        inspection = Inspection(
            uuid, name, macs[0], hardware, time.time(), time.monotonic() - started
        )
        with self._lock:
            self._answered.add(key)
            self.inspections.append(inspection)
        log.info(
            "fake agent: posted the inventory of %s (%s) in %.2f s",
            name,
            macs[0],
            inspection.post_seconds,
        )
        if self.on_inspect is not None:
            self.on_inspect(inspection)
        return inspection

    # -- Ironic API

    def negotiate_version(self) -> str:
        """The newest microversion both sides know; Ironic must offer continue_inspection."""
        status, body = self._get("/", auth=False)
        if status != 200:
            raise FakeAgentError(f"GET {self.ironic_url}/ answered {status}", status)
        versions = json.loads(body).get("versions") or [{}]
        server_max = str(versions[0].get("version") or "1.1")
        if _version_tuple(server_max) < _version_tuple(CONTINUE_INSPECTION_VERSION):
            raise FakeAgentError(
                f"Ironic at {self.ironic_url} offers API {server_max}; agent inspection "
                f"needs {CONTINUE_INSPECTION_VERSION} or newer"
            )
        return min(server_max, PREFERRED_API_VERSION, key=_version_tuple)

    def list_nodes(self) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"fields": ",".join(self.NODE_FIELDS), "limit": 1000})
        path: str | None = f"/v1/nodes?{query}"
        nodes: list[dict[str, Any]] = []
        while path:
            status, body = self._get(path)
            if status != 200:
                raise FakeAgentError(f"listing nodes answered {status}", status)
            page = json.loads(body)
            nodes.extend(page.get("nodes", []))
            path = self._relative(page.get("next"))
        return nodes

    def port_macs(self, uuid: str) -> list[str]:
        query = urllib.parse.urlencode({"node_uuid": uuid, "fields": "address"})
        status, body = self._get(f"/v1/ports?{query}")
        if status != 200:
            raise FakeAgentError(f"listing the ports of node {uuid} answered {status}", status)
        return sorted(str(p["address"]).lower() for p in json.loads(body).get("ports", []))

    def _relative(self, link: str | None) -> str | None:
        """Ironic's ``next`` is absolute (its public endpoint); keep our own base URL."""
        if not link:
            return None
        parsed = urllib.parse.urlsplit(link)
        return parsed.path + (f"?{parsed.query}" if parsed.query else "")

    def _get(self, path: str, *, auth: bool = True) -> tuple[int, bytes]:
        request = urllib.request.Request(self.ironic_url + path)
        if self.api_version is not None:
            request.add_header("X-OpenStack-Ironic-API-Version", self.api_version)
        if auth and self._credentials is not None:
            user, password = self._credentials
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()
        except OSError as exc:
            raise FakeAgentError(f"could not reach Ironic at {self.ironic_url}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# CLI


def read_auth_dir(auth_dir: Path) -> tuple[str, str]:
    """Metal3's ``METAL3_AUTH_ROOT_DIR`` layout: ``<dir>/ironic/{username,password}``."""
    try:
        username = (auth_dir / "ironic" / "username").read_text().strip()
        password = (auth_dir / "ironic" / "password").read_text().strip()
    except OSError as exc:
        raise FakeAgentError(
            f"cannot read Ironic credentials from {auth_dir}/ironic/{{username,password}}: "
            f"{exc.strerror}"
        ) from None
    return username, password


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
