"""The BareMetalHost reconciler: the Kubernetes side of reference §2.2.

:func:`bmo.hoststate.statemachine.reconcile_host` decides; this module loads what it needs
(the host from the informer cache, HardwareData, the BMC credentials Secret), runs it, and
persists the outcome in the order its docstring gives: metadata, HardwareData, status (only
when it changed), and only after every write succeeded the events and metric samples. A
write that fails - a 409 from a concurrent change included - raises, so the work queue
retries the whole pass from fresh state: nothing half-applied is ever published.

Every write is a full ``PUT`` carrying the ``resourceVersion`` the pass read (optimistic
concurrency), built from the raw cached object so fields this version of bmo does not model
survive. The informer cache lags our own writes by a watch event; the reconciler remembers
the object each write returned and prefers it while the cache still shows the version it
replaced, so a pass never redoes the previous one from stale status.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import structlog
from kubernetes import client as k8s
from kubernetes.client import ApiException

from bmo.api.bmc import Credentials
from bmo.api.constants import (
    API_GROUP,
    API_VERSION,
    BMH_FINALIZER,
    BMH_PLURAL,
    HARDWARE_DATA_FINALIZER,
    HARDWARE_DETAILS_ANNOTATION,
    PAUSED_ANNOTATION,
    STATUS_ANNOTATION,
    ErrorType,
    OperationalStatus,
    ProvisioningState,
)
from bmo.api.errors import APIError
from bmo.api.host import BareMetalHost, BareMetalHostStatus
from bmo.controllers.baremetalhost import metrics
from bmo.controllers.baremetalhost.hardwaredata import (
    HardwareDataClient,
    HardwareDataObject,
    HardwareDataStore,
    InvalidHardwareDetails,
    hardware_details_change,
    restored_status,
)
from bmo.controllers.baremetalhost.secrets import (
    BMCCredentialsError,
    CredentialsSecretMissing,
    HostConfigSecrets,
    SecretManager,
    SecretStore,
    load_bmc_credentials,
    load_preprovisioning_network_data,
)
from bmo.hoststate.actions import (
    HOST_ERROR_RETRY_DELAY,
    PROVISIONER_NOT_READY_DELAY,
    Event,
    HostOutcome,
    PassEvents,
)
from bmo.hoststate.conditions import compute_conditions
from bmo.hoststate.run import (
    HostContext,
    SecretVersion,
    StateMachineSettings,
    controller_architecture,
)
from bmo.hoststate.statemachine import needs_finalizer, reconcile_host
from bmo.provisioner import (
    Provisioner,
    ProvisionerError,
    ProvisionerFactory,
    ProvisionerNotReady,
    build_host_data,
)
from bmo.runtime.cache import KubeObject, resource_version, thaw
from bmo.runtime.controller import ReconcileError, Result, TerminalError, is_not_found
from bmo.settings import Settings

__all__ = [
    "HostEventSink",
    "HostReconciler",
    "HostReconcilerSettings",
    "HostStore",
    "SecretAccessError",
    "WriteConflict",
]

log = structlog.get_logger(__name__)

HTTP_CONFLICT: Final = 409
AT_ONCE: Final = 0.001
"""Come back now after a pass that saved progress. Returned as a delay rather than
``Result(requeue=True)``: that form goes through the per-key failure backoff, which only a
delayed or plain result resets, so a host walking through a dozen immediate transitions
would otherwise wait 5 ms x 2^12 for its next step. A pass that saved nothing and asks to
come back at once still gets the growing backoff, so a backend that keeps answering "try
again now" cannot spin a worker."""
S = ProvisioningState

#: States in which the BMC is not (yet, any more) managed: no credentials are loaded.
_NO_CREDENTIALS_STATES: Final = frozenset({S.NONE, S.UNMANAGED})
#: States in which power faults and health are not asked for (reference §9.2).
_NO_OBSERVATION_STATES: Final = frozenset({S.NONE, S.UNMANAGED, S.REGISTERING, S.DELETING})


class HostStore(Protocol):
    """The BareMetalHost informer cache (``Informer`` fits)."""

    def get(self, key: str) -> KubeObject | None: ...


