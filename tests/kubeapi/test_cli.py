"""``python -m testenv.kubeapi`` serves until SIGTERM and refuses non-loopback addresses."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from testenv.kubeapi import KubeAPIServer

from .helpers import CRD_DIR

REPO = Path(__file__).resolve().parents[2]


def test_standalone_server_prints_url_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "testenv.kubeapi", "--port", "0", "--crds", str(CRD_DIR)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        resources = requests.get(f"{url}/apis/example.com/v1", timeout=5).json()["resources"]
        assert "widgets" in [r["name"] for r in resources]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_non_loopback_hosts_are_refused() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        KubeAPIServer(host="0.0.0.0")
    proc = subprocess.run(
        [sys.executable, "-m", "testenv.kubeapi", "--host", "10.0.0.1", "--port", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "non-loopback" in proc.stderr
