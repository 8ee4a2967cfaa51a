"""The package as users get it: a wheel with the ``bmo`` entry point, and the files the
Containerfile copies. No container engine runs on these machines, so this checks what can
be checked without one."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        cwd=ROOT,
    )
    (found,) = out.glob("bmo-*.whl")
    return found


def test_wheel_declares_bmo_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        entry_points = next(n for n in zf.namelist() if n.endswith("entry_points.txt"))
        text = zf.read(entry_points).decode()
    assert re.search(r"^bmo = bmo\.cli:main$", text, re.M), text
    assert re.search(r"^baremetal-operator = bmo\.compat:main$", text, re.M), text


def test_wheel_ships_only_the_bmo_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        top = {n.split("/")[0] for n in zf.namelist()}
    assert "bmo" in top
    assert not top & {"hack", "tests", "config"}, top


def test_entrypoint_runs_from_the_wheel(wheel: Path) -> None:
    # A wheel is an importable zip: run the package from it, not from the checkout.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "import bmo, bmo.cli; assert bmo.__file__.startswith(sys.argv[1]), bmo.__file__; "
            "raise SystemExit(bmo.cli.main(['--version']))",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        cwd="/",
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("bmo "), out.stdout


def test_containerfile_copies_files_that_exist() -> None:
    text = (ROOT / "Containerfile").read_text()
    sources = []
    for line in text.splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            sources += line.split()[1:-1]
    assert sources, "no COPY lines found"
    for src in sources:
        assert (ROOT / src).exists(), f"Containerfile copies {src}, which does not exist"
    assert re.search(r"^USER 65532", text, re.M), "image must run as non-root"
    assert '"bmo"' in text
