"""The local sandbox: bmo driving a real Ironic, with hosts you can watch in ``kubectl``.

``python -m hack.sandbox demo`` (what ``./hack/demo.sh`` runs) starts, all on 127.0.0.1:

* bmo's Kubernetes API emulator (``python -m testenv.kubeapi``, CRDs from ``config/crd/bases``),
* a real Ironic (``testenv/ironic_local.py``, HTTP basic auth, an empty database every run),
* sushy-tools' Redfish emulator with one fake system per Redfish host,
* the fake agent (``testenv/fake_agent.py``), which answers agent inspection with an inventory,
* ``bmo run`` as a subprocess,

then applies sample BareMetalHosts and their Secrets with ``kubectl apply``, shows them reach
``available``, sets an image on the ``fake://`` hosts and shows them reach ``provisioned``.
``up`` does the same without the walk-through; ``down`` stops a sandbox left behind.

Every process is started in its own session and stopped, group and all, on exit, Ctrl-C or
SIGTERM; the pids are recorded in ``<state-dir>/sandbox.json`` so a sandbox killed with
SIGKILL is cleaned up by the next ``up``/``demo`` or by ``down``. Everything lives in the
state directory (default ``.cache/sandbox``): logs, manifests, Ironic's database.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from testenv.fake_agent import FakeAgent, Inspection
from testenv.ironic_local import (
    LOOPBACK,
    FakeSystem,
    IronicLocalError,
    IronicProcess,
    SushyEmulator,
    free_port,
    is_installed,
    numbered_systems,
    process_matches,
    spawn,
    terminate,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".cache" / "sandbox"
CRD_DIR = REPO_ROOT / "config" / "crd" / "bases"
NAMESPACE = "default"
STATE_FILE = "sandbox.json"

SERVICE_DEADLINE = 90.0
POLL_INTERVAL = 2.0
READY_STATES = frozenset({"available", "ready", "externally provisioned"})
PROVISIONED = "provisioned"
DEMO_IMAGE = "demo.qcow2"


class SandboxError(Exception):
    """Base of the sandbox's errors; the message is what the user sees."""


class AlreadyRunningError(SandboxError):
    """Another sandbox holds the state directory's lock."""


class PhaseTimeoutError(SandboxError):
    """A phase did not finish before its deadline; the message names the log files."""


class ChildDiedError(SandboxError):
    """A process the sandbox started exited on its own."""


