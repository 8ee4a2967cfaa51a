"""``bmo validate``: the shared examples pass; bad manifests fail with located messages."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from bmo.api.firmware import FirmwareUpdate, SettingSchema
from bmo.api.firmware_rules import (
    component_name_error,
    firmware_update_url_errors,
    validate_setting,
)
from bmo.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
EXAMPLES = SHARED / "reference" / "examples"


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml")) if EXAMPLES.is_dir() else []


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"reference examples not found at {EXAMPLES}")
@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_reference_example_is_valid(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 BareMetalHost(s) valid")


BAD = """\
apiVersion: v1
kind: Secret
metadata:
  name: bad-bmc
stringData:
  username: u
  password: p
---
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata:
  name: bad~host
  namespace: lab
spec:
  online: false
  disablePowerOff: true
  bootMode: BIOS
  bmc:
    address: libvirt://127.0.0.1
    credentialsName: bad-bmc
  unknownThing: 1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ignored
"""


def test_bad_manifest_reports_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    assert main(["validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    prefix = f"{path}: BareMetalHost lab/bad~host: "
    assert all(line.startswith(prefix) for line in lines)
    assert sorted(line[len(prefix) :] for line in lines) == sorted(
        [
            'spec.bootMode: Unsupported value: "BIOS": supported values: "UEFI", '
            '"UEFISecureBoot", "legacy"',
            "spec.unknownThing: unknown field",
            "spec.bootMACAddress: BMC driver libvirt requires a BootMACAddress value",
            "metadata.name: BareMetalHost resource name cannot contain characters other than "
            "[A-Za-z0-9._-]",
            "spec.disablePowerOff: node can't simultaneously have online set to false and have "
            "power off disabled",
        ]
    )


def test_stdin_and_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = (
        BAD.split("---\n", maxsplit=1)[0]
        + "---\n"
        + (
            "apiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: ok\n"
            "spec:\n  online: true\n  bootMACAddress: 52:54:00:12:34:56\n"
            "  bmc:\n    address: ipmi://127.0.0.1\n    credentialsName: bad-bmc\n"
        )
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(manifest))
    assert main(["validate", "-"]) == 0
    assert capsys.readouterr().out == "1 BareMetalHost(s) valid\n"


def test_missing_secret_is_noted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.yaml"
    path.write_text(
        "apiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: h\n"
        "spec:\n  online: true\n  bmc:\n    address: redfish://127.0.0.1\n"
        "    credentialsName: h-bmc\n"
    )
    assert main(["validate", str(path)]) == 0
    assert "credentials Secret(s) not in these files: default/h-bmc" in capsys.readouterr().out


def test_development_drivers_flag(tmp_path: Path) -> None:
    path = tmp_path / "fake.yaml"
    path.write_text(
        "apiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: f\n"
        "spec:\n  online: true\n  bootMACAddress: 00:11:22:33:44:55\n"
        "  bmc:\n    address: fake://127.0.0.1\n    credentialsName: c\n"
    )
    assert main(["validate", str(path)]) == 1
    assert main(["validate", "--development-drivers", str(path)]) == 0


def test_unreadable_and_bad_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: [unclosed\n")
    assert main(["validate", str(bad)]) == 2
    assert "invalid YAML" in capsys.readouterr().err
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    assert main(["validate", str(scalar)]) == 2
    assert "must be a mapping" in capsys.readouterr().err


# --- firmware kinds ------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "config" / "samples"


def test_firmware_samples_are_valid_together(capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        SAMPLES / name
        for name in (
            "firmwareschema.yaml",
            "hostfirmwaresettings.yaml",
            "hostfirmwarecomponents.yaml",
            "hostupdatepolicy.yaml",
        )
    ]
    assert main(["validate", *map(str, files)]) == 0
    assert capsys.readouterr().out == (
        "1 HostFirmwareSettings(s), 1 FirmwareSchema(s), 1 HostFirmwareComponents(s), "
        "1 HostUpdatePolicy(s) valid\n"
    )


FIRMWARE_BAD = """\
apiVersion: metal3.io/v1alpha1
kind: FirmwareSchema
metadata:
  name: schema-0000abcd
  namespace: lab
spec:
  schema:
    ProcTurboMode:
      attribute_type: Enumeration
      allowable_values: [Enabled, Disabled]
    NumCores:
      attribute_type: Integer
      lower_bound: 1
      upper_bound: 64
---
apiVersion: metal3.io/v1alpha1
kind: HostFirmwareSettings
metadata:
  name: node-1
  namespace: lab
spec:
  settings:
    ProcTurboMode: Turbo
    NumCores: 99
    BootPassword: x
---
apiVersion: metal3.io/v1alpha1
kind: HostFirmwareComponents
metadata:
  name: node-1
  namespace: lab
spec:
  updates:
    - component: raid
      url: ftp://192.0.2.5/raid.bin
---
apiVersion: metal3.io/v1alpha1
kind: HostUpdatePolicy
metadata:
  name: node-1
  namespace: lab
spec:
  firmwareSettings: always
"""


def test_firmware_problems_are_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fw.yaml"
    path.write_text(FIRMWARE_BAD)
    assert main(["validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    schema = {
        "ProcTurboMode": SettingSchema(
            attribute_type="Enumeration", allowable_values=("Enabled", "Disabled")
        ),
        "NumCores": SettingSchema(attribute_type="Integer", lower_bound=1, upper_bound=64),
    }
    hfs = f"{path}: HostFirmwareSettings lab/node-1: "
    hfc = f"{path}: HostFirmwareComponents lab/node-1: "
    update = FirmwareUpdate("raid", "ftp://192.0.2.5/raid.bin")
    (url_error,) = firmware_update_url_errors([update])
    assert [line for line in lines if not line.startswith(f"{path}: HostUpdatePolicy")] == [
        f"{hfs}spec.settings[BootPassword]: cannot set Password field",
        f"{hfs}spec.settings[NumCores]: {validate_setting('NumCores', 99, schema)}",
        f"{hfs}spec.settings[ProcTurboMode]: {validate_setting('ProcTurboMode', 'Turbo', schema)}",
        f"{hfc}spec.updates: {url_error}",
        f"{hfc}spec.updates: {component_name_error([update])}",
    ]
    (policy,) = [line for line in lines if line.startswith(f"{path}: HostUpdatePolicy")]
    assert "spec.firmwareSettings" in policy and "always" in policy


def test_settings_without_a_schema_only_get_the_name_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hfs.yaml"
    path.write_text(FIRMWARE_BAD.split("---\n")[1])
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: HostFirmwareSettings lab/node-1: spec.settings[BootPassword]: "
        "cannot set Password field"
    ]
