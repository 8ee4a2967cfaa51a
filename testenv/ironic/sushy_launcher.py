"""Run sushy-tools' emulator with the hardware facts its fake driver lacks.

sushy-tools' ``FakeDriver`` implements no processors, CPU count, memory or simple storage, so
the System resource has no ``Processors`` link and Ironic's Redfish inspection fails with
"The attribute Processors is missing from the resource". This launcher adds those four
methods (values from the optional ``cpus``, ``memory_gb`` and ``disk_gb`` keys of each entry
in ``SUSHY_EMULATOR_FAKE_SYSTEMS``) and then hands over to sushy-tools' own ``main()``.

It runs with the Ironic venv's interpreter (``.cache/ironic/venv/bin/python -P``), never
bmo's; ``-P`` keeps this folder off ``sys.path`` so its modules shadow nothing.
"""

from __future__ import annotations

from typing import Any

from sushy_tools.emulator import main as emulator_main
from sushy_tools.emulator.resources.systems.fakedriver import FakeDriver


def _system(driver: Any, identity: str) -> dict[str, Any]:
    system: dict[str, Any] = driver._get(identity)
    return system


def get_total_cpus(self: Any, identity: str) -> int:
    return int(_system(self, identity).get("cpus", 2))


def get_total_memory(self: Any, identity: str) -> int:
    """In GiB, as the emulator's System template expects."""
    return int(_system(self, identity).get("memory_gb", 8))


def get_processors(self: Any, identity: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"CPU{index}",
            "Id": f"CPU{index}",
            "socket": f"CPU {index}",
            "vendor": "Fake Inc.",
            "model": "Fake CPU",
            "cores": 1,
            "threads": 1,
        }
        for index in range(get_total_cpus(self, identity))
    ]


def get_simple_storage_collection(self: Any, identity: str) -> dict[str, dict[str, Any]]:
    size = int(_system(self, identity).get("disk_gb", 100)) * 1024**3
    return {
        "fake-sata": {
            "Id": "fake-sata",
            "Name": "Fake SATA",
            "DeviceList": [{"Name": "disk0", "CapacityBytes": size}],
        }
    }


def patch_fake_driver() -> None:
    FakeDriver.get_total_cpus = get_total_cpus
    FakeDriver.get_total_memory = get_total_memory
    FakeDriver.get_processors = get_processors
    FakeDriver.get_simple_storage_collection = get_simple_storage_collection


if __name__ == "__main__":
    patch_fake_driver()
    emulator_main.main()
