"""Run sushy-tools' emulator with the hardware facts its fake driver lacks.

sushy-tools' ``FakeDriver`` implements no processors, CPU count, memory or simple storage, so
the System resource has no ``Processors`` link and Ironic's Redfish inspection fails with
"The attribute Processors is missing from the resource". This launcher adds those four
methods (values from the optional ``cpus``, ``memory_gb`` and ``disk_gb`` keys of each entry
in ``SUSHY_EMULATOR_FAKE_SYSTEMS``) and then hands over to sushy-tools' own ``main()``.

It also gives the fake systems a BIOS and firmware versions, which the stock fake driver
lacks (so Ironic's ``redfish`` bios interface reports no settings and
``bios.apply_configuration`` fails with "BIOS settings are not supported"):
``get_bios``/``set_bios``/``reset_bios`` keep the attributes in the system's persistent
state (defaults: the attribute set of sushy-tools' libvirt driver, which is exactly what the
emulator's own BIOS attribute registry describes), and ``get_versions``/``set_versions``/
``reset_versions`` a ``BiosVersion``, so the System shows ``BiosVersion`` and the emulator's
``UpdateService.SimpleUpdate`` can bump it. Ironic then reads settings with their registry
(``GET /v1/nodes/{n}/bios?detail=True``), applies ``bios.apply_configuration`` out of band,
and lists ``bios`` and ``bmc`` firmware components. Optional per-system keys ``bios`` and
``bios_version`` override the defaults.

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


#: sushy-tools' ``LibvirtDriver.DEFAULT_BIOS_ATTRIBUTES``: the attributes its BIOS registry
#: template (``bios_registry.json``) describes. Copied because importing the libvirt driver
#: needs the libvirt bindings.
DEFAULT_BIOS_ATTRIBUTES: dict[str, str] = {
    "BootMode": "Uefi",
    "EmbeddedSata": "Raid",
    "L2Cache": "10x256 KB",
    "NicBoot1": "NetworkBoot",
    "NumCores": "10",
    "QuietBoot": "true",
    "ProcTurboMode": "Enabled",
    "SecureBootStatus": "Enabled",
    "SerialNumber": "QPX12345",
    "SysPassword": "",
}
DEFAULT_BIOS_VERSION = "1.0.0"


def _defaults(driver: Any, identity: str) -> dict[str, str]:
    configured = _system(driver, identity).get("bios")
    return {**DEFAULT_BIOS_ATTRIBUTES, **(configured or {})}


def get_bios(self: Any, identity: str) -> dict[str, Any]:
    stored = _system(self, identity).get("bios_attributes")
    return dict(stored) if stored is not None else _defaults(self, identity)


def set_bios(self: Any, identity: str, attributes: dict[str, Any]) -> None:
    """Applied at once (a real BMC applies at the next reboot; Ironic checks after one)."""
    current = get_bios(self, identity)
    current.update(attributes or {})
    self._update(identity, bios_attributes=current)


def reset_bios(self: Any, identity: str) -> None:
    self._update(identity, bios_attributes=_defaults(self, identity))


def get_versions(self: Any, identity: str) -> dict[str, str]:
    system = _system(self, identity)
    stored = system.get("firmware_versions")
    if stored is not None:
        return dict(stored)
    return {"BiosVersion": str(system.get("bios_version") or DEFAULT_BIOS_VERSION)}


def set_versions(self: Any, identity: str, firmware_versions: dict[str, str]) -> None:
    current = get_versions(self, identity)
    current.update(firmware_versions or {})
    self._update(identity, firmware_versions=current)


def reset_versions(self: Any, identity: str) -> None:
    self._update(identity, firmware_versions=None)


def patch_fake_driver() -> None:
    FakeDriver.get_total_cpus = get_total_cpus
    FakeDriver.get_total_memory = get_total_memory
    FakeDriver.get_processors = get_processors
    FakeDriver.get_simple_storage_collection = get_simple_storage_collection
    FakeDriver.get_bios = get_bios
    FakeDriver.set_bios = set_bios
    FakeDriver.reset_bios = reset_bios
    FakeDriver.get_versions = get_versions
    FakeDriver.set_versions = set_versions
    FakeDriver.reset_versions = reset_versions


def simple_update() -> tuple[str, int, dict[str, str]] | tuple[str, int]:
    """``UpdateService.SimpleUpdate`` accepting a request without ``Targets``.

    Ironic's redfish firmware interface sends only ``ImageURI`` for a BIOS update (the
    target is implied), which stock sushy-tools rejects with 400 "Missing ImageURI and/or
    Targets". Without targets every system's ``BiosVersion`` minor number is bumped, as the
    stock handler does for each target; the image is never downloaded.
    """
    flask = emulator_main.flask  # the emulator's own (bmo's venv has no Flask)
    body = flask.request.get_json(silent=True) or {}
    if not body.get("ImageURI"):
        return flask.render_template("error.json", message="Missing ImageURI."), 400
    systems = emulator_main.app.systems
    targets = body.get("Targets") or [f"/redfish/v1/Systems/{u}" for u in systems.systems]
    for target in targets:
        if "Manager" in target:
            continue  # the BMC keeps its version, as with stock sushy-tools
        identity = str(target).rstrip("/").rsplit("/", 1)[-1]
        version = systems.get_versions(identity).get("BiosVersion") or DEFAULT_BIOS_VERSION
        parts = version.split(".")
        parts[1] = str(int(parts[1]) + 1)
        systems.set_versions(identity, {"BiosVersion": ".".join(parts)})
    return "", 204, {"Location": "/redfish/v1/TaskService/Tasks/42"}


def patch_update_service() -> None:
    endpoint = "UpdateService.update_service_simple_update"
    emulator_main.app.view_functions[endpoint] = simple_update


if __name__ == "__main__":
    patch_fake_driver()
    patch_update_service()
    emulator_main.main()