class Interrupted(BaseException):
    """SIGINT/SIGTERM/SIGHUP arrived: unwind, stop everything, exit.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --------------------------------------------------------------------------------------------
# sample hosts


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

    Redfish hosts skip automated cleaning and inspection: both need an agent ramdisk that
    the sushy-tools fake driver cannot boot (notes §6).
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


# --------------------------------------------------------------------------------------------
# processes


@dataclass
class Child:
    """A process the sandbox started; ``marker`` guards against signalling a recycled pid."""

    name: str
    popen: subprocess.Popen[bytes]
    marker: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, deadline: float = 20.0) -> None:
        terminate(self.pid, self.marker, self.popen, deadline)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:]) or "    (empty)"


def find_kubectl() -> str:
    found = shutil.which("kubectl") or shutil.which(
        "kubectl", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise SandboxError(
            "kubectl not found: run ./hack/demo.sh (it installs one) or put kubectl on PATH"
        )
    return found


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[IO[str]]:
    """One sandbox per state directory: the lock is held for the sandbox's whole life."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "sandbox.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_state(state_dir).get("pid")
            raise AlreadyRunningError(
                f"a sandbox is already running from {state_dir} (pid {owner}): stop it with "
                f"Ctrl-C in its terminal or `python -m hack.sandbox down --state-dir {state_dir}`"
            ) from None
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_state(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stop_leftovers(state_dir: Path) -> list[str]:
    """Stop whatever a sandbox killed without cleanup left behind; returns what was stopped."""
    stopped = []
    for child in _read_state(state_dir).get("children", []):
        pid, marker = int(child.get("pid") or 0), str(child.get("marker") or "")
        if marker and process_matches(pid, marker):
            terminate(pid, marker)
            stopped.append(f"{child.get('name')} (pid {pid})")
    ironic = IronicProcess.from_state_dir(state_dir / "ironic")
    if ironic.is_running():
        stopped.append(f"Ironic (pid {ironic.pid})")
    ironic.stop()
    sushy = SushyEmulator.from_state_dir(state_dir / "sushy")
    if sushy.is_running():
        stopped.append(f"sushy-emulator (pid {sushy.pid})")
    sushy.stop()
    return stopped


# --------------------------------------------------------------------------------------------
# the sandbox


@dataclass
class Options:
    state_dir: Path = DEFAULT_STATE_DIR
    fake_hosts: int = 3
    redfish_hosts: int = 1
    phase_timeout: float | None = None
    exit_when_done: bool = False
    interval: float = POLL_INTERVAL


@dataclass
class Timings:
    phases: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.phases.append((name, time.monotonic() - started))


class Sandbox:
    """Starts the pieces, applies the hosts, walks them through the demo, stops everything."""

    def __init__(self, options: Options, out: IO[str] = sys.stdout) -> None:
        self.options = options
        self.state_dir = options.state_dir.resolve()
        self.out = out
        self.timings = Timings()
        self.children: list[Child] = []
        self.kube_url = ""
        self.metrics_url = ""
        self.ironic: IronicProcess | None = None
        self.sushy: SushyEmulator | None = None
        self.agent: FakeAgent | None = None
        self.hosts: list[HostSpec] = []
        self._print_lock = threading.Lock()
        self._shown: tuple[tuple[Any, ...], ...] = ()
        self._kubectl = find_kubectl()
        self._started = time.monotonic()

    # -- output

    def say(self, text: str) -> None:
        with self._print_lock:
            self.out.write(text + "\n")
            self.out.flush()

    def stamp(self) -> str:
        return f"[{time.monotonic() - self._started:6.1f}s]"

    # -- paths

    @property
    def kubeapi_log(self) -> Path:
        return self.state_dir / "kubeapi.log"

    @property
    def bmo_log(self) -> Path:
        return self.state_dir / "bmo.log"

    @property
    def agent_log(self) -> Path:
        return self.state_dir / "fake-agent.log"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def manifests_path(self) -> Path:
        return self.state_dir / "hosts.yaml"

    def log_files(self) -> list[Path]:
        paths = [self.bmo_log, self.kubeapi_log, self.agent_log]
        if self.ironic is not None:
            paths += [self.ironic.log_path, self.ironic.console_log_path]
        if self.sushy is not None:
            paths.append(self.sushy.log_path)
        return paths

    def _relative(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(Path.cwd()))
        return str(path)

    def _save_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "kube_url": self.kube_url,
            "ironic_url": self.ironic.url if self.ironic else None,
            "children": [{"name": c.name, "pid": c.pid, "marker": c.marker} for c in self.children],
        }
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    # -- start

    def start_services(self) -> None:
        with self.timings.phase("start the Kubernetes API emulator"):
            self._start_kubeapi()
        self.say(f"{self.stamp()} Kubernetes API emulator at {self.kube_url} (CRDs installed)")
        with self.timings.phase("start Ironic"):
            self._start_ironic()
        assert self.ironic is not None
        self.say(f"{self.stamp()} Ironic at {self.ironic.url} (http_basic, fresh database)")
        if self.options.redfish_hosts > 0:
            with self.timings.phase("start sushy-tools"):
                self._start_sushy()
            assert self.sushy is not None
            self.say(
                f"{self.stamp()} sushy-tools Redfish emulator at {self.sushy.url} "
                f"({len(self.sushy.systems)} systems)"
            )
        self._start_agent()
        self.say(f"{self.stamp()} fake agent polling Ironic (answers agent inspection)")
        with self.timings.phase("start bmo"):
            self._start_bmo()
        self.say(f"{self.stamp()} bmo run (pid {self.children[-1].pid}), log {self.bmo_log}")

    def _start_kubeapi(self) -> None:
        self.kubeapi_log.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "testenv.kubeapi", "--port", "0", "--crds", str(CRD_DIR)]
        child = Child(
            "kubeapi",
            spawn(argv, self.kubeapi_log, cwd=REPO_ROOT),
            "testenv.kubeapi",
            self.kubeapi_log,
        )
        self.children.append(child)
        self._save_state()
        url_line = re.compile(r"^(http://127\.0\.0\.1:\d+)\s*$", re.MULTILINE)
        end = time.monotonic() + SERVICE_DEADLINE
        while True:
            with contextlib.suppress(OSError):
                match = url_line.search(self.kubeapi_log.read_text(errors="replace"))
                if match:
                    self.kube_url = match.group(1)
                    break
            if not child.alive():
                raise ChildDiedError(
                    f"the Kubernetes API emulator exited with status {child.popen.returncode}:\n"
                    + log_tail(self.kubeapi_log)
                )
            if time.monotonic() > end:
                raise PhaseTimeoutError(
                    f"the Kubernetes API emulator printed no URL in {SERVICE_DEADLINE:.0f} s; "
                    f"see {self.kubeapi_log}"
                )
            time.sleep(0.1)
        self._save_state()
        # kubectl must never read the user's kubeconfig (or send its credentials here).
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n"
            f"    server: {self.kube_url}\ncontexts:\n- name: sandbox\n  context:\n"
            "    cluster: sandbox\n    user: sandbox\n    namespace: default\n"
            "current-context: sandbox\nusers:\n- name: sandbox\n  user: {}\n"
        )

    def _start_ironic(self) -> None:
        ironic = IronicProcess(
            state_dir=self.state_dir / "ironic", port=0, auth="http_basic", http_port=0
        )
        self.ironic = ironic
        # Every sandbox starts from an empty Ironic, as the emulator starts with no hosts.
        ironic.wipe_database()
        ironic.start()

    def _start_sushy(self) -> None:
        systems = numbered_systems(self.options.redfish_hosts, prefix="bmo-sandbox")
        sushy_dir = self.state_dir / "sushy"
        shutil.rmtree(sushy_dir / "emulator-state", ignore_errors=True)
        self.sushy = SushyEmulator(sushy_dir, port=0, systems=systems)
        self.sushy.start()

    def _start_agent(self) -> None:
        assert self.ironic is not None
        handler = logging.FileHandler(self.agent_log, mode="w")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        agent_logger = logging.getLogger("testenv.fake_agent")
        agent_logger.handlers[:] = [handler]
        agent_logger.setLevel(logging.INFO)
        agent_logger.propagate = False

        def report(inspection: Inspection) -> None:
            hw = inspection.hardware
            self.say(
                f"{self.stamp()} fake agent: inventory for {inspection.name}: {hw.cpu_count} "
                f"CPUs, {hw.memory_mb // 1024} GiB RAM, {1 + len(hw.extra_disks)} disks, "
                f"{1 + len(hw.extra_nics)} NICs ({hw.vendor} {hw.product})"
            )

        self.agent = FakeAgent(
            self.ironic.url, self.ironic.credentials, interval=1.0, on_inspect=report
        ).start()

    def bmo_env(self) -> dict[str, str]:
        assert self.ironic is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IRONIC_", "METAL3_"))}
        env.update(self.ironic.env())
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _start_bmo(self) -> None:
        metrics_port = free_port()
        self.metrics_url = f"http://{LOOPBACK}:{metrics_port}/metrics"
        argv = [
            sys.executable,
            "-m",
            "bmo",
            "run",
            "--kube-url",
            self.kube_url,
            "--provisioner",
            "ironic",
            "--development-drivers",
            "--dev",
            "--health-addr",
            f"{LOOPBACK}:0",
            "--metrics-addr",
            f"{LOOPBACK}:{metrics_port}",
            "--webhook-port",
            "0",
        ]
        self.bmo_log.unlink(missing_ok=True)
        child = Child(
            "bmo",
            spawn(argv, self.bmo_log, self.bmo_env(), cwd=REPO_ROOT),
            self.kube_url,
            self.bmo_log,
        )
        self.children.append(child)
        self._save_state()
        end = time.monotonic() + SERVICE_DEADLINE
        while True:
            if not child.alive():
                raise ChildDiedError(
                    f"bmo run exited with status {child.popen.returncode} at start-up "
                    f"(log {self.bmo_log}):\n" + log_tail(self.bmo_log)
                )
            try:
                with urllib.request.urlopen(self.metrics_url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > end:
                raise PhaseTimeoutError(
                    f"bmo run did not serve {self.metrics_url} within {SERVICE_DEADLINE:.0f} s; "
                    f"see {self.bmo_log}"
                )
            time.sleep(0.2)

    # -- kubectl

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        cache = self.state_dir / "kubectl-cache"
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        proc = subprocess.run(
            [self._kubectl, f"--server={self.kube_url}", f"--cache-dir={cache}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        if check and proc.returncode != 0:
            raise SandboxError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}")
        return proc.stdout

    def apply_hosts(self) -> None:
        import secrets

        import yaml

        sushy_url = self.sushy.url if self.sushy is not None else None
        systems = self.sushy.systems if self.sushy is not None else []
        self.hosts = sample_hosts(self.options.fake_hosts, sushy_url, systems)
        docs = render_manifests(self.hosts, secrets.token_urlsafe(12))
        text = yaml.safe_dump_all(docs, sort_keys=False)
        # The manifests hold (throwaway) BMC passwords: owner-only, like any Secret on disk.
        fd = os.open(self.manifests_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        with self.timings.phase("kubectl apply the hosts"):
            output = self.kubectl("apply", "-f", str(self.manifests_path))
        self.say(f"{self.stamp()} kubectl apply -f {self._relative(self.manifests_path)}")
        for line in output.splitlines():
            self.say(f"    {line}")

    # -- watching

    def host_status(self) -> dict[str, dict[str, Any]]:
        """name -> status, read straight from the API (kubectl is for the human display)."""
        url = f"{self.kube_url}/apis/metal3.io/v1alpha1/namespaces/{NAMESPACE}/baremetalhosts"
        with urllib.request.urlopen(url, timeout=10) as response:
            items = json.loads(response.read()).get("items", [])
        return {item["metadata"]["name"]: item.get("status") or {} for item in items}

    def _check_children(self) -> None:
        for child in self.children:
            if not child.alive():
                raise ChildDiedError(
                    f"{child.name} exited with status {child.popen.returncode} "
                    f"(log {child.log_path}):\n" + log_tail(child.log_path)
                )
        if self.ironic is not None and not self.ironic.is_running():
            raise ChildDiedError(
                f"Ironic stopped (logs {self.ironic.log_path}, {self.ironic.console_log_path})"
            )

    def watch_until(
        self, what: str, names: Sequence[str], done: Callable[[str], bool], timeout: float
    ) -> None:
        """Show ``kubectl get bmh -o wide`` whenever a host's state, status or power changes
        (not just its AGE) until every host in ``names`` satisfies ``done(state)``; fail with
        the hosts' errors and the log files otherwise."""
        end = time.monotonic() + timeout
        while True:
            self._check_children()
            statuses = self.host_status()
            key = tuple(
                (
                    name,
                    status.get("provisioning", {}).get("state", ""),
                    status.get("operationalStatus", ""),
                    status.get("poweredOn"),
                    status.get("errorType", ""),
                )
                for name, status in sorted(statuses.items())
            )
            if key != self._shown:
                table = self.kubectl("get", "bmh", "-o", "wide", check=False)
                self.say(f"{self.stamp()} kubectl get bmh -o wide")
                for line in table.rstrip().splitlines():
                    self.say(f"    {line}")
                self._shown = key
            states = {
                n: statuses.get(n, {}).get("provisioning", {}).get("state", "") for n in names
            }
            if all(done(state) for state in states.values()):
                return
            if time.monotonic() > end:
                raise PhaseTimeoutError(self._timeout_message(what, timeout, states, statuses))
            time.sleep(self.options.interval)

    def _timeout_message(
        self,
        what: str,
        timeout: float,
        states: dict[str, str],
        statuses: dict[str, dict[str, Any]],
    ) -> str:
        lines = [f"hosts did not reach {what} within {timeout:.0f} s:"]
        for name, state in sorted(states.items()):
            status = statuses.get(name, {})
            error = status.get("errorMessage") or ""
            lines.append(
                f"  {name}: state {state or '(none)'!r}"
                + (f", {status.get('errorType')}: {error}" if error else "")
            )
        lines.append("Look at the logs:")
        lines += [f"  {self._relative(p)}" for p in self.log_files()]
        lines.append(f"Last lines of {self._relative(self.bmo_log)}:")
        lines.append(log_tail(self.bmo_log, 15))
        return "\n".join(lines)

    def show_hardware(self) -> None:
        """What inspection found (status.hardware), one line per host that was inspected."""
        statuses = self.host_status()
        for host in self.hosts:
            hardware = statuses.get(host.name, {}).get("hardware") or {}
            if not hardware:
                continue
            cpu = hardware.get("cpu") or {}
            vendor = hardware.get("systemVendor") or {}
            self.say(
                f"    {host.name}: status.hardware: {cpu.get('count', '?')} x "
                f"{cpu.get('model', '?')}, {hardware.get('ramMebibytes', '?')} MiB RAM, "
                f"{len(hardware.get('storage') or [])} disks, "
                f"{len(hardware.get('nics') or [])} NICs, "
                f"{vendor.get('manufacturer', '?')} {vendor.get('productName', '')}".rstrip()
            )

    def deadline(self, base: float, per_host: float) -> float:
        if self.options.phase_timeout is not None:
            return self.options.phase_timeout
        return base + per_host * len(self.hosts)

    def provision(self) -> None:
        assert self.ironic is not None and self.ironic.http_url is not None
        path, checksum = write_demo_image(self.ironic.state_dir / "httpboot")
        image = {
            "url": f"{self.ironic.http_url}/{path}",
            "checksum": checksum,
            "checksumType": "sha256",
            "format": "qcow2",
        }
        patch = json.dumps({"spec": {"image": image}})
        targets = [h.name for h in self.hosts if h.provisionable]
        for name in targets:
            self.kubectl("patch", "bmh", name, "--type", "merge", "-p", patch)
            self.say(f"{self.stamp()} kubectl patch bmh {name} --type merge -p '{patch}'")
        self.watch_until(
            PROVISIONED,
            targets,
            lambda state: state == PROVISIONED,
            self.deadline(300.0, 5.0),
        )

    # -- the two walk-throughs

    def up(self) -> None:
        self.start_services()
        self.apply_hosts()

    def demo(self) -> None:
        self.up()
        names = [h.name for h in self.hosts]
        with self.timings.phase("hosts to available / externally provisioned"):
            self.watch_until(
                "available (or externally provisioned)",
                names,
                lambda state: state in READY_STATES,
                self.deadline(300.0, 15.0),
            )
        self.say(f"{self.stamp()} every host is available (or externally provisioned)")
        self.show_hardware()
        with self.timings.phase("image set to provisioned"):
            self.provision()
        self.say(f"{self.stamp()} the fake:// hosts with an image are provisioned")

    def summary(self) -> None:
        self.say("")
        self.say("Summary (wall time per phase):")
        for name, seconds in self.timings.phases:
            self.say(f"  {name:<44} {seconds:7.1f} s")
        self.say(f"  {'total':<44} {time.monotonic() - self._started:7.1f} s")

    def hints(self) -> None:
        assert self.ironic is not None
        auth = self.ironic.auth_dir / "ironic"
        rel = self._relative
        lines = [
            "",
            "Look around (in another terminal):",
            f"  export KUBECONFIG={shlex.quote(rel(self.kubeconfig))}"
            "   # or: kubectl --server=" + self.kube_url,
            f"  kubectl --server={self.kube_url} get bmh -o wide",
            f"  kubectl --server={self.kube_url} get bmh host-0 -o yaml",
            f"  export IRONIC_URL={self.ironic.url}",
            f'  curl -u "admin:$(cat {shlex.quote(rel(auth / "password"))})" '
            '-H "X-OpenStack-Ironic-API-Version: 1.110" "$IRONIC_URL/v1/nodes"',
            "  # the baremetal CLI (pip install -e '.[debug]'):",
            "  export OS_AUTH_TYPE=http_basic OS_ENDPOINT=$IRONIC_URL OS_USERNAME=admin",
            f'  export OS_PASSWORD="$(cat {shlex.quote(rel(auth / "password"))})"',
            "  baremetal node list",
            f"  curl -s {self.metrics_url} | grep ^metal3_",
            "Logs: " + ", ".join(rel(p) for p in self.log_files()),
        ]
        for line in lines:
            self.say(line)

    def wait_forever(self) -> None:
        """Keep serving until a signal arrives; a child dying is reported and ends the run."""
        self.say("")
        self.say("Sandbox running; Ctrl-C stops everything.")
        while True:
            self._check_children()
            time.sleep(1.0)

    # -- stop

    def stop(self) -> None:
        """Stop in dependency order: bmo first, so it does not log Ironic vanishing."""
        errors = []
        for child in reversed(self.children):
            if child.name == "bmo":
                errors += _collect(child.stop)
        if self.agent is not None:
            errors += _collect(self.agent.stop)
        if self.sushy is not None:
            errors += _collect(self.sushy.stop)
        if self.ironic is not None:
            errors += _collect(self.ironic.stop)
        for child in reversed(self.children):
            if child.name != "bmo":
                errors += _collect(child.stop)
        self.children.clear()
        with contextlib.suppress(OSError):
            self._save_state()
        if errors:
            raise SandboxError("stopping the sandbox: " + "; ".join(errors))


def _collect(action: Callable[[], object]) -> list[str]:
    try:
        action()
    except Exception as exc:  # keep stopping the rest; report them all at the end
        return [str(exc)]
    return []


# --------------------------------------------------------------------------------------------
# CLI


class _Signals:
    """The first SIGINT/SIGTERM/SIGHUP raises :class:`Interrupted` wherever the main thread is
    (a blocking start-up wait included); later ones are ignored while everything stops."""

    def __init__(self) -> None:
        self.stopping = False
        self.received: int | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum
        if not self.stopping:
            self.stopping = True
            raise Interrupted(signum)


def run_sandbox(options: Options, mode: str, out: IO[str] = sys.stdout) -> int:
    if not is_installed():
        raise SandboxError(
            "Ironic is not installed in .cache/ironic: run ./hack/demo.sh "
            "(or `.venv/bin/python -m testenv.ironic_local install`)"
        )
    signals = _Signals()
    signals.install()
    state_dir = options.state_dir.resolve()
    with state_lock(state_dir):
        leftovers = stop_leftovers(state_dir)
        if leftovers:
            print("stopped leftovers of an earlier sandbox: " + ", ".join(leftovers), file=out)
        sandbox = Sandbox(options, out)
        code = 0
        try:
            if mode == "demo":
                sandbox.demo()
                sandbox.summary()
            else:
                sandbox.up()
            sandbox.hints()
            if not options.exit_when_done:
                sandbox.wait_forever()
        except Interrupted as exc:
            sandbox.say(f"\n{exc.args[0]} received: stopping the sandbox")
            code = 0 if exc.signum != signal.SIGHUP else 1
        except (SandboxError, IronicLocalError) as exc:
            signals.stopping = True
            sandbox.say(f"\nerror: {exc}")
            code = 1
        except Exception:
            signals.stopping = True
            import traceback

            sandbox.say(f"\nunexpected error:\n{traceback.format_exc()}")
            sandbox.say("Logs: " + ", ".join(str(p) for p in sandbox.log_files()))
            code = 1
        finally:
            signals.stopping = True
            sandbox.stop()
            sandbox.say("sandbox stopped")
    return code


def run_down(state_dir: Path, out: IO[str] = sys.stdout) -> int:
    """Stop a sandbox running from ``state_dir`` (politely, through its own cleanup), then
    anything a killed one left behind."""
    state_dir = state_dir.resolve()
    owner = int(_read_state(state_dir).get("pid") or 0)
    if owner and owner != os.getpid() and process_matches(owner, "hack.sandbox"):
        print(f"stopping the sandbox (pid {owner})", file=out)
        os.kill(owner, signal.SIGTERM)
    end = time.monotonic() + 60.0
    while True:
        try:
            with state_lock(state_dir):
                stopped = stop_leftovers(state_dir)
                break
        except AlreadyRunningError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
    for item in stopped:
        print(f"stopped {item}", file=out)
    print("sandbox is down", file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hack.sandbox",
        description="bmo's local sandbox: Kubernetes API emulator, real Ironic, sushy-tools, "
        "fake agent and bmo run, all on 127.0.0.1.",
    )
    parser.add_argument(
        "mode",
        nargs="?",
        default="demo",
        choices=("up", "demo", "down"),
        help="demo: walk hosts to available and provisioned (default); up: start and apply "
        "the hosts only; down: stop a sandbox left running",
    )
    parser.add_argument(
        "--hosts", type=int, default=3, help="fake:// hosts (the last is externally provisioned)"
    )
    parser.add_argument(
        "--redfish-hosts", type=int, default=1, help="Redfish virtual-media hosts on sushy-tools"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="logs, manifests, Ironic DB"
    )
    parser.add_argument(
        "--phase-timeout", type=float, default=None, help="seconds per phase (default: scaled)"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--keep-running",
        dest="exit_when_done",
        action="store_false",
        help="serve until Ctrl-C after the walk-through (default)",
    )
    group.add_argument(
        "--exit",
        dest="exit_when_done",
        action="store_true",
        help="stop everything and exit 0 once the walk-through succeeded",
    )
    parser.set_defaults(exit_when_done=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.hosts < 1 or args.redfish_hosts < 0:
        build_parser().error("--hosts must be at least 1 and --redfish-hosts at least 0")
    try:
        if args.mode == "down":
            return run_down(args.state_dir)
        options = Options(
            state_dir=args.state_dir,
            fake_hosts=args.hosts,
            redfish_hosts=args.redfish_hosts,
            phase_timeout=args.phase_timeout,
            exit_when_done=args.exit_when_done,
        )
        return run_sandbox(options, args.mode)
    except Interrupted:
        print("interrupted", file=sys.stderr)
        return 130
    except (SandboxError, IronicLocalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
