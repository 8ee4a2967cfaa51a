"""testenv/ironic itself: config, process safety, install cache, CLI."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testenv.ironic import (
    FakeSystem,
    IronicLocalError,
    IronicProcess,
    LocalIronicConfig,
    NotInstalledError,
    PortInUseError,
    StartError,
    ensure_installed,
    http_get,
    numbered_systems,
    process_matches,
    render_ironic_conf,
    render_sushy_conf,
    terminate,
)
from testenv.ironic import process as ironic_process
from tests.fixtures.ironic import IronicFixture, require_ironic_venv

REPO = Path(__file__).resolve().parents[2]


def conf_values(text: str) -> dict[str, str]:
    return dict(
        line.split(" = ", 1) for line in text.splitlines() if " = " in line and line[0] != "#"
    )


def test_conf_keeps_every_path_in_the_state_dir(tmp_path: Path) -> None:
    text = render_ironic_conf(LocalIronicConfig(state_dir=tmp_path, port=1234, http_port=1235))
    paths = [v for v in conf_values(text).values() if v.startswith("/")]
    assert len(paths) >= 10
    assert all(Path(p).is_relative_to(tmp_path) for p in paths), paths
    assert f"connection = sqlite:///{tmp_path}/ironic.sqlite" in text
    assert "http_url = http://127.0.0.1:1235" in text
    assert "host_ip = 127.0.0.1" in text


def test_ipmi_only_when_ipmitool_exists(tmp_path: Path) -> None:
    without = conf_values(render_ironic_conf(LocalIronicConfig(tmp_path, 1, ipmi=False)))
    with_ipmi = conf_values(render_ironic_conf(LocalIronicConfig(tmp_path, 1, ipmi=True)))
    assert without["enabled_hardware_types"] == "fake-hardware,redfish"
    assert "ipmitool" not in without["enabled_power_interfaces"]
    assert with_ipmi["enabled_hardware_types"] == "fake-hardware,redfish,ipmi"
    assert "ipmitool" in with_ipmi["enabled_power_interfaces"]


def test_noauth_has_no_user_file_and_bad_auth_is_refused(tmp_path: Path) -> None:
    text = render_ironic_conf(LocalIronicConfig(tmp_path, 1, auth="noauth"))
    assert "auth_strategy = noauth" in text
    assert "http_basic_auth_user_file" not in text
    with pytest.raises(IronicLocalError, match="auth must be one of"):
        render_ironic_conf(LocalIronicConfig(tmp_path, 1, auth="keystone"))
    with pytest.raises(IronicLocalError):
        IronicProcess(tmp_path, auth="keystone")


def test_password_stays_out_of_repr(tmp_path: Path) -> None:
    process = IronicProcess(tmp_path, password="s3cret-value")
    assert "s3cret-value" not in repr(process)
    assert process.credentials == ("admin", "s3cret-value")


def test_sushy_conf_is_python_with_storage_for_each_system(tmp_path: Path) -> None:
    systems = numbered_systems(3)
    assert systems == numbered_systems(3)  # deterministic across runs
    assert len({s.mac for s in systems}) == len({s.uuid for s in systems}) == 3
    text = render_sushy_conf(tmp_path, 8000, systems)
    values = {}
    for node in ast.parse(text).body:
        assert isinstance(node, ast.Assign)
        target = node.targets[0]
        assert isinstance(target, ast.Name)
        values[target.id] = ast.literal_eval(node.value)
    assert values["SUSHY_EMULATOR_LISTEN_IP"] == "127.0.0.1"
    assert values["SUSHY_EMULATOR_FAKE_DRIVER"] is True
    assert Path(values["SUSHY_EMULATOR_STATE_DIR"]).is_relative_to(tmp_path)
    uuids = {s.uuid for s in systems}
    assert {s["uuid"] for s in values["SUSHY_EMULATOR_FAKE_SYSTEMS"]} == uuids
    assert set(values["SUSHY_EMULATOR_STORAGE"]) == uuids
    assert set(values["SUSHY_EMULATOR_VOLUMES"]) == {(u, "1") for u in uuids}


def test_fake_system_round_trips_through_dict() -> None:
    system = FakeSystem(uuid="u", name="n", mac="52:54:00:00:00:01", cpus=8)
    assert FakeSystem.from_dict(system.as_config() | {"mac": system.mac}) == system


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A harmless process of our own whose command line carries a known marker."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "bmo-sleeper-marker"],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while "bmo-sleeper-marker" not in Path(f"/proc/{proc.pid}/cmdline").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


def test_terminate_never_signals_a_reused_pid(sleeper: subprocess.Popen[bytes]) -> None:
    assert terminate(sleeper.pid, "/some/other/ironic.conf") is False
    assert sleeper.poll() is None


def test_stop_from_a_stale_state_file_leaves_the_pid_alone(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    (tmp_path / IronicProcess.STATE_FILE).write_text(
        json.dumps({"pid": sleeper.pid, "port": 1, "http_pid": sleeper.pid, "auth": "noauth"})
    )
    IronicProcess.from_state_dir(tmp_path).stop()
    assert sleeper.poll() is None


def test_terminate_stops_a_matching_process(sleeper: subprocess.Popen[bytes]) -> None:
    assert process_matches(sleeper.pid, "bmo-sleeper-marker")
    assert terminate(sleeper.pid, "bmo-sleeper-marker", sleeper, deadline=5) is True
    assert sleeper.returncode == -15
    assert not process_matches(sleeper.pid, "bmo-sleeper-marker")


def test_cached_install_is_fast() -> None:
    require_ironic_venv()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "testenv.ironic", "install"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 2.0
    assert ensure_installed(quiet=True) < 0.5


@pytest.mark.ironic
def test_start_deadline_fails_and_cleans_up(tmp_path: Path) -> None:
    require_ironic_venv()
    process = IronicProcess(tmp_path, auth="noauth", http_port=-1)
    with pytest.raises(StartError, match="did not list the fake-hardware driver"):
        process.start(deadline=0.0)
    assert process.pid is None
    state = json.loads(process.state_file.read_text())
    assert state["pid"] is None


@pytest.mark.ironic
def test_cli_start_status_env_stop(tmp_path: Path) -> None:
    require_ironic_venv()
    state = tmp_path / "cli"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "testenv.ironic", *args, "--state-dir", str(state)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    extra = tmp_path / "extra.conf"
    extra.write_text("[DEFAULT]\nenabled_hardware_types = fake-hardware\n")
    try:
        started = cli(
            "start",
            "--port",
            "0",
            "--auth",
            "noauth",
            "--http-port",
            "-1",
            "--extra-conf",
            str(extra),
        )
        assert started.returncode == 0, started.stderr
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
        )
        assert exports["IRONIC_AUTH_STRATEGY"] == "noauth"
        assert exports["IRONIC_ENDPOINT"].startswith("http://127.0.0.1:")
        assert "IRONIC_HTTP_URL" not in exports
        status, body = http_get(exports["IRONIC_URL"] + "/v1/drivers")
        assert status == 200
        assert [d["name"] for d in json.loads(body)["drivers"]] == ["fake-hardware"]
        assert cli("status").returncode == 0
        assert cli("env").stdout.startswith(started.stdout)
        again = cli("start")  # idempotent: finds the running one
        assert again.returncode == 0
        assert "already running" in again.stderr
        pid = json.loads((state / IronicProcess.STATE_FILE).read_text())["pid"]
    finally:
        stopped = cli("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not process_matches(pid, str(state / "ironic.conf"))
    assert cli("status").returncode == 3


@pytest.mark.ironic
def test_http_root_is_served(ironic: IronicFixture) -> None:
    """Virtual media needs Ironic's http_root reachable at [deploy] http_url."""
    http_url = ironic.process.http_url
    assert http_url is not None
    probe = ironic.state_dir / "httpboot" / f"probe-{time.monotonic_ns()}.txt"
    probe.write_text("served")
    try:
        assert http_get(f"{http_url}/{probe.name}") == (200, b"served")
    finally:
        probe.unlink()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_an_explicit_busy_port_fails_at_once(tmp_path: Path, busy_port: int) -> None:
    require_ironic_venv()
    process = IronicProcess(tmp_path, port=busy_port, auth="noauth", http_port=-1)
    with pytest.raises(PortInUseError) as info:
        process.start()
    assert info.value.port == busy_port
    assert process.pid is None


