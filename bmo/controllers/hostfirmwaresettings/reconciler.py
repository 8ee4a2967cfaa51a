"""The HostFirmwareSettings reconciler: upstream
``internal/controller/metal3.io/hostfirmwaresettings_controller.go`` ``Reconcile``.

One pass: find the same-named BareMetalHost and HostFirmwareSettings in the caches, ask the
provisioner for Ironic's BIOS settings and registry, make sure the shared FirmwareSchema
exists and lists this HostFirmwareSettings among its owners (``getOrCreateFirmwareSchema``),
then compute the new status (``updateStatus``): settings without Password ones, the schema
reference, ``ChangeDetected`` (a desired value differs from Ironic's) and ``Valid`` (the
desired values pass the schema, with upstream's messages). The status is written only when
it changed, and the ``ValidationFailed`` events are published only after that write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import structlog
from kubernetes import client as k8s

from bmo.api.constants import API_GROUP, API_VERSION, GROUP_VERSION
from bmo.api.errors import APIError
from bmo.api.firmware import (
    FIRMWARE_SCHEMA_PLURAL,
    HFS_KIND,
    HFS_PLURAL,
    FirmwareSchema,
    HostFirmwareSettings,
    HostFirmwareSettingsStatus,
    SchemaReference,
    SettingSchema,
)
from bmo.api.firmware_rules import (
    CONDITION_CHANGE_DETECTED,
    VALIDATION_FAILED_EVENT,
    invalid_setting_event,
    merge_conditions,
    schema_name,
    settings_change_detected,
    settings_conditions,
    storable_schema,
    storable_settings,
    validate_settings,
)
from bmo.api.host import BareMetalHost
from bmo.api.meta import Condition
from bmo.controllers.hostfirmwaresettings.subresource import (
    PROVISIONER_RETRY_DELAY,
    REQUEUE_DELAY,
    REQUEUE_DELAY_CHANGE_DETECTED,
    RESOURCE_NOT_AVAILABLE_RETRY_DELAY,
    UNMANAGED_RETRY_DELAY,
    ObjectStore,
    replace_status,
    skip_reason,
)
from bmo.provisioner import ProvisionerError, ProvisionerFactory, ProvisionerNotReady
from bmo.provisioner.types import build_host_data
from bmo.runtime.cache import KubeObject
from bmo.runtime.controller import Result, TerminalError
from bmo.runtime.errors import AlreadyExists, Conflict, Invalid, NotFound, kube_errors
from bmo.runtime.jsonapi import JsonApi, custom_object_path

__all__ = [
    "HostFirmwareSettingsReconciler",
    "SettingsEventSink",
    "owner_patch",
    "owner_positions",
    "owner_reference",
]

log = structlog.get_logger(__name__)

_TRUE: Final = "True"
_TIMEOUT: Final = 30.0


class SettingsEventSink(Protocol):
    """Where ``ValidationFailed`` events go (an ``EventRecorder`` wrapped by setup)."""

    def publish(self, hfs: HostFirmwareSettings, reason: str, message: str) -> None: ...


def _ignore_event(_reason: str, _message: str) -> None:
    """The provisioner's events while reading settings: upstream's ``info.publishEvent``
    collects them on the HostFirmwareSettings, but reading BIOS settings publishes none."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def owner_reference(kind: str, name: str, uid: str, *, controller: bool = False) -> dict[str, Any]:
    """``controllerutil.SetOwnerReference`` (or, ``controller``, ``SetControllerReference``
    with its ``blockOwnerDeletion``) for a metal3.io owner."""
    ref: dict[str, Any] = {"apiVersion": GROUP_VERSION, "kind": kind, "name": name, "uid": uid}
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


OwnerKey = tuple[str, str, str]
"""An owner reference's identity for ``SetOwnerReference``: (API group, kind, name)."""


def _owner_key(ref: Mapping[str, Any]) -> OwnerKey:
    return (
        str(ref.get("apiVersion", "")).partition("/")[0],
        str(ref.get("kind", "")),
        str(ref.get("name", "")),
    )


