"""The shared 46 Kubernetes API conformance checks, run against a fresh emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from xml.etree import ElementTree

import pytest

from testenv.kubeapi import KubeAPIServer

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "k8s-api-conformance"


@pytest.mark.slow
def test_emulator_passes_the_shared_conformance_checks(tmp_path: Path) -> None:
    if not (SHARED / "test_semantics.py").is_file():
        pytest.skip(f"shared conformance checks not found at {SHARED}")
    with KubeAPIServer() as srv:
        # PYTHONFAULTHANDLER: a crash at interpreter shutdown (SIGABRT) prints every thread.
        env = {
            **os.environ,
            "K8S_URL": srv.url,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONFAULTHANDLER": "1",
        }
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={tmp_path / 'report.xml'}",
                str(SHARED),
            ],
            cwd=SHARED,
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    out = proc.stdout + proc.stderr
    assert re.search(r"\b46 passed\b", out), out[-4000:]
    if proc.returncode < 0:
        # Killed by a signal after its report was written: on a loaded machine the client
        # process has aborted (SIGABRT) during interpreter teardown, after every check had
        # passed. The verdict is the report pytest wrote before exiting; the abort is shown.
        suite = ElementTree.parse(tmp_path / "report.xml").getroot().find("testsuite")
        assert suite is not None, out[-4000:]
        counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors")}
        assert counts == {"tests": 46, "failures": 0, "errors": 0}, (counts, out[-4000:])
        warnings.warn(
            f"conformance client exited {proc.returncode} after passing: {out[-2000:]}",
            stacklevel=1,
        )
        return
    assert proc.returncode == 0, out[-4000:]
