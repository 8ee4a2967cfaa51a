"""The resilience test bed: a real Ironic of the test's own behind the counting proxy,
the fake agent, and bmo (in-process or ``bmo run`` as a subprocess) pointed at the proxy.

Ironic is reached two ways on purpose: bmo only through the proxy (so every request it
makes is counted and can be disturbed), the test's own look-ups directly (so they are never
counted and keep working while the proxy plays dead).
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.provisioner import IronicProvisionerFactory
from testenv.fake_agent import FakeAgent
from testenv.ironic import IronicProcess, http_get
from testenv.ironic_proxy import IronicProxy
from tests.integration.operator import (
    Hosts,
    RunningOperator,
    host_body,
    running_operator,
    wait_for,
)

IMAGE = {"url": "http://127.0.0.1:9/images/host.qcow2", "checksum": "0123456789abcdef"}
NO_INSPECTION = {"inspect.metal3.io": "disabled"}
DEADLINE = 120.0


def random_mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def fake_host(
    name: str,
    *,
    inspect: bool = False,
    annotations: dict[str, str] | None = None,
    address: str = "fake://127.0.0.1",
    **spec: Any,
) -> dict[str, Any]:
    """A ``fake://`` host (Ironic's fake-hardware), inspection disabled unless asked."""
    notes = dict(annotations or {})
    if not inspect:
        notes.update(NO_INSPECTION)
    spec.setdefault("automatedCleaningMode", "disabled")
    return host_body(name, address=address, mac=random_mac(), annotations=notes, **spec)


def start_ironic(state_dir: Path, fake_conf: dict[str, str] | None = None) -> IronicProcess:
    """An Ironic with HTTP basic auth; ``fake_conf`` goes into ``[fake]`` (e.g.
    ``{"deploy_delay": "5"}`` so a deploy lasts long enough to wipe Ironic during it)."""
    extra: Path | None = None
    if fake_conf:
        state_dir.mkdir(parents=True, exist_ok=True)
        extra = state_dir.parent / f"{state_dir.name}-extra.conf"
        extra.write_text("[fake]\n" + "".join(f"{k} = {v}\n" for k, v in fake_conf.items()))
    process = IronicProcess(
        state_dir=state_dir,
        port=0,
        auth="http_basic",
        username="admin",
        password=secrets.token_urlsafe(16),
        extra_conf=extra,
    )
    process.start()
    return process


def bmo_environ(proxy: IronicProxy, ironic: IronicProcess) -> dict[str, str]:
    """What ``bmo run`` reads: the proxy as IRONIC_ENDPOINT, Ironic's credentials files."""
    return {
        "IRONIC_ENDPOINT": f"{proxy.url}/v1/",
        "METAL3_AUTH_ROOT_DIR": str(ironic.auth_dir),
    }


class Nodes:
    """The test's own, uncounted view of Ironic's nodes (straight to Ironic)."""

    def __init__(self, ironic: IronicProcess) -> None:
        self.ironic = ironic

    def all(self) -> dict[str, dict[str, Any]]:
        """Nodes by name."""
        query = urllib.parse.urlencode(
            {
                "fields": "uuid,name,provision_state,target_provision_state,maintenance,"
                "instance_info,last_error,power_state",
                "limit": "1000",
            }
        )
        status, body = http_get(
            f"{self.ironic.url}/v1/nodes?{query}",
            self.ironic.credentials,
            timeout=30.0,
        )
        if status != 200:
            return {}
        return {n["name"]: n for n in json.loads(body)["nodes"] if n.get("name")}

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.all().get(f"{namespace}~{name}")

    def wait_state(
        self, namespace: str, name: str, state: str, timeout: float = DEADLINE
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            node = self.get(namespace, name)
            return node if node is not None and node["provision_state"] == state else None

        return wait_for(probe, timeout=timeout, what=f"Ironic node {name} {state!r}")


@dataclass
class Stack:
    """Ironic + proxy + fake agent for one test; ``operator()`` runs bmo against it."""

    ironic: IronicProcess
    proxy: IronicProxy
    agent: FakeAgent
    config: IronicConfig
    nodes: Nodes

    def wipe_and_restart(self) -> None:
        """Ironic loses its database: stop, delete the DB, start on the same port."""
        self.ironic.wipe_database()
        self.ironic.start()

    def factory(self) -> IronicProvisionerFactory:
        return IronicProvisionerFactory(
            IronicClient(self.config), self.config, allow_development=True
        )

    @contextmanager
    def operator(
        self,
        api_client: k8s.ApiClient,
        namespace: str,
        *,
        max_requeue_after: float | None = 0.5,
    ) -> Iterator[RunningOperator]:
        with running_operator(
            api_client,
            namespace,
            self.factory(),
            development_drivers=True,
            max_requeue_after=max_requeue_after,  # type: ignore[arg-type]  # None: upstream's
        ) as running:
            yield running


@contextmanager
def stack(
    tmp_path: Path, fake_conf: dict[str, str] | None = None, *, agent: bool = True
) -> Iterator[Stack]:
    """``agent=False`` leaves the fake agent stopped (``stack.agent.start()`` later), so
    hosts that inspect wait in ``inspect wait`` for as long as the test likes."""
    ironic = start_ironic(tmp_path / "ironic", fake_conf)
    try:
        with IronicProxy(ironic.url) as proxy:
            fake_agent = FakeAgent(ironic.url, ironic.credentials, interval=0.3)
            if agent:
                fake_agent.start()
            try:
                config = IronicConfig.from_env(bmo_environ(proxy, ironic))
                yield Stack(ironic, proxy, fake_agent, config, Nodes(ironic))
            finally:
                fake_agent.stop()
    finally:
        ironic.stop()


def provisioning_id(hosts: Hosts, name: str) -> str:
    return str(hosts.status(name).get("provisioning", {}).get("ID") or "")


def remove_all(hosts: Hosts) -> None:
    """Clean-up: drop every host of the namespace, finalizers and all."""
    items = hosts.api.list_namespaced_custom_object(  # type: ignore[union-attr]
        "metal3.io", "v1alpha1", hosts.namespace, "baremetalhosts"
    )["items"]
    for item in items:
        hosts.force_remove(item["metadata"]["name"])
