"""The local sandbox (hack/sandbox): the demo end to end, and clean shutdown on SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from hack.sandbox import render_manifests, sample_hosts
from testenv.ironic import is_installed

REPO = Path(__file__).resolve().parents[2]


def _require_sandbox_tools() -> None:
    if not is_installed():
        pytest.skip("the local Ironic is not installed: run ./hack/test.sh first")
    if shutil.which("kubectl") is None:
        pytest.skip("no kubectl binary on PATH (hack/lib/setup.sh installs one)")


def _processes_mentioning(*needles: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(n in cmdline for n in needles):
            found.append(f"{entry.name}: {cmdline}")
    return found


def _sandbox(*args: str) -> list[str]:
    return [sys.executable, "-m", "hack.sandbox", *args]


# ---------------------------------------------------------------------- fast, no processes


def test_sample_hosts_have_one_externally_provisioned_and_a_redfish_host() -> None:
    from testenv.ironic import numbered_systems

    systems = numbered_systems(1, prefix="t")
    hosts = sample_hosts(3, "http://127.0.0.1:8000", systems)
    docs = render_manifests(hosts, "pw")
    bmhs = [d for d in docs if d["kind"] == "BareMetalHost"]
    secrets = [d for d in docs if d["kind"] == "Secret"]
    assert [h["metadata"]["name"] for h in bmhs] == ["host-0", "host-1", "host-2", "redfish-0"]
    assert [h["spec"].get("externallyProvisioned", False) for h in bmhs] == [
        False,
        False,
        True,
        False,
    ]
    redfish = bmhs[-1]["spec"]
    assert redfish["bmc"]["address"] == (
        f"redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/{systems[0].uuid}"
    )
    assert redfish["bootMACAddress"] == systems[0].mac
    assert redfish["inspectionMode"] == "disabled"
    assert redfish["automatedCleaningMode"] == "disabled"
    assert {s["metadata"]["name"] for s in secrets} == {
        h["spec"]["bmc"]["credentialsName"] for h in bmhs
    }
    assert len({h["spec"]["bootMACAddress"] for h in bmhs}) == len(bmhs)
    yaml.safe_dump_all(docs)  # what is written to hosts.yaml


def test_a_single_fake_host_is_not_externally_provisioned() -> None:
    (host,) = sample_hosts(1, None, [])
    assert host.provisionable


# ----------------------------------------------------------------------- the real sandbox


@pytest.mark.slow
@pytest.mark.ironic
@pytest.mark.timeout(600)
def test_demo_reaches_provisioned_and_stops_everything(tmp_path: Path) -> None:
    _require_sandbox_tools()
    state_dir = tmp_path / "sandbox"
    proc = subprocess.run(
        _sandbox("demo", "--exit", "--hosts", "2", "--state-dir", str(state_dir)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert re.search(r"^\s+host-0\s+OK\s+provisioned\b", proc.stdout, re.MULTILINE), output
    assert re.search(r"^\s+host-1\s+OK\s+externally provisioned\b", proc.stdout, re.MULTILINE)
    assert re.search(r"^\s+redfish-0\s+OK\s+available\b", proc.stdout, re.MULTILINE)
    assert "fake agent: inventory for default~host-0" in proc.stdout
    # The Redfish host's BIOS setting, changed through its HostFirmwareSettings.
    assert re.search(
        r"redfish-0: status\.settings\.ProcTurboMode=(Enabled|Disabled), applied by manual "
        r"cleaning on the Redfish BMC",
        proc.stdout,
    ), output[-4000:]
    assert "Summary (wall time per phase)" in proc.stdout
    kube_url = re.search(r"Kubernetes API emulator at (http://\S+)", proc.stdout)
    assert kube_url is not None
    assert _processes_mentioning(str(state_dir), kube_url.group(1)) == []
    # The generated BMC passwords stay in the Secrets (hosts.yaml), never in the output.
    manifests = list(yaml.safe_load_all((state_dir / "hosts.yaml").read_text()))
    password = next(d for d in manifests if d["kind"] == "Secret")["stringData"]["password"]
    assert password not in output


@pytest.mark.slow
@pytest.mark.ironic
@pytest.mark.timeout(300)
def test_sigterm_stops_every_process_it_started(tmp_path: Path) -> None:
    _require_sandbox_tools()
    state_dir = tmp_path / "sandbox"
    proc = subprocess.Popen(
        _sandbox("up", "--hosts", "1", "--state-dir", str(state_dir)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        end = time.monotonic() + 180
        while not any("Sandbox running" in line for line in seen):
            assert proc.poll() is None, "".join(seen)
            assert time.monotonic() < end, "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        kube_url = re.search(r"Kubernetes API emulator at (http://\S+)", "".join(seen))
        assert kube_url is not None
        assert _processes_mentioning(str(state_dir), kube_url.group(1)) != []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    assert _processes_mentioning(str(state_dir), kube_url.group(1)) == []
