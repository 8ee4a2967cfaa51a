"""The sandbox's firmware walk-through: a BIOS setting changed on the Redfish host.

The host's HostFirmwareSettings (created by bmo at registration) lists what Ironic read
from the sushy-tools BIOS; the walk-through asks for the other value of one setting through
``spec.settings``, bmo takes the available host through ``preparing`` (manual cleaning with
``bios.apply_configuration`` on the Redfish BMC) and the new value shows in
``status.settings``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, Final

from hack.sandbox.errors import PhaseTimeoutError
from hack.sandbox.hosts import NAMESPACE

if TYPE_CHECKING:
    from hack.sandbox.session import Sandbox

#: A setting the emulator's BIOS registry allows to change (Enabled/Disabled).
BIOS_SETTING: Final = "ProcTurboMode"


def read_settings(session: Sandbox, name: str) -> dict[str, Any]:
    """The HostFirmwareSettings of ``name`` as JSON, ``{}`` while it does not exist."""
    url = (
        f"{session.kube_url}/apis/metal3.io/v1alpha1/namespaces/{NAMESPACE}"
        f"/hostfirmwaresettings/{name}"
    )
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            found: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return {}
        raise
    return found


def _reported(session: Sandbox, name: str) -> str:
    status = read_settings(session, name).get("status") or {}
    return str((status.get("settings") or {}).get(BIOS_SETTING) or "")


def apply_bios_setting(session: Sandbox, name: str, timeout: float) -> None:
    """Flip :data:`BIOS_SETTING` on ``name`` and wait until Ironic reports the new value."""
    end = time.monotonic() + timeout
    while not (current := _reported(session, name)):
        session.check_children()
        if time.monotonic() > end:
            raise PhaseTimeoutError(
                f"HostFirmwareSettings {name} has no {BIOS_SETTING} in status.settings after "
                f"{timeout:.0f} s; see {session.bmo_log}"
            )
        time.sleep(session.options.interval)
    schema = ((read_settings(session, name).get("status") or {}).get("schema") or {}).get("name")
    session.say(
        f"{session.stamp()} {name}: status.settings.{BIOS_SETTING}={current} "
        f"(FirmwareSchema {schema})"
    )
    wanted = "Disabled" if current == "Enabled" else "Enabled"
    patch = json.dumps({"spec": {"settings": {BIOS_SETTING: wanted}}})
    session.kubectl("patch", "hostfirmwaresettings", name, "--type", "merge", "-p", patch)
    session.say(
        f"{session.stamp()} kubectl patch hostfirmwaresettings {name} --type merge -p '{patch}'"
    )
    session.watch_until(
        f"{BIOS_SETTING}={wanted} applied",
        [name],
        lambda state: state in ("available", "ready"),
        max(end - time.monotonic(), 1.0),
        also=lambda: _reported(session, name) == wanted,
    )
    session.say(
        f"{session.stamp()} {name}: status.settings.{BIOS_SETTING}={wanted}, applied by "
        "manual cleaning on the Redfish BMC"
    )
