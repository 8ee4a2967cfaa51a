"""What the fixture provisioner's inspection "finds": plausible, stable hardware details.

Kept apart from :mod:`bmo.provisioner.fixture` (which re-exports it) because it is data, not
behaviour: the fixture's verbs only decide *when* inspection completes, this decides *what*
it reports, as upstream ``pkg/provisioner/fixture/fixture.go`` ``InspectHardware`` fills in a
fixed ``HardwareDetails``.
"""

from __future__ import annotations

from bmo.api.hardware import (
    BIOS,
    CPU,
    NIC,
    Firmware,
    HardwareDetails,
    HardwareSystemVendor,
    Storage,
)
from bmo.provisioner.types import HostData

__all__ = ["default_hardware_details"]


def default_hardware_details(host_data: HostData, architecture: str = "") -> HardwareDetails:
    """Plausible inspection results for a host, stable for a given host."""
    mac = host_data.boot_mac_address or "00:00:5e:00:53:01"
    return HardwareDetails(
        system_vendor=HardwareSystemVendor(
            manufacturer="bmo fixture",
            product_name="Virtual Machine",
            serial_number=f"fixture-{host_data.namespace}-{host_data.name}",
        ),
        firmware=Firmware(bios=BIOS(date="01/01/2024", vendor="bmo", version="1.0")),
        ram_mebibytes=16384,
        nics=(
            NIC(
                name="eth0",
                model="0x1af4 0x0001",
                mac=mac,
                ip="192.0.2.10",
                speed_gbps=10,
                pxe=True,
            ),
            NIC(name="eth1", model="0x1af4 0x0001", mac="00:00:5e:00:53:02", speed_gbps=10),
        ),
        storage=(
            Storage(
                name="/dev/sda",
                alternate_names=("/dev/sda",),
                type="SSD",
                size_bytes=500 * 1024**3,
                vendor="bmo",
                model="fixture disk",
                serial_number="disk-0",
                hctl="0:0:0:0",
            ),
        ),
        cpu=CPU(
            arch=architecture or "x86_64",
            model="Fixture CPU",
            clock_megahertz=2400.0,
            flags=("fpu", "sse2", "vmx"),
            count=4,
        ),
        hostname=host_data.name,
    )
