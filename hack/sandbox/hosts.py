"""The sample BareMetalHosts a sandbox applies, their Secrets, and the image it provisions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testenv.ironic import LOOPBACK, FakeSystem, SushyEmulator

NAMESPACE = "default"
DEMO_IMAGE = "demo.qcow2"


@dataclass(frozen=True)
class HostSpec:
    """One sample BareMetalHost and the Secret holding its BMC credentials."""

    name: str
    bmc_address: str
    mac: str
    externally_provisioned: bool = False
    redfish: bool = False

    @property
    def secret_name(self) -> str:
        return f"{self.name}-bmc-secret"

    @property
    def provisionable(self) -> bool:
        """The demo provisions ``fake://`` hosts only: a Redfish deploy needs a real ISO."""
        return not self.redfish and not self.externally_provisioned


def sample_hosts(
    fake_hosts: int, sushy_url: str | None, systems: Sequence[FakeSystem]
) -> list[HostSpec]:
    """``fake_hosts`` ``fake://`` hosts (the last one externally provisioned when there are
    two or more) plus one Redfish virtual-media host per emulated system."""
    hosts = [
        HostSpec(
            name=f"host-{i}",
            bmc_address=f"fake://{LOOPBACK}/host-{i}",
            mac=f"52:54:00:10:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}",
            externally_provisioned=fake_hosts >= 2 and i == fake_hosts - 1,
        )
        for i in range(fake_hosts)
    ]
    if sushy_url is not None:
        hosts += [
            HostSpec(
                name=f"redfish-{i}",
                bmc_address=(
                    f"redfish-virtualmedia+{sushy_url}{SushyEmulator.system_path(system.uuid)}"
                ),
                mac=system.mac,
                redfish=True,
            )
            for i, system in enumerate(systems)
        ]
    return hosts


def render_manifests(hosts: Sequence[HostSpec], password: str) -> list[dict[str, Any]]:
    """Secrets and BareMetalHosts as ``kubectl apply`` takes them.

    Redfish hosts skip automated cleaning and inspection: both need an agent ramdisk, and a
    system of sushy-tools' fake driver boots nothing.
    """
    docs: list[dict[str, Any]] = []
    for host in hosts:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": host.secret_name, "namespace": NAMESPACE},
                "type": "Opaque",
                "stringData": {"username": "admin", "password": password},
            }
        )
        spec: dict[str, Any] = {
            "online": True,
            "bootMACAddress": host.mac,
            "bootMode": "UEFI",
            "bmc": {"address": host.bmc_address, "credentialsName": host.secret_name},
        }
        if host.externally_provisioned:
            spec["externallyProvisioned"] = True
        if host.redfish:
            spec["automatedCleaningMode"] = "disabled"
            spec["inspectionMode"] = "disabled"
        docs.append(
            {
                "apiVersion": "metal3.io/v1alpha1",
                "kind": "BareMetalHost",
                "metadata": {
                    "name": host.name,
                    "namespace": NAMESPACE,
                    "labels": {"bmo.sandbox/demo": "true"},
                },
                "spec": spec,
            }
        )
    return docs


def write_demo_image(http_root: Path) -> tuple[str, str]:
    """A small file to serve as the image; returns (path under http_root, sha256).

    fake-hardware never downloads it, but a URL that answers and a checksum that matches
    keep the demo honest for anyone who tries it by hand.
    """
    images = http_root / "images"
    images.mkdir(parents=True, exist_ok=True)
    data = b"QFI\xfb" + b"\0" * (64 * 1024 - 4)
    (images / DEMO_IMAGE).write_bytes(data)
    return f"images/{DEMO_IMAGE}", hashlib.sha256(data).hexdigest()
