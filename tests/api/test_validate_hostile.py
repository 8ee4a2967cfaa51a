"""``bmo validate`` on hostile files: documented exit codes, one line naming the file, never a
traceback (before: ``RecursionError`` / ``ValueError`` tracebacks and exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmo.cli import main

HOST = """\
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata:
  name: h
  namespace: lab
{annotations}spec:
  online: {online}
"""


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output
    return code, output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 20000 + "]" * 20000, "deeper than 100 levels"),
        # PyYAML's scanner is quadratic in flow depth: refused at the limit, not parsed.
        ("[" * 500_000, "deeper than 100 levels"),
        (
            "apiVersion: v1\nkind: BareMetalHost\nspec: " + "{a: " * 3000 + "1" + "}" * 3000,
            "deeper than 100 levels",
        ),
        (HOST.format(annotations="", online="9" * 5000), "thousands of digits"),
        ("kind: [unclosed", "invalid YAML"),
    ],
    ids=["deep sequence", "half a megabyte of [", "deep mapping", "5000-digit number", "bad YAML"],
)
def test_unreadable_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, output = _run(tmp_path, text, capsys)
    assert code == 2
    assert message in output and "in.yaml" in output


def test_hostile_annotation_is_a_problem_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    annotations = "  annotations:\n    baremetalhost.metal3.io/detached: '" + "[" * 30000 + "'\n"
    code, output = _run(tmp_path, HOST.format(annotations=annotations, online="true"), capsys)
    assert code == 1
    assert "baremetalhost.metal3.io/detached" in output and "nested deeper" in output


def test_metadata_of_the_wrong_type_is_a_problem_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "apiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata: x\nspec: {online: true}\n"
    )
    code, _ = _run(tmp_path, text, capsys)
    assert code == 1


def test_missing_file_and_non_utf8_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path / "absent.yaml")]) == 2
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"kind: \xff\n")
    assert main(["validate", str(binary)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    out = capsys.readouterr().out
    for line in ("0  every object is valid", "1  at least one", "2  a file could not"):
        assert line in out
