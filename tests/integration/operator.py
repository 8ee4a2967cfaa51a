"""An in-process operator against the Kubernetes API emulator, and the helpers its tests use.

:class:`RunningOperator` is what ``bmo run`` builds - the manager with the BareMetalHost
controller, its informers, the event recorder - started in a thread with a provisioner the
test chooses and requeue delays capped so hosts walk their lifecycle in seconds.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiException

from bmo.controllers.baremetalhost.reconciler import HostEventSink, HostReconcilerSettings
from bmo.controllers.baremetalhost.setup import HostController, setup
from bmo.provisioner import ProvisionerFactory
from bmo.runtime.errors import is_not_found
from bmo.runtime.manager import Manager
from bmo.settings import load

GROUP, VERSION, PLURAL = "metal3.io", "v1alpha1", "baremetalhosts"
DEADLINE = 30.0
#: Every requeue delay is capped at this in tests (upstream's are 10 s to hours).
FAST_REQUEUE = 0.2

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout: float = DEADLINE, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what or probe}")
        time.sleep(0.02)


class RunningOperator:
    """The manager plus the host controller it runs, for the duration of a ``with``."""

    def __init__(self, manager: Manager, wired: HostController) -> None:
        self.manager = manager
        self.wired = wired


@contextmanager
def running_operator(
    api_client: k8s.ApiClient,
    namespace: str,
    factory: ProvisionerFactory,
    *,
    development_drivers: bool = False,
    max_requeue_after: float = FAST_REQUEUE,
    events: HostEventSink | None = None,
    metrics_addr: str = "0",
) -> Iterator[RunningOperator]:
    """``metrics_addr`` ``"0"`` serves no metrics; ``"127.0.0.1:0"`` serves them on a free
    port (``RunningOperator.manager.metrics_port``)."""
    flags = ["--namespace", namespace, "--health-addr", "127.0.0.1:0"]
    flags += ["--metrics-addr", metrics_addr]
    if metrics_addr != "0":
        flags += ["--metrics-insecure"]  # plain HTTP on loopback, scraped without a token
    flags += ["--webhook-port", "0", "--controller-concurrency", "2"]
    # The test's own factory drives the hosts; the fixture choice only spares Ironic's settings.
    flags += ["--provisioner", "fixture"]
    if development_drivers:
        flags.append("--development-drivers")
    settings = load(flags, {"POD_NAME": "test-pod"})
    manager = Manager(
        settings.manager,
        api_client,
        leader_election=settings.leader_election,
        identity=f"test-{uuid.uuid4().hex[:6]}",
    )
    host_settings = HostReconcilerSettings(
        machine=HostReconcilerSettings.from_settings(settings).machine,
        development_drivers=development_drivers,
        max_requeue_after=max_requeue_after,
    )
    wired = setup(
        manager,
        settings,
        provisioner_factory=factory,
        host_settings=host_settings,
        events=events,
    )
    stop = threading.Event()
    exit_codes: list[int] = []
    thread = threading.Thread(
        target=lambda: exit_codes.append(manager.run(stop)), name="test-manager", daemon=True
    )
    thread.start()
    try:
        wait_for(
            lambda: manager.caches_synced() and wired.controller.running(),
            what="controller started",
        )
        yield RunningOperator(manager, wired)
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "manager did not stop"
    assert exit_codes == [0]


# -- objects ----------------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create_secret(
    api_client: k8s.ApiClient,
    namespace: str,
    name: str = "bmc-secret",
    *,
    username: str | None = "admin",
    password: str | None = "s3cr3t-pa55",
    data: dict[str, str] | None = None,
) -> dict[str, Any]:
    values = dict(data or {})
    if username is not None:
        values["username"] = username
    if password is not None:
        values["password"] = password
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {k: b64(v) for k, v in values.items()},
    }
    resp = k8s.CoreV1Api(api_client).create_namespaced_secret(
        namespace, body, _preload_content=False
    )
    created: dict[str, Any] = json.loads(resp.data)
    return created


def read_secret(api_client: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        resp = k8s.CoreV1Api(api_client).read_namespaced_secret(
            name, namespace, _preload_content=False
        )
    except ApiException as exc:
        if is_not_found(exc):
            return None
        raise
    secret: dict[str, Any] = json.loads(resp.data)
    return secret


def host_body(
    name: str,
    *,
    address: str = "ipmi://192.0.2.10",
    credentials: str = "bmc-secret",
    mac: str = "00:00:5e:00:53:01",
    online: bool = True,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    bmc: dict[str, Any] = {"address": address, "credentialsName": credentials}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BareMetalHost",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": {"bmc": bmc, "bootMACAddress": mac, "online": online, **spec},
    }


class Hosts:
    """BareMetalHost calls in one namespace, returning plain dicts."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.namespace = namespace

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.api.create_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, self.namespace, PLURAL, body
        )
        return created

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.api.get_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as exc:
            if is_not_found(exc):
                return None
            raise
        return obj

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.api.patch_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, self.namespace, PLURAL, name, patch
        )
        return patched

    def delete(self, name: str) -> None:
        self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def state(self, name: str) -> str:
        obj = self.get(name) or {}
        return str(((obj.get("status") or {}).get("provisioning") or {}).get("state") or "")

    def status(self, name: str) -> dict[str, Any]:
        obj = self.get(name) or {}
        status: dict[str, Any] = obj.get("status") or {}
        return status

    def wait_state(self, name: str, state: str, timeout: float = DEADLINE) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            obj = self.get(name)
            if obj is None:
                return None
            got = ((obj.get("status") or {}).get("provisioning") or {}).get("state")
            return obj if got == state else None

        return wait_for(
            probe,
            timeout=timeout,
            what=f"host {name} in state {state!r} (now {self.state(name)!r})",
        )

    def wait_gone(self, name: str, timeout: float = DEADLINE) -> None:
        wait_for(lambda: self.get(name) is None, timeout=timeout, what=f"host {name} deleted")

    def force_remove(self, name: str) -> None:
        """Clean-up: drop finalizers so the namespace can go."""
        try:
            self.patch(name, {"metadata": {"finalizers": None}})
            self.delete(name)
        except ApiException as exc:
            if not is_not_found(exc):
                raise


def events_for(api_client: k8s.ApiClient, namespace: str, name: str) -> list[dict[str, Any]]:
    resp = k8s.CoreV1Api(api_client).list_namespaced_event(namespace, _preload_content=False)
    items: list[dict[str, Any]] = json.loads(resp.data).get("items") or []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]
