"""What one ironic-python-agent ramdisk reports: the machine, its inventory, and the post.

Ironic's fake inspect interface stores no hardware data, so nothing downstream (bmo's
HardwareDetails, root-device hints) can be exercised with it. A node with
``inspect_interface="agent"`` instead waits in ``inspect wait`` for a ramdisk to post its
inventory to ``/v1/continue_inspection``; :func:`post_inventory` is that post. It needs no
credentials: Ironic leaves the ramdisk endpoints public, exactly as a real agent sees them.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

CONTINUE_INSPECTION_VERSION = "1.84"


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
    """The body ironic-python-agent posts to ``/v1/continue_inspection``: its inventory
    (interfaces, cpu, memory, disks, system_vendor, boot), root disk and boot interface.

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