@pytest.mark.ironic
def test_a_clash_seen_only_by_ironic_is_reported_fast(
    tmp_path: Path, busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ironic's worker crash-loops on EADDRINUSE; its log must end the wait, not the deadline."""
    require_ironic_venv()
    monkeypatch.setattr(IronicProcess, "_check_port", staticmethod(lambda port, what: None))
    process = IronicProcess(tmp_path, port=busy_port, auth="noauth", http_port=-1)
    started = time.monotonic()
    with pytest.raises(PortInUseError, match="could not bind"):
        process.start(deadline=50)
    assert time.monotonic() - started < 30
    assert process.pid is None


@pytest.mark.ironic
def test_a_picked_port_that_is_taken_is_replaced(
    tmp_path: Path, busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_ironic_venv()
    picks = iter([busy_port])
    real_free_port = ironic_process.free_port
    monkeypatch.setattr(ironic_process, "free_port", lambda: next(picks, None) or real_free_port())
    process = IronicProcess(tmp_path, port=0, auth="noauth", http_port=-1)
    process.start()
    try:
        assert process.port not in (0, busy_port)
        assert http_get(f"{process.url}/v1")[0] == 200
    finally:
        process.stop()


def test_missing_venv_skips_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures import ironic as fixtures

    monkeypatch.setattr(fixtures, "is_installed", lambda: False)
    with pytest.raises(pytest.skip.Exception, match=r"hack/test\.sh.*testenv\.ironic install"):
        fixtures.require_ironic_venv()


def test_not_installed_error_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(NotInstalledError, match=r"testenv\.ironic install"):
        IronicProcess(tmp_path, venv=tmp_path / "no-venv").start()
    assert not (tmp_path / "ironic.conf").exists()
