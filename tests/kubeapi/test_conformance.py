"""The shared 46 Kubernetes API conformance checks, run against a fresh emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from testenv.kubeapi import KubeAPIServer

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "k8s-api-conformance"


@pytest.mark.slow
def test_emulator_passes_the_shared_conformance_checks() -> None:
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
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SHARED)],
            cwd=SHARED,
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(r"\b46 passed\b", out), out[-4000:]