def owner_positions(obj: Mapping[str, Any]) -> dict[OwnerKey, int]:
    """Where each owner sits in ``obj``'s ``ownerReferences`` (its first entry)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    positions: dict[OwnerKey, int] = {}
    for i, have in enumerate(refs):
        positions.setdefault(_owner_key(have), i)
    return positions


def owner_patch(
    obj: Mapping[str, Any],
    ref: Mapping[str, Any],
    positions: Mapping[OwnerKey, int] | None = None,
) -> list[dict[str, Any]] | None:
    """The JSON patch that makes ``ref`` one of ``obj``'s owners as ``SetOwnerReference``
    does (replace the entry of the same owner, else append), or ``None`` when it is one.

    Each operation that depends on the copy it was computed from is guarded by a ``test``:
    replacing entry *i* tests that entry's uid, setting the first reference tests the
    resourceVersion. Appending depends on nothing. ``positions`` is
    :func:`owner_positions` of ``obj`` when the caller keeps it: a schema shared by a fleet
    has one reference per host, and looking each host up by a scan costs O(fleet) per pass.
    """
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    if positions is None:
        positions = owner_positions(obj)
    i = positions.get(_owner_key(ref))
    if i is not None:
        have = refs[i]
        if have.get("uid") == ref["uid"] and have.get("apiVersion") == ref["apiVersion"]:
            return None
        path = f"/metadata/ownerReferences/{i}"
        return [
            {"op": "test", "path": f"{path}/uid", "value": have.get("uid")},
            {"op": "replace", "path": path, "value": {**have, **ref}},
        ]
    if refs:
        return [{"op": "add", "path": "/metadata/ownerReferences/-", "value": dict(ref)}]
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": _resource_version(obj)},
        {"op": "add", "path": "/metadata/ownerReferences", "value": [dict(ref)]},
    ]


def _schema_view(obj: Mapping[str, Any]) -> FirmwareSchema:
    """The schema without its owner references, which this controller never reads back:
    a shared schema holds one per host, and decoding them on every pass is O(fleet)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "ownerReferences"}
    return FirmwareSchema.from_dict({**obj, "metadata": meta})


def _resource_version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _condition_moved(old: tuple[Condition, ...], new: Condition) -> bool:
    """``setCondition``'s dirtiness: the type is new or its status flipped (a changed
    reason, message or generation alone does not make upstream write)."""
    have = next((c for c in old if c.type == new.type), None)
    return have is None or have.status != new.status