class HostEventSink(Protocol):
    """Where a pass's events go (``bmo.controllers.baremetalhost.events.EventRecorder`` fits)."""

    def publish_all(self, host: BareMetalHost, events: Iterable[Event]) -> None: ...


class WriteConflict(ReconcileError):
    """An object changed since it was read (HTTP 409): retry the pass from fresh state."""


class SecretAccessError(ReconcileError):
    """The BMC credentials Secret could not be read for a reason other than absence."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class HostReconcilerSettings:
    """What the reconciler takes from bmo's settings, plus test-only speed-ups."""

    machine: StateMachineSettings = field(default_factory=StateMachineSettings)
    #: Accept development-only BMC schemes such as ``fake://``.
    development_drivers: bool = False
    #: Upper bound on every requeue delay; ``None`` keeps upstream's delays. Tests use a
    #: fraction of a second so hosts walk their lifecycle without waiting minutes.
    max_requeue_after: float | None = None
    controller_architecture: str = field(default_factory=controller_architecture)

    @classmethod
    def from_settings(cls, settings: Settings) -> HostReconcilerSettings:
        return cls(
            machine=StateMachineSettings(
                max_provisioning_retries=settings.max_provisioning_retries
            ),
            development_drivers=settings.development_drivers,
        )


def _status_changed(before: BareMetalHostStatus, after: BareMetalHostStatus) -> bool:
    return dataclasses.replace(before, last_updated=None) != dataclasses.replace(
        after, last_updated=None
    )


