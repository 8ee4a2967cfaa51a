"""The BareMetalHost controller's side of the firmware kinds (upstream
``internal/controller/metal3.io/baremetalhost_controller.go``):

* ``registerHost`` creates the host's empty HostFirmwareSettings (``createHostFirmwareSettings``:
  same name, the host as controller owner) and, when Ironic lists firmware components, its
  HostFirmwareComponents (``createHostFirmwareComponents``: the host as owner);
* ``acquireHostUpdatePolicy`` adds the host as an owner of its HostUpdatePolicy;
* ``getHostFirmwareSettings`` / ``getHostFirmwareComponents`` decide, from the objects'
  conditions, what preparing (and servicing) should apply: :func:`firmware_state` turns them
  into the state machine's :class:`bmo.hoststate.run.FirmwareState`.

Every read comes from an informer cache (upstream reads through the manager's cached
client); only creations and owner-reference updates call the API server.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any, Final, Protocol

import structlog
from kubernetes import client as k8s

from bmo.api.constants import API_GROUP, API_VERSION, BMH_KIND, GROUP_VERSION, ProvisioningState
from bmo.api.errors import APIError
from bmo.api.firmware import (
    HFC_KIND,
    HFC_PLURAL,
    HFS_KIND,
    HFS_PLURAL,
    HostFirmwareComponents,
    HostFirmwareSettings,
    IntOrString,
)
from bmo.api.firmware_rules import (
    FirmwareNotReadyError,
    components_ready_to_apply,
    pending_updates,
    settings_ready_to_apply,
)
from bmo.api.host import BareMetalHost
from bmo.api.hostupdatepolicy import (
    HUP_KIND,
    HUP_PLURAL,
    HostUpdatePolicy,
    live_firmware_settings_allowed,
    live_firmware_updates_allowed,
)
from bmo.controllers.hostfirmwaresettings.subresource import replace_status
from bmo.hoststate.run import FirmwareState
from bmo.provisioner import (
    FirmwareUpdateUnsupported,
    PrepareData,
    Provisioner,
    ProvisionerError,
    ProvisionResult,
    ServicingData,
)
from bmo.runtime.cache import KubeObject, thaw
from bmo.runtime.errors import AlreadyExists, kube_errors
from bmo.runtime.jsonapi import JsonApi, custom_object_path

__all__ = ["FirmwareObjects", "FirmwareStepWatch", "firmware_state", "needs_firmware_objects"]

log = structlog.get_logger(__name__)

_TIMEOUT: Final = 30.0
S = ProvisioningState

#: States in which registration has not succeeded (or no longer matters): no firmware
#: objects are created there (``registerHost`` runs its creations only after a successful
#: registration, and not while deleting).
_NOT_REGISTERED: Final = frozenset(
    {S.NONE, S.UNMANAGED, S.REGISTERING, S.DELETING, S.POWERING_OFF_BEFORE_DELETE}
)

#: Where servicing may run (``manageHostPower`` on a provisioned host), so where the
#: HostUpdatePolicy is read (``acquireHostUpdatePolicy``).
_SERVICEABLE: Final = frozenset({S.PROVISIONED, S.EXTERNALLY_PROVISIONED})


class ObjectStore(Protocol):
    def get(self, key: str) -> KubeObject | None: ...


def needs_firmware_objects(host: BareMetalHost) -> bool:
    """Whether the host is registered (and not going away), so its firmware objects exist."""
    return (
        host.status.provisioning.state not in _NOT_REGISTERED
        and host.metadata.deletion_timestamp is None
        and bool(host.status.provisioning.id)
    )


def _host_owner(host: BareMetalHost, *, controller: bool) -> dict[str, Any]:
    ref: dict[str, Any] = {
        "apiVersion": GROUP_VERSION,
        "kind": BMH_KIND,
        "name": host.metadata.name,
        "uid": host.metadata.uid,
    }
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


def _decode_hfs(raw: KubeObject | None) -> HostFirmwareSettings | None:
    if raw is None:
        return None
    try:
        return HostFirmwareSettings.from_dict(raw)
    except (APIError, ValueError) as exc:
        log.info("HostFirmwareSettings cannot be decoded; ignored", error=str(exc))
        return None


def _decode_hfc(raw: KubeObject | None) -> HostFirmwareComponents | None:
    if raw is None:
        return None
    try:
        return HostFirmwareComponents.from_dict(raw)
    except (APIError, ValueError) as exc:
        log.info("HostFirmwareComponents cannot be decoded; ignored", error=str(exc))
        return None


def firmware_state(
    hfs: HostFirmwareSettings | None,
    hfc: HostFirmwareComponents | None,
    policy: HostUpdatePolicy | None = None,
) -> FirmwareState:
    """What preparing (and servicing) should apply: ``actionPreparing`` and
    ``doServiceIfNeeded`` with ``getHostFirmwareSettings`` and ``getHostFirmwareComponents``.

    Settings count when the HostFirmwareSettings controller flagged ``ChangeDetected`` and
    ``Valid``; a change flagged before Ironic's settings are in the status makes the host
    wait (``ready`` false). Components count when ``ChangeDetected`` is current for the
    object's generation and ``Valid``; only the updates not yet in ``status.updates`` are
    flashed. The HostUpdatePolicy's ``onReboot`` choices allow the same on a provisioned host.
    """
    ready = True
    settings_changed = False
    target: Mapping[str, IntOrString] = {}
    actual: Mapping[str, str] = {}
    try:
        if settings_ready_to_apply(hfs):
            assert hfs is not None
            settings_changed = True
            actual = dict(hfs.status.settings)
            target = dict(hfs.spec.settings)
    except FirmwareNotReadyError:
        ready = False
    components_changed = components_ready_to_apply(hfc)
    updates = (
        pending_updates(hfc.spec.updates, hfc.status.updates)
        if components_changed and hfc is not None
        else ()
    )
    return FirmwareState(
        ready=ready,
        settings_changed=settings_changed,
        components_changed=components_changed,
        target_settings=target,
        actual_settings=actual,
        target_components=tuple(updates),
        live_settings=live_firmware_settings_allowed(policy),
        live_updates=live_firmware_updates_allowed(policy),
        has_settings_spec=hfs is not None and bool(hfs.spec.settings),
        has_components_spec=hfc is not None and bool(hfc.spec.updates),
    )


class FirmwareStepWatch:
    """The provisioner, with a note of what ``prepare``/``service`` answered this pass.

    Upstream's ``actionPreparing`` and ``doServiceIfNeeded`` write the HostFirmwareComponents
    status themselves once the operation started (``saveHostFirmwareComponents``) or failed;
    the state machine here is pure, so the reconciler learns of both through this wrapper
    and writes the status after the pass. Every other verb goes straight through.
    """

    def __init__(self, inner: Provisioner) -> None:
        self._inner = inner
        self.get_firmware_components = inner.get_firmware_components
        self.started = False
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _note(self, result: ProvisionResult, started: bool) -> None:
        self.started = self.started or started
        self.failed = self.failed or bool(result.error_message)

    def prepare(
        self, data: PrepareData, unprepared: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, bool]:
        result, started = self._inner.prepare(data, unprepared, restart_on_failure)
        self._note(result, started)
        return result, started

    def service(
        self, data: ServicingData, unprepared: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, bool]:
        result, started = self._inner.service(data, unprepared, restart_on_failure)
        self._note(result, started)
        return result, started


class FirmwareObjects:
    """The host's HostFirmwareSettings, HostFirmwareComponents and HostUpdatePolicy, read
    from informer caches (``None`` stores: the kind is not watched, nothing is read)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        settings: ObjectStore | None,
        components: ObjectStore | None,
        policies: ObjectStore | None,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._settings = settings
        self._components = components
        self._policies = policies
        # Hosts whose node listed no firmware components: ``namespace/name`` -> node id. Not
        # asked again until the node changes, so a host whose driver has no firmware support
        # costs no Ironic call per reconcile.
        self._no_components: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._settings is not None

    def settings(self, host: BareMetalHost) -> HostFirmwareSettings | None:
        if self._settings is None:
            return None
        return _decode_hfs(self._settings.get(_key(host)))

    def components(self, host: BareMetalHost) -> HostFirmwareComponents | None:
        if self._components is None:
            return None
        return _decode_hfc(self._components.get(_key(host)))

    def policy(self, host: BareMetalHost) -> HostUpdatePolicy | None:
        """``acquireHostUpdatePolicy``: the policy, with the host added as an owner."""
        if self._policies is None:
            return None
        raw = self._policies.get(_key(host))
        if raw is None:
            return None
        try:
            policy = HostUpdatePolicy.from_dict(raw)
        except (APIError, ValueError) as exc:
            log.info("HostUpdatePolicy cannot be decoded; ignored", error=str(exc))
            return None
        refs = list((raw.get("metadata") or {}).get("ownerReferences") or ())
        if not any(r.get("uid") == host.metadata.uid for r in refs):
            body = thaw(raw)
            body["metadata"]["ownerReferences"] = [
                *refs,
                _host_owner(host, controller=False),
            ]
            with kube_errors():
                self._api.replace_namespaced_custom_object(
                    API_GROUP,
                    API_VERSION,
                    host.namespace,
                    HUP_PLURAL,
                    host.name,
                    body,
                    _request_timeout=_TIMEOUT,
                )
            log.info("added host as owner of its hostUpdatePolicy", kind=HUP_KIND)
        return policy

    def forget(self, key: str) -> None:
        """Drop what is remembered about a deleted host."""
        with self._lock:
            self._no_components.pop(key, None)

    def state(self, host: BareMetalHost) -> FirmwareState:
        """The state machine's firmware input; for a provisioned host (a servicing
        candidate) its HostUpdatePolicy is read, and adopted, too."""
        if not self.enabled:
            return FirmwareState()
        policy = None
        if host.status.provisioning.state in _SERVICEABLE:
            policy = self.policy(host)
        return firmware_state(self.settings(host), self.components(host), policy)

    def ensure(self, host: BareMetalHost, provisioner: Provisioner) -> bool:
        """Create what is missing after registration; returns whether anything was created."""
        if not self.enabled or not needs_firmware_objects(host):
            return False
        created = False
        assert self._settings is not None
        if self._settings.get(_key(host)) is None:
            created |= self._create(
                host,
                HFS_PLURAL,
                {
                    "apiVersion": GROUP_VERSION,
                    "kind": HFS_KIND,
                    "metadata": {
                        "name": host.name,
                        "namespace": host.namespace,
                        "ownerReferences": [_host_owner(host, controller=True)],
                    },
                    "spec": {"settings": {}},
                },
            )
        key = _key(host)
        node = host.status.provisioning.id
        with self._lock:
            known_empty = self._no_components.get(key) == node
        if self._components is not None and not known_empty and self._components.get(key) is None:
            try:
                components = provisioner.get_firmware_components()
            except FirmwareUpdateUnsupported:
                components = ()
            except ProvisionerError as exc:
                log.info("could not list firmware components", reason=str(exc))
                return created
            if not components:
                with self._lock:
                    self._no_components[key] = node
            else:
                created |= self._create(
                    host,
                    HFC_PLURAL,
                    {
                        "apiVersion": GROUP_VERSION,
                        "kind": HFC_KIND,
                        "metadata": {
                            "name": host.name,
                            "namespace": host.namespace,
                            "ownerReferences": [_host_owner(host, controller=False)],
                        },
                        "spec": {"updates": []},
                    },
                )
        return created

    def after_step(
        self,
        host: BareMetalHost,
        firmware: FirmwareState,
        watch: FirmwareStepWatch,
    ) -> None:
        """Record in the HostFirmwareComponents status what preparing/servicing did with its
        updates: on failure forget ``status.updates`` (so they are all tried again), once
        started copy ``spec.updates`` there with Ironic's components (``actionPreparing``,
        ``doServiceIfNeeded``, ``saveHostFirmwareComponents``)."""
        if not firmware.components_changed or self._components is None:
            return
        raw = self._components.get(_key(host))
        hfc = _decode_hfc(raw)
        if raw is None or hfc is None:
            return
        if watch.failed:
            if hfc.status.updates is None:
                return
            status = dataclasses.replace(hfc.status, updates=None)
            log.info("handling cleaning error during firmware update")
        elif watch.started:
            if hfc.status.updates == hfc.spec.updates:
                return
            status = dataclasses.replace(
                hfc.status,
                updates=hfc.spec.updates,
                components=tuple(watch.get_firmware_components()),
            )
            log.info("saving hostFirmwareComponents information")
        else:
            return
        body = dataclasses.replace(hfc, status=status).to_dict()["status"]
        replace_status(self._api, HFC_PLURAL, raw, body)

    def _create(self, host: BareMetalHost, plural: str, body: dict[str, Any]) -> bool:
        try:
            with kube_errors():
                # ``create_namespaced_custom_object``'s request through the thin JSON path
                # (``bmo.runtime.jsonapi``): the same bytes, without validate_call/sanitizing.
                JsonApi(self._api.api_client).post(
                    custom_object_path(API_GROUP, API_VERSION, host.namespace, plural),
                    body,
                    timeout=_TIMEOUT,
                )
        except AlreadyExists:
            return False
        log.info("created firmware resource", kind=body["kind"])
        return True


def _key(host: BareMetalHost) -> str:
    return f"{host.namespace}/{host.name}"