class HostFirmwareSettingsReconciler:
    """Reconciles one HostFirmwareSettings per call (key = the host's ``namespace/name``)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        hosts: ObjectStore,
        settings_store: ObjectStore,
        schemas: ObjectStore,
        factory: ProvisionerFactory,
        *,
        events: SettingsEventSink | None = None,
        clock: Callable[[], datetime] = _utcnow,
        max_requeue_after: float | None = None,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._json = JsonApi(api_client)
        self._hosts = hosts
        self._hfs = settings_store
        self._schemas = schemas
        self._factory = factory
        self._events = events
        self._clock = clock
        self._cap = max_requeue_after
        # Every host of one model appends itself to the same FirmwareSchema, all at once
        # after a fleet is enrolled. Updates of schemas are serialized in this process and
        # start from the object bmo's own last write returned (the cache lags behind it), so
        # workers do not race each other into a 409 per host; another writer's change
        # still meets a 409, answered with one GET and one retry.
        self._schema_lock = threading.Lock()
        self._schema_written: dict[str, KubeObject] = {}
        # Per schema: its resourceVersion, where each owner sits and the decoded view, so a
        # fleet at rest finds its owner reference in O(1) instead of scanning the schema's
        # one reference per host on every pass (O(fleet²) a period across the fleet).
        self._schema_memo: dict[str, tuple[str, Mapping[OwnerKey, int], FirmwareSchema]] = {}

    def reconcile(self, namespace: str, name: str) -> Result:
        key = f"{namespace}/{name}"
        raw_host = self._hosts.get(key)
        if raw_host is None:
            return Result()
        try:
            host = BareMetalHost.from_dict(raw_host)
        except (APIError, ValueError) as exc:
            raise TerminalError(f"BareMetalHost {key} cannot be decoded: {exc}") from None
        why = skip_reason(host)
        if why is not None:
            log.debug("not reconciling firmware settings", reason=why)
            return self._after(UNMANAGED_RETRY_DELAY)
        raw = self._hfs.get(key)
        if raw is None:
            log.info("hostFirmwareSettings not found")
            return self._after(RESOURCE_NOT_AVAILABLE_RETRY_DELAY)
        try:
            hfs = HostFirmwareSettings.from_dict(raw)
        except (APIError, ValueError) as exc:
            raise TerminalError(f"HostFirmwareSettings {key} cannot be decoded: {exc}") from None
        try:
            provisioner = self._factory.new(build_host_data(host), _ignore_event)
            current = provisioner.get_firmware_settings(True)
        except (ProvisionerNotReady, ProvisionerError) as exc:
            log.info("provisioner is not ready", reason=str(exc))
            return self._after(PROVISIONER_RETRY_DELAY)
        schema = self._get_or_create_schema(hfs, host, current.schema or {})
        hfs = self._update_status(raw, hfs, current.settings, schema)
        changed = any(
            c.type == CONDITION_CHANGE_DETECTED and c.status == _TRUE for c in hfs.status.conditions
        )
        return self._after(REQUEUE_DELAY_CHANGE_DETECTED if changed else REQUEUE_DELAY)

    # -- FirmwareSchema ----------------------------------------------------------------

    def _get_or_create_schema(
        self,
        hfs: HostFirmwareSettings,
        host: BareMetalHost,
        schema: Mapping[str, SettingSchema],
    ) -> FirmwareSchema:
        """``getOrCreateFirmwareSchema``: the shared schema of this registry, with ``hfs``
        among its owners (appended, never replacing another host's)."""
        namespace = hfs.metadata.namespace
        name = schema_name(schema)
        owner = owner_reference(HFS_KIND, hfs.metadata.name, hfs.metadata.uid)
        key = f"{namespace}/{name}"
        with self._schema_lock:
            existing = self._schemas.get(key) or self._schema_written.get(key)
            if existing is None:
                body = self._new_schema(namespace, name, host, schema, owner)
                try:
                    with kube_errors():
                        created: KubeObject = self._api.create_namespaced_custom_object(  # type: ignore[assignment]
                            API_GROUP,
                            API_VERSION,
                            namespace,
                            FIRMWARE_SCHEMA_PLURAL,
                            body,
                            _request_timeout=_TIMEOUT,
                        )
                    log.info("created new firmwareSchema resource", schema=name)
                    self._schema_written[key] = created
                    return FirmwareSchema.from_dict(created)
                except AlreadyExists:
                    # Another host of the same model created it since the cache was filled.
                    existing = self._read_schema(namespace, name)
            assert existing is not None
            return self._add_schema_owner(key, existing, owner)

    def _add_schema_owner(
        self, key: str, cached: KubeObject, owner: Mapping[str, Any]
    ) -> FirmwareSchema:
        """Add ``owner`` to the schema's owners (``controllerutil.SetOwnerReference`` then
        ``r.Update`` in ``getOrCreateFirmwareSchema``), starting from the newest copy bmo
        knows.

        The stored result is upstream's, but the write is a JSON patch that appends one
        reference instead of a PUT of the whole object: a schema shared by a fleet carries one
        reference per host, and re-sending (and re-decoding) all of them for every host that
        joins made enrolling N hosts cost O(N²) (a third of bmo's CPU at 1000 hosts). An
        append also cannot lose another writer's reference, so it needs no resourceVersion.
        """
        namespace, _, name = key.partition("/")
        written = self._schema_written.get(key)
        current = cached
        if written is not None:
            if _resource_version(written) == _resource_version(cached):
                # The cache caught up with bmo's write: it is the newest copy again.
                del self._schema_written[key]
            else:
                current = written
        for attempt in range(2):
            positions, view = self._schema_memo_of(key, current)
            ops = owner_patch(current, owner, positions)
            if ops is None:
                return view
            try:
                with kube_errors():
                    # ``patch_namespaced_custom_object``'s request, thin (one per host
                    # sharing the schema; ``bmo.runtime.jsonapi``).
                    updated: KubeObject = self._json.patch(
                        custom_object_path(
                            API_GROUP, API_VERSION, namespace, FIRMWARE_SCHEMA_PLURAL, name
                        ),
                        ops,
                        "application/json-patch+json",
                        timeout=_TIMEOUT,
                    )
            except (Conflict, Invalid):
                # A ``test`` failed: bmo's copy is older than the server's. Start again
                # from the server's copy.
                self._schema_written.pop(key, None)
                if attempt:
                    raise
                current = self._read_schema(namespace, name)
                continue
            except NotFound:
                # Collected since (its last owner went): the next pass creates it anew.
                self._schema_written.pop(key, None)
                raise
            self._schema_written[key] = updated
            return _schema_view(updated)
        raise AssertionError("unreachable")  # pragma: no cover

    def _schema_memo_of(
        self, key: str, obj: KubeObject
    ) -> tuple[Mapping[OwnerKey, int], FirmwareSchema]:
        """:func:`owner_positions` and :func:`_schema_view` of ``obj``, computed once per
        resourceVersion (callers hold ``_schema_lock``)."""
        version = _resource_version(obj)
        memo = self._schema_memo.get(key)
        if memo is not None and version and memo[0] == version:
            return memo[1], memo[2]
        positions, view = owner_positions(obj), _schema_view(obj)
        self._schema_memo[key] = (version, positions, view)
        return positions, view

    def _read_schema(self, namespace: str, name: str) -> KubeObject:
        """The server's copy, when the cache's (or bmo's own last write) is not good enough."""
        with kube_errors():
            obj: KubeObject = self._api.get_namespaced_custom_object(  # type: ignore[assignment]
                API_GROUP,
                API_VERSION,
                namespace,
                FIRMWARE_SCHEMA_PLURAL,
                name,
                _request_timeout=_TIMEOUT,
            )
        return obj

    @staticmethod
    def _new_schema(
        namespace: str,
        name: str,
        host: BareMetalHost,
        schema: Mapping[str, SettingSchema],
        owner: Mapping[str, Any],
    ) -> dict[str, Any]:
        details = host.status.hardware
        spec: dict[str, Any] = {
            "schema": {k: v.to_dict() for k, v in sorted(storable_schema(schema).items())}
        }
        if details is not None:
            # Upstream stores the vendor and model when hardware details are known.
            spec["hardwareVendor"] = details.system_vendor.manufacturer
            spec["hardwareModel"] = details.system_vendor.product_name
        return {
            "apiVersion": GROUP_VERSION,
            "kind": "FirmwareSchema",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner]},
            "spec": spec,
        }

    # -- status ------------------------------------------------------------------------

    def _update_status(
        self,
        raw: KubeObject,
        hfs: HostFirmwareSettings,
        reported: Mapping[str, str],
        schema: FirmwareSchema,
    ) -> HostFirmwareSettings:
        """``updateStatus``: write only when the settings, the schema reference or a
        condition's status changed; events after the write."""
        now = self._clock()
        settings = storable_settings(reported)
        reference = SchemaReference(namespace=schema.metadata.namespace, name=schema.metadata.name)
        old = hfs.status
        dirty = old.schema != reference or dict(old.settings) != settings
        mismatch = settings_change_detected(hfs.spec.settings, settings)
        problems = (
            validate_settings(hfs.spec.settings, schema.spec.schema, settings) if mismatch else []
        )
        wanted = settings_conditions(hfs.metadata.generation, mismatch, problems)
        dirty = dirty or any(_condition_moved(old.conditions, c) for c in wanted)
        if not dirty:
            return hfs
        # Upstream builds the new status from scratch: both conditions carry ``now``.
        status = HostFirmwareSettingsStatus(
            schema=reference,
            settings=settings,
            last_updated=now,
            conditions=merge_conditions((), wanted, now),
        )
        updated = HostFirmwareSettings(metadata=hfs.metadata, spec=hfs.spec, status=status)
        replace_status(self._api, HFS_PLURAL, raw, updated.to_dict()["status"])
        log.info("Status has changed", change_detected=mismatch, problems=len(problems))
        # "If the status settings are empty, don't raise events."
        if problems and settings and self._events is not None:
            for problem in problems:
                self._events.publish(
                    updated, VALIDATION_FAILED_EVENT, invalid_setting_event(problem)
                )
        return updated

    def _after(self, seconds: float) -> Result:
        return Result(requeue_after=seconds if self._cap is None else min(seconds, self._cap))