class _HostWriter:
    """Writes one host, always from the latest object the server gave back."""

    def __init__(self, api: k8s.CustomObjectsApi, raw: KubeObject) -> None:
        self._api = api
        self.raw: KubeObject = raw
        self.writes = 0

    @property
    def namespace(self) -> str:
        return str(self.raw["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.raw["metadata"]["name"])

    def update_metadata(self, change: Callable[[dict[str, Any]], None]) -> None:
        body: dict[str, Any] = thaw(self.raw)
        change(body)
        self.raw = self._call(
            self._api.replace_namespaced_custom_object,
            API_GROUP,
            API_VERSION,
            self.namespace,
            BMH_PLURAL,
            self.name,
            body,
        )

    def write_status(self, status: BareMetalHostStatus) -> None:
        body: dict[str, Any] = thaw(self.raw)
        body["status"] = status.to_dict()
        self.raw = self._call(
            self._api.replace_namespaced_custom_object_status,
            API_GROUP,
            API_VERSION,
            self.namespace,
            BMH_PLURAL,
            self.name,
            body,
        )

    def _call(self, method: Callable[..., Any], *args: Any) -> KubeObject:
        try:
            result: KubeObject = method(*args)
        except ApiException as exc:
            if exc.status == HTTP_CONFLICT:
                raise WriteConflict(
                    f"BareMetalHost {self.namespace}/{self.name} changed since it was read "
                    f"(resourceVersion {resource_version(self.raw)}); retrying"
                ) from None
            raise
        self.writes += 1
        return result


def _remove_annotations(keys: Iterable[str]) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        annotations = body["metadata"].get("annotations") or {}
        for key in keys:
            annotations.pop(key, None)
        body["metadata"]["annotations"] = annotations

    return change


def _finalizers(
    add: str | None = None, remove: str | None = None
) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        finalizers = [f for f in body["metadata"].get("finalizers") or [] if f != remove]
        if add is not None and add not in finalizers:
            finalizers.append(add)
        body["metadata"]["finalizers"] = finalizers

    return change


class HostReconciler:
    """Reconciles one BareMetalHost per call; safe for concurrent calls on different keys
    (the work queue never hands one key to two workers)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        host_store: HostStore,
        secret_store: SecretStore,
        factory: ProvisionerFactory,
        settings: HostReconcilerSettings | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        events: HostEventSink | None = None,
        rand: Callable[[], float] = random.random,
        hardware_store: HardwareDataStore | None = None,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._hosts = host_store
        self._secrets = SecretManager(api_client, secret_store)
        self._hardware = HardwareDataClient(api_client, hardware_store)
        self._factory = factory
        self._settings = settings if settings is not None else HostReconcilerSettings()
        self._clock = clock
        self._events = events
        self._rand = rand
        # key -> (resourceVersion the cache showed, object our last write returned)
        self._written: dict[str, tuple[str, KubeObject]] = {}
        self._written_lock = threading.Lock()

    # -- the Reconciler protocol ---------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> Result:
        metrics.reconcile_started(namespace, name)
        try:
            return self._reconcile(namespace, name)
        except Exception as exc:
            if not is_not_found(exc):
                metrics.reconcile_failed()
            raise

    # -- the pipeline --------------------------------------------------------------------

    def _reconcile(self, namespace: str, name: str) -> Result:
        key = f"{namespace}/{name}"
        cached = self._hosts.get(key)
        if cached is None:
            # Gone: drop its per-host series (including the count just made) so a cluster
            # that churns hosts does not grow series without bound.
            self._forget_written(key)
            metrics.forget_host(namespace, name)
            return Result()
        raw = self._freshest(key, cached)
        if PAUSED_ANNOTATION in ((raw.get("metadata") or {}).get("annotations") or {}):
            log.info("host is paused; not reconciling")
            return Result()
        try:
            host = BareMetalHost.from_dict(raw)
        except (APIError, ValueError) as exc:
            raise TerminalError(f"BareMetalHost {key} cannot be decoded: {exc}") from None

        writer = _HostWriter(self._api, raw)
        base_version = resource_version(cached)
        try:
            return self._reconcile_host(host, writer)
        finally:
            if writer.raw is not raw:
                self._remember_written(key, base_version, writer.raw)

    def _reconcile_host(self, host: BareMetalHost, writer: _HostWriter) -> Result:
        now = self._clock()
        hardware_data = self._hardware.get(host.namespace, host.name)
        early = self._reconcile_host_data(host, hardware_data, writer, now)
        if early is not None:
            return early

        if needs_finalizer(host):
            writer.update_metadata(_finalizers(add=BMH_FINALIZER))
            log.info("added host finalizer")
            return Result(requeue_after=AT_ONCE)

        state = host.status.provisioning.state
        deleting = host.metadata.deletion_timestamp is not None
        credentials: Credentials | None = None
        secret: SecretVersion | None = None
        if state not in _NO_CREDENTIALS_STATES:
            try:
                credentials, secret = load_bmc_credentials(
                    self._secrets,
                    host,
                    allow_development=self._settings.development_drivers,
                    add_finalizer=state != S.DELETING,
                )
            except BMCCredentialsError as exc:
                if not deleting:
                    return self._credentials_error(host, exc, writer, now)
                log.info("deleting without usable BMC credentials", reason=str(exc))
            except ApiException as exc:
                if exc.status == HTTP_CONFLICT:
                    # Hosts sharing one Secret race to label/own/finalize it: an ordinary
                    # optimistic-concurrency conflict, retried from fresh state.
                    raise WriteConflict(
                        f"BMC secret {host.namespace}/{host.spec.bmc.credentials_name} changed "
                        "while being claimed; retrying"
                    ) from None
                if not deleting:
                    metrics.credentials_unhandled_error()
                    raise SecretAccessError(
                        "An unhandled failure occurred with the BMC secret "
                        f"{host.namespace}/{host.spec.bmc.credentials_name}: HTTP {exc.status}"
                    ) from None
                log.info("deleting without a readable BMC secret", status=exc.status)
        preprovisioning_network_data = ""
        if state not in _NO_CREDENTIALS_STATES:
            preprovisioning_network_data = self._preprovisioning_network_data(host, state)

        recorder = PassEvents()
        try:
            provisioner = self._factory.new(build_host_data(host, credentials), recorder.publish)
        except ProvisionerNotReady as exc:
            metrics.provisioner_not_ready()
            log.info("provisioner not ready; will retry", reason=str(exc))
            return Result(requeue_after=self._delay(PROVISIONER_NOT_READY_DELAY))

        ctx = HostContext(
            provisioner=provisioner,
            now=now,
            have_credentials=credentials is not None,
            credentials_secret=secret,
            settings=self._settings.machine,
            rand=self._rand,
            events=recorder,
            host_config=HostConfigSecrets(self._secrets, host),
            hardware_data=hardware_data.hardware if hardware_data is not None else None,
            preprovisioning_network_data=preprovisioning_network_data,
            controller_architecture=self._settings.controller_architecture,
        )
        outcome = reconcile_host(host, ctx)
        if outcome.error is not None:
            raise outcome.error
        power_failure, health = self._observe(provisioner, outcome.host)
        conditions = compute_conditions(
            outcome.host, power_failure=power_failure, health=health, now=now
        )
        status = dataclasses.replace(outcome.host.status, conditions=conditions)
        progressed = self._apply(host, outcome, status, writer, now)
        return self._result(outcome, progressed)

    def _preprovisioning_network_data(self, host: BareMetalHost, state: str) -> str:
        """Step 7: claim the preprovisioning network data Secret and read it; while
        deleting, a missing one is no reason to stop."""
        try:
            return load_preprovisioning_network_data(
                self._secrets, host, add_finalizer=state != S.DELETING
            )
        except ApiException as exc:
            if host.metadata.deletion_timestamp is not None:
                return ""
            raise SecretAccessError(
                "cannot use the preprovisioning network data secret "
                f"{host.namespace}/{host.spec.preprovisioning_network_data_name}: "
                f"HTTP {exc.status}"
            ) from None

    def _reconcile_host_data(
        self,
        host: BareMetalHost,
        hardware_data: HardwareDataObject | None,
        writer: _HostWriter,
        now: datetime,
    ) -> Result | None:
        """Steps 3-4: HardwareData finalizer, status annotation, architecture, hardware
        details. Anything written ends the pass with a requeue, as upstream."""
        deleting = host.metadata.deletion_timestamp is not None
        if (
            deleting
            and hardware_data is not None
            and HARDWARE_DATA_FINALIZER in hardware_data.finalizers
        ):
            self._hardware.remove_finalizer(hardware_data)

        restored = restored_status(host, hardware_data)
        if restored is not None:
            if restored.last_updated is None:
                restored = dataclasses.replace(restored, last_updated=now)
            writer.write_status(restored)
            log.info("restored status from annotation", state=restored.provisioning.state)
            return Result(requeue_after=AT_ONCE)
        if not host.status.is_empty() and STATUS_ANNOTATION in host.annotations:
            writer.update_metadata(_remove_annotations([STATUS_ANNOTATION]))
            return Result(requeue_after=AT_ONCE)
        if (
            not host.spec.architecture
            and hardware_data is not None
            and hardware_data.hardware is not None
            and hardware_data.hardware.cpu.arch
        ):
            arch = hardware_data.hardware.cpu.arch

            def set_architecture(body: dict[str, Any]) -> None:
                body.setdefault("spec", {})["architecture"] = arch

            writer.update_metadata(set_architecture)
            return Result(requeue_after=AT_ONCE)

        try:
            change = hardware_details_change(host, hardware_data)
        except InvalidHardwareDetails as exc:
            raise TerminalError(str(exc)) from None
        if change.hardware is not None:
            writer.write_status(
                dataclasses.replace(host.status, hardware=change.hardware, last_updated=now)
            )
        if change.remove_annotation:
            writer.update_metadata(_remove_annotations([HARDWARE_DETAILS_ANNOTATION]))
        if change.hardware is None and not change.remove_annotation:
            return None
        event = change.event
        if event is not None:
            self._publish(host, [Event(*event)])
        return Result(requeue_after=AT_ONCE)

    def _credentials_error(
        self, host: BareMetalHost, error: BMCCredentialsError, writer: _HostWriter, now: datetime
    ) -> Result:
        """Upstream's ``credentialsErrorResult``: record, tell, and poll only for a Secret
        that may yet appear (a claimed Secret's changes wake the host by themselves)."""
        missing = isinstance(error, CredentialsSecretMissing)
        if missing:
            metrics.credentials_missing()
        else:
            metrics.credentials_invalid()
        message = str(error)
        failed = host.with_status(
            operational_status=OperationalStatus.ERROR,
            error_type=ErrorType.REGISTRATION,
            error_message=message,
            error_count=host.status.error_count + 1,
        )
        conditions = compute_conditions(failed, power_failure=None, health="", now=now)
        writer.write_status(
            dataclasses.replace(failed.status, conditions=conditions, last_updated=now)
        )
        log.info("BMC credentials unusable", reason=message, requeue=missing)
        self._publish(host, [Event("BMCCredentialError", message)])
        if missing:
            return Result(requeue_after=self._delay(HOST_ERROR_RETRY_DELAY))
        return Result()

    def _observe(
        self, provisioner: Provisioner, host: BareMetalHost
    ) -> tuple[bool | None, str | None]:
        """``(power_failure, health)`` for the conditions; ``None`` where not asked."""
        state = host.status.provisioning.state
        if (
            state in _NO_OBSERVATION_STATES
            or host.status.operational_status == OperationalStatus.DETACHED
        ):
            return None, None
        try:
            return bool(provisioner.has_power_failure()), str(provisioner.get_health())
        except ProvisionerError as exc:
            log.info("could not read power fault or health", reason=str(exc))
            return None, ""

    def _apply(
        self,
        before: BareMetalHost,
        outcome: HostOutcome,
        status: BareMetalHostStatus,
        writer: _HostWriter,
        now: datetime,
    ) -> bool:
        """Persist ``outcome`` in ``HostOutcome``'s order; publish only after every write.
        Returns whether anything was written."""
        host = outcome.host
        writes = writer.writes
        if outcome.object_dirty:
            if outcome.remove_finalizer and outcome.release_secrets:
                self._release_secrets(host)
            remove_annotations = _remove_annotations(outcome.annotations_to_remove)
            remove_finalizer = _finalizers(
                remove=BMH_FINALIZER if outcome.remove_finalizer else None
            )

            def change(body: dict[str, Any]) -> None:
                remove_annotations(body)
                remove_finalizer(body)

            writer.update_metadata(change)
            if outcome.remove_finalizer:
                log.info("removed host finalizer")
        if outcome.hardware_data is not None:
            self._hardware.replace(host, outcome.hardware_data)
        write_status = not outcome.delete_complete and (
            _status_changed(before.status, status)
            or (outcome.status_dirty and before.status.is_empty())
        )
        if write_status:
            writer.write_status(dataclasses.replace(status, last_updated=now))
        if outcome.state != outcome.previous_state:
            log.info("provisioning state changed", old=outcome.previous_state, new=outcome.state)
        log.debug(
            "reconciled",
            state=outcome.state,
            action=outcome.action.value,
            status_written=write_status,
            requeue_after=outcome.requeue_after,
            events=outcome.event_reasons(),
        )
        self._publish(host, outcome.events)
        metrics.apply_all(outcome.metrics)
        if outcome.delete_complete:
            metrics.forget_host(host.namespace, host.name)
            self._forget_written(f"{host.namespace}/{host.name}")
        return writer.writes > writes or outcome.hardware_data is not None

    def _release_secrets(self, host: BareMetalHost) -> None:
        names = {host.spec.bmc.credentials_name, host.spec.preprovisioning_network_data_name}
        for name in sorted(n for n in names if n):
            self._secrets.release(host.namespace, name)

    def _publish(self, host: BareMetalHost, events: Iterable[Event]) -> None:
        if self._events is not None:
            self._events.publish_all(host, list(events))

    def _result(self, outcome: HostOutcome, progressed: bool) -> Result:
        delay = outcome.requeue_after
        if delay is None:
            return Result()
        if delay <= 0:
            return Result(requeue_after=AT_ONCE) if progressed else Result(requeue=True)
        return Result(requeue_after=self._delay(delay))

    def _delay(self, seconds: float) -> float:
        cap = self._settings.max_requeue_after
        return seconds if cap is None else min(seconds, cap)

    # -- our own writes versus the lagging cache -----------------------------------------

    def _freshest(self, key: str, cached: KubeObject) -> KubeObject:
        with self._written_lock:
            memo = self._written.get(key)
            if memo is None:
                return cached
            if memo[0] == resource_version(cached):
                return memo[1]
            del self._written[key]
            return cached

    def _remember_written(self, key: str, base_version: str, obj: KubeObject) -> None:
        meta = obj.get("metadata") or {}
        with self._written_lock:
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self._written.pop(key, None)
            else:
                self._written[key] = (base_version, obj)

    def _forget_written(self, key: str) -> None:
        with self._written_lock:
            self._written.pop(key, None)
