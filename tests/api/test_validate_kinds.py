"""``bmo validate`` for every kind bmo ships a CRD for: schema checks for all, and the
webhook rules where upstream has a webhook (DataImage, BMCEventSubscription,
HostFirmwareComponents, HostFirmwareSettings against a FirmwareSchema in the same input)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmo.cli import main
from bmo.commands.validate import KINDS

SAMPLES = Path(__file__).resolve().parents[2] / "config" / "samples"

HEAD = "apiVersion: metal3.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n"


def doc(kind: str, name: str, body: str) -> str:
    return HEAD.format(kind=kind, name=name) + body


def run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path = tmp_path / "input.yaml"
    path.write_text(text)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.out.replace(f"{path}: ", ""), captured.err


def test_every_kind_has_a_valid_sample(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in SAMPLES.glob("*.yaml") if p.name != "kustomization.yaml")
    assert main(["validate", *files]) == 0
    out = capsys.readouterr().out
    for kind in set(KINDS) - {"HardwareData"}:
        assert f"1 {kind}(s)" in out


def test_hardware_data_schema_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        tmp_path, doc("HardwareData", "h", "spec:\n  hardware:\n    ramMebibytes: lots\n"), capsys
    )
    assert code == 1
    assert out.startswith("HardwareData default/h: spec.hardware.ramMebibytes: ")


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        ("FirmwareSchema", "spec:\n  schema: {}\n  extra: 1\n", "spec.extra: unknown field"),
        (
            "HostUpdatePolicy",
            "spec:\n  firmwareSettings: sometimes\n",
            'spec.firmwareSettings: Unsupported value: "sometimes"',
        ),
        (
            "PreprovisioningImage",
            "spec:\n  acceptFormats: [floppy]\n",
            'spec.acceptFormats[0]: Unsupported value: "floppy"',
        ),
    ],
)
def test_schema_only_kinds_report_schema_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, body: str, expected: str
) -> None:
    code, out, err = run(tmp_path, doc(kind, "x", body), capsys)
    assert code == 1, out
    assert f"{kind} default/x: {expected}" in out
    assert f"problem(s) in 1 {kind}(s)" in err


def test_data_image_url_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, doc("DataImage", "h", "spec:\n  url: file:///x.iso\n"), capsys)
    assert code == 1
    assert out == (
        'DataImage default/h: spec.url: URL "file:///x.iso" is invalid: invalid scheme in URL, '
        '"file" not allowed\n'
    )


def test_subscription_create_rules_use_the_default_namespace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        "spec:\n  hostName: h\n  destination: http://192.0.2.1\n"
        "  httpHeadersRef:\n    name: hdrs\n    namespace: other\n"
    )
    code, out, _ = run(tmp_path, doc("BMCEventSubscription", "s", body), capsys)
    assert code == 1
    assert out.splitlines() == [
        "BMCEventSubscription default/s: spec.httpHeadersRef.namespace: httpHeadersRef secret "
        "must be in the same namespace as the BMCEventSubscription",
        "BMCEventSubscription default/s: spec.destination: hostname-only destination must "
        "have a trailing slash",
    ]
    same = body.replace("namespace: other", "namespace: default").replace("1\n", "1/\n", 1)
    assert run(tmp_path, doc("BMCEventSubscription", "s", same), capsys)[0] == 0


def test_firmware_components_url_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = "spec:\n  updates:\n    - component: bios\n      url: file:///bios.bin\n"
    code, out, _ = run(tmp_path, doc("HostFirmwareComponents", "h", body), capsys)
    assert code == 1
    assert out == (
        'HostFirmwareComponents default/h: spec.updates: invalid URL "file:///bios.bin" in '
        'FirmwareUpdate in component "bios": invalid scheme in URL, "file" not allowed\n'
    )


SCHEMA = doc(
    "FirmwareSchema",
    "schema-1",
    "spec:\n  schema:\n    Count:\n      attribute_type: Integer\n      lower_bound: 0\n"
    "      upper_bound: 5\n",
)


def test_firmware_settings_checked_against_a_schema_in_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = doc("HostFirmwareSettings", "h", "spec:\n  settings:\n    Count: 9\n")
    code, out, _ = run(tmp_path, settings + "---\n" + SCHEMA, capsys)
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith("HostFirmwareSettings default/h: spec.settings[Count]: ")
    assert "Count" in line
    # Without a schema only the name rules run: the same value passes.
    assert run(tmp_path, settings, capsys)[0] == 0


def test_firmware_settings_password_is_always_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = doc("HostFirmwareSettings", "h", "spec:\n  settings:\n    AdminPassword: x\n")
    code, out, _ = run(tmp_path, settings, capsys)
    assert code == 1
    assert out == (
        "HostFirmwareSettings default/h: spec.settings[AdminPassword]: cannot set Password field\n"
    )


def test_wrong_api_version_is_reported_for_any_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = doc("DataImage", "h", "spec:\n  url: http://x/y.iso\n").replace(
        "metal3.io/v1alpha1", "metal3.io/v1"
    )
    code, out, _ = run(tmp_path, text, capsys)
    assert code == 1
    assert "DataImage default/h: apiVersion: Unsupported value: 'metal3.io/v1'" in out
