"""One sandbox session: start the services, apply the hosts, walk them through (to available,
a BIOS setting on the Redfish host, then provisioned), stop it all.

Started, all on 127.0.0.1: the Kubernetes API emulator (``python -m testenv.kubeapi``, CRDs
from ``config/crd/bases``), a real Ironic (HTTP basic auth, an empty database every run),
sushy-tools with one fake system per Redfish host, the fake agent, and ``bmo run`` as a
subprocess. Stopping goes in dependency order, bmo first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hack.sandbox.errors import ChildDiedError, PhaseTimeoutError, SandboxError
from hack.sandbox.firmware import apply_bios_setting
from hack.sandbox.hosts import NAMESPACE, HostSpec, render_manifests, sample_hosts, write_demo_image
from hack.sandbox.processes import (
    DEFAULT_STATE_DIR,
    REPO_ROOT,
    STATE_FILE,
    Child,
    find_kubectl,
    log_tail,
)
from testenv.fake_agent import FakeAgent, Inspection
from testenv.ironic import (
    LOOPBACK,
    IronicProcess,
    SushyEmulator,
    free_port,
    numbered_systems,
    spawn,
)

CRD_DIR = REPO_ROOT / "config" / "crd" / "bases"
SERVICE_DEADLINE = 90.0
POLL_INTERVAL = 2.0
READY_STATES = frozenset({"available", "ready", "externally provisioned"})
PROVISIONED = "provisioned"


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
            "--metrics-insecure",
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

    def check_children(self) -> None:
        self._check_children()

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
        self,
        what: str,
        names: Sequence[str],
        done: Callable[[str], bool],
        timeout: float,
        also: Callable[[], bool] | None = None,
    ) -> None:
        """Show ``kubectl get bmh -o wide`` whenever a host's state, status or power changes
        (not just its AGE) until every host in ``names`` satisfies ``done(state)`` (and
        ``also()``, when given); fail with the hosts' errors and the log files otherwise."""
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
            if all(done(state) for state in states.values()) and (also is None or also()):
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
        redfish = [h.name for h in self.hosts if h.redfish]
        if redfish:
            with self.timings.phase("a BIOS setting applied (Redfish host)"):
                apply_bios_setting(self, redfish[0], self.deadline(300.0, 0.0))
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
