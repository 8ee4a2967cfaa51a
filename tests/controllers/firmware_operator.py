"""An in-process operator running the BareMetalHost, HostFirmwareSettings and
HostFirmwareComponents controllers against the Kubernetes API emulator, with the fixture
provisioner; and small helpers for the firmware kinds."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiException

from bmo.controllers.baremetalhost.reconciler import HostReconcilerSettings
from bmo.controllers.baremetalhost.setup import setup as setup_hosts
from bmo.controllers.hostfirmwarecomponents.setup import setup as setup_components
from bmo.controllers.hostfirmwaresettings.setup import setup as setup_settings
from bmo.provisioner import ProvisionerFactory
from bmo.runtime.errors import is_not_found
from bmo.runtime.manager import Manager
from bmo.settings import load
from tests.integration.operator import FAST_REQUEUE, wait_for

GROUP, VERSION = "metal3.io", "v1alpha1"


@contextmanager
def firmware_operator(
    api_client: k8s.ApiClient,
    namespace: str,
    factory: ProvisionerFactory,
    *,
    max_requeue_after: float = FAST_REQUEUE,
    development_drivers: bool = False,
) -> Iterator[Manager]:
    flags = ["--namespace", namespace, "--health-addr", "127.0.0.1:0", "--metrics-addr", "0"]
    flags += ["--webhook-port", "0", "--controller-concurrency", "2", "--provisioner", "fixture"]
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
    hosts = setup_hosts(manager, settings, provisioner_factory=factory, host_settings=host_settings)
    hfs = setup_settings(
        manager, settings, provisioner_factory=factory, max_requeue_after=max_requeue_after
    )
    hfc = setup_components(
        manager, settings, provisioner_factory=factory, max_requeue_after=max_requeue_after
    )
    stop = threading.Event()
    exit_codes: list[int] = []
    thread = threading.Thread(
        target=lambda: exit_codes.append(manager.run(stop)), name="test-manager", daemon=True
    )
    thread.start()
    try:
        wait_for(
            lambda: (
                manager.caches_synced() and all(c.controller.running() for c in (hosts, hfs, hfc))
            ),
            what="controllers started",
        )
        yield manager
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "manager did not stop"
    assert exit_codes == [0]


class Objects:
    """Namespaced metal3.io objects of one plural, as plain dicts."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str, plural: str) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.plural = plural

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.api.get_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, self.namespace, self.plural, name
            )
        except ApiException as exc:
            if is_not_found(exc):
                return None
            raise
        return obj

    def list(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api.list_namespaced_custom_object(  # type: ignore[index]
            GROUP, VERSION, self.namespace, self.plural
        )["items"]
        return items

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.api.patch_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, self.namespace, self.plural, name, patch
        )
        return patched

    def replace_spec(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Replace the whole spec (a merge patch cannot remove map keys by omission)."""
        obj = self.get(name)
        assert obj is not None
        obj["spec"] = spec
        replaced: dict[str, Any] = self.api.replace_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, self.namespace, self.plural, name, obj
        )
        return replaced


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """The condition of type ``kind`` in ``obj``'s status, or ``{}``."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            found: dict[str, Any] = cond
            return found
    return {}
