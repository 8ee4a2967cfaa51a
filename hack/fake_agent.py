"""What an ironic-python-agent ramdisk says to Ironic, without a ramdisk.

Ironic's fake inspect interface stores no hardware data, so nothing downstream (bmo's
HardwareDetails, root-device hints) can be exercised with it. A node with
``inspect_interface="agent"`` instead waits in ``inspect wait`` for a ramdisk to post its
inventory to ``/v1/continue_inspection``; :func:`post_inventory` is that post. It needs no
credentials: Ironic leaves the ramdisk endpoints public, exactly as a real agent sees them.

Standard library only, so it runs from bmo's venv, from tests and from a later watcher loop.
"""

from __future__ import annotations

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
class FakeHardware:
    """The machine the fake agent describes; defaults are a small x86_64 UEFI server."""

    cpu_count: int = 2
    cpu_model: str = "Fake CPU"
    cpu_arch: str = "x86_64"
    memory_mb: int = 4096
    disk_name: str = "/dev/sda"
    disk_size_bytes: int = 50 * 1024**3
    disk_rotational: bool = False
    disk_serial: str = "fake-serial-1"
    vendor: str = "Fake Inc."
    product: str = "Fake Product"
    serial_number: str = "SN-1"
    boot_mode: str = "uefi"


def build_inventory(
    mac: str, hostname: str, hardware: FakeHardware = FakeHardware()
) -> dict[str, Any]:
    """An IPA-style continue_inspection body (notes §5).

    Two traps shaped it: ``boot.pxe_interface`` must be the MAC of one listed interface (the
    default ``add_ports = pxe`` hook looks it up), and an interface with a loopback IP is
    skipped as "local", so ``ipv4_address`` stays null.
    """
    mac = mac.lower()
    return {
        "inventory": {
            "interfaces": [
                {
                    "name": "eth0",
                    "mac_address": mac,
                    "ipv4_address": None,
                    "has_carrier": True,
                    "lldp": None,
                    "vendor": "0x1af4",
                    "product": "0x0001",
                }
            ],
            "cpu": {
                "model_name": hardware.cpu_model,
                "frequency": "2400",
                "count": hardware.cpu_count,
                "architecture": hardware.cpu_arch,
                "flags": ["vmx"],
            },
            "memory": {
                "total": hardware.memory_mb * 1024 * 1024,
                "physical_mb": hardware.memory_mb,
            },
            "disks": [
                {
                    "name": hardware.disk_name,
                    "model": "FAKE DISK",
                    "size": hardware.disk_size_bytes,
                    "rotational": hardware.disk_rotational,
                    "serial": hardware.disk_serial,
                    "vendor": "FAKE",
                    "hctl": "0:0:0:0",
                    "by_path": "/dev/disk/by-path/fake-0",
                }
            ],
            "bmc_address": "",
            "bmc_v6address": "::/0",
            "system_vendor": {
                "product_name": hardware.product,
                "serial_number": hardware.serial_number,
                "manufacturer": hardware.vendor,
            },
            "boot": {"current_boot_mode": hardware.boot_mode, "pxe_interface": mac},
            "hostname": hostname,
        },
        "root_disk": {"name": hardware.disk_name, "size": hardware.disk_size_bytes},
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
