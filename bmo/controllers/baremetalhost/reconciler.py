# Over 600 lines: one pipeline (read, chain steps, scrub, compute conditions, write, publish)
# whose stages share the pass state; the state machine and the writers live in their own modules.
"""The BareMetalHost reconciler: the Kubernetes side of upstream
``internal/controller/metal3.io/baremetalhost_controller.go`` ``Reconcile``.

:func:`bmo.hoststate.statemachine.reconcile_host` decides; this module loads what it needs
(the host from the informer cache, HardwareData, the BMC credentials Secret), runs it, and
persists the outcome in the order its docstring gives: metadata, HardwareData, status (only
when it changed), and only after every write succeeded the events and metric samples. A
write that fails - a 409 from a concurrent change included - raises, so the work queue
retries the whole pass from fresh state: nothing half-applied is ever published.

How a host is written (full ``PUT`` with the read ``resourceVersion``) and how the lagging
cache is bridged live in :mod:`bmo.controllers.baremetalhost.writer`.

Over 600 lines because one pass gathers every input of ``Reconcile`` (credentials,
HardwareData, preprovisioning image, pull secret, firmware, data image) beside the write
path; moving the input loaders to their own module is the next split.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol, cast

import structlog
from kubernetes import client as k8s

from bmo.api.bmc import Credentials
from bmo.api.constants import (
    BMH_FINALIZER,
    HARDWARE_DATA_FINALIZER,
    HARDWARE_DETAILS_ANNOTATION,
    PAUSED_ANNOTATION,
    STATUS_ANNOTATION,
    ErrorType,
    OperationalStatus,
    ProvisioningState,
)
from bmo.api.dataimage import DataImage
from bmo.api.errors import APIError
from bmo.api.hardware import HardwareDetails
from bmo.api.host import BareMetalHost, BareMetalHostStatus
from bmo.api.secretpolicy import CredentialsSecretPolicy
from bmo.controllers.baremetalhost import metrics
from bmo.controllers.baremetalhost.firmware import FirmwareObjects, FirmwareStepWatch
from bmo.controllers.baremetalhost.hardwaredata import (
    HardwareDataClient,
    HardwareDataObject,
    HardwareDataStore,
    InvalidHardwareDetails,
    hardware_details_change,
    restored_status,
)
from bmo.controllers.baremetalhost.imageauth import ImagePullSecret, resolve_pull_secret
from bmo.controllers.baremetalhost.preprovimage import PreprovImageClient, PreprovImageStore
from bmo.controllers.baremetalhost.secrets import (
    BMCCredentialsError,
    CredentialsSecretMissing,
    HostConfigSecrets,
    SecretManager,
    SecretStore,
    load_bmc_credentials,
    load_preprovisioning_network_data,
)
from bmo.controllers.baremetalhost.writer import (
    HostWriter,
    WriteConflict,
    WrittenHosts,
    change_finalizers,
    remove_annotations,
)
from bmo.hoststate.actions import (
    HOST_ERROR_RETRY_DELAY,
    PROVISIONER_NOT_READY_DELAY,
    Event,
    HostOutcome,
    Metrics,
    MetricSample,
    PassEvents,
)
from bmo.hoststate.conditions import CONDITION_ORDER, compute_conditions
from bmo.hoststate.dataimage import data_image_pending
from bmo.hoststate.preprovimage import PreprovImageBuildError, wanted_formats
from bmo.hoststate.run import (
    FirmwareState,
    HostContext,
    SecretVersion,
    StateMachineSettings,
    controller_architecture,
)
from bmo.hoststate.statemachine import needs_finalizer, reconcile_host
from bmo.provisioner import (
    PreprovisioningImage,
    Provisioner,
    ProvisionerError,
    ProvisionerFactory,
    ProvisionerNotReady,
    build_host_data,
)
from bmo.provisioner.deferral import ActionDeferred, actions_deferred
from bmo.redaction import SecretScrubber
from bmo.runtime.cache import KubeObject, resource_version
from bmo.runtime.controller import ReconcileError, Result, TerminalError
from bmo.runtime.errors import Conflict, KubeError, Unreachable, is_not_found
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
#: States in which power faults and health are not asked for: upstream's conditions
#: (``baremetalhost_controller.go`` ``Reconcile``) skip them there.
_NO_OBSERVATION_STATES: Final = frozenset({S.NONE, S.UNMANAGED, S.REGISTERING, S.DELETING})


class HostStore(Protocol):
    """The BareMetalHost informer cache (``Informer`` fits)."""

    def get(self, key: str) -> KubeObject | None: ...


class HostEventSink(Protocol):
    """Where a pass's events go (``bmo.controllers.baremetalhost.events.EventRecorder`` fits)."""

    def publish_all(self, host: BareMetalHost, events: Iterable[Event]) -> None: ...


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
    #: Which Secrets may be BMC credentials (bmo's opt-in ``BMO_BMC_CREDENTIALS_LABEL``).
    credentials_policy: CredentialsSecretPolicy = field(default_factory=CredentialsSecretPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> HostReconcilerSettings:
        return cls(
            machine=StateMachineSettings(
                max_provisioning_retries=settings.controller.max_provisioning_retries
            ),
            development_drivers=settings.controller.development_drivers,
            credentials_policy=settings.controller.credentials_policy,
        )


MAX_CHAINED_STEPS: Final = 16
"""Most state-machine steps one reconcile runs back to back before saving (a bound, so a
machine that keeps asking to come back at once still yields its worker). Every step after
the first runs with provisioner actions deferred (:mod:`bmo.provisioner.deferral`): one
that would act on the backend ends the run, the earlier steps are saved, and it runs again
first thing in the next pass, so the backend is never ahead of the saved state by more than
the one step upstream also allows."""


CHAIN_TIME_BUDGET: Final = 1.0
"""Seconds after which a reconcile starts no further step and saves. While the backend
answers fast, a whole run of steps costs one status write; when it is slow (a loaded Ironic
takes a second per read), steps are saved one by one as upstream does, so a process killed
or restarted loses at most about this much work instead of redoing a long run forever."""


def _continues(before: BareMetalHost, outcome: HostOutcome, powered: bool = False) -> bool:
    """Whether the same reconcile may run the machine again on ``outcome.host`` at once.

    Upstream saves the status after every step that asks to come back at once (``Result``
    ``Requeue: true`` or ``RequeueAfter: 0``) and comes back from the saved host; running
    the next step on the in-memory host instead reaches the same place with one status
    write for the whole run. Only steps that wait, fail, change the object's metadata or
    finish a deletion end the run, and so does a step that changed nothing (nothing to
    continue from) - unless it changed the power (``powered``): the next step reads that
    back, as upstream's next pass would.
    """
    if outcome.requeue_after is None or outcome.requeue_after > 0:
        return False
    if outcome.object_dirty or outcome.delete_complete or outcome.error is not None:
        return False
    return (
        powered
        or outcome.state != before.status.provisioning.state
        or _status_changed(before.status, outcome.host.status)
    )


def _registers_unsaved(saved: BareMetalHost, current: BareMetalHost, chain: _Chain) -> bool:
    """Whether the step on ``current`` may act although its state is not saved: only the
    registration of a new host, right after the pure ``""`` -> ``registering`` step.

    Replaying it from the saved ``""`` is registration itself, which finds the node it may
    have created by name (``ironic.go Register`` looks nodes up by UUID, name, then MAC), so
    a process killed in between loses nothing; the finalizer was saved before either step.
    """
    return (
        chain.steps == 1
        and saved.status.provisioning.state == S.NONE
        and current.status.provisioning.state == S.REGISTERING
        and current.metadata.deletion_timestamp is None
    )


class _Chain:
    """The steps one reconcile ran, folded into one :class:`HostOutcome` to apply."""

    def __init__(self) -> None:
        self._outcomes: list[HostOutcome] = []
        self._at_once = False
        self.provisioner: Provisioner | None = None
        #: The BMC passwords the steps used, for scrubbing what the pass writes.
        self.passwords: list[str] = []

    @property
    def empty(self) -> bool:
        return not self._outcomes

    @property
    def steps(self) -> int:
        return len(self._outcomes)

    def add(self, outcome: HostOutcome, provisioner: Provisioner, password: str) -> None:
        self._outcomes.append(outcome)
        self.provisioner = provisioner
        if password and password not in self.passwords:
            self.passwords.append(password)

    def stop_at_once(self) -> None:
        """A later step could not run: save the earlier ones and come back at once."""
        self._at_once = True

    def merged(self) -> HostOutcome:
        first, last = self._outcomes[0], self._outcomes[-1]
        if len(self._outcomes) == 1 and not self._at_once:
            return last
        hardware = [o.hardware_data for o in self._outcomes if o.hardware_data is not None]
        return dataclasses.replace(
            last,
            previous_state=first.previous_state,
            status_dirty=any(o.status_dirty for o in self._outcomes),
            events=tuple(e for o in self._outcomes for e in o.events),
            metrics=tuple(m for o in self._outcomes for m in o.metrics),
            hardware_data=hardware[-1] if hardware else None,
            requeue_after=0.0 if self._at_once else last.requeue_after,
        )


def _generation(raw: KubeObject) -> int:
    return int((raw.get("metadata") or {}).get("generation") or 0)


def _observing(status: BareMetalHostStatus, old: int, new: int) -> BareMetalHostStatus:
    """``status`` with the conditions this pass computed for generation ``old`` observing
    ``new`` instead: what ``compute_conditions`` gives once the host carries ``new``, since
    a condition's status, reason and transition time do not depend on the generation."""
    if new <= old:
        return status
    return dataclasses.replace(
        status,
        conditions=tuple(
            dataclasses.replace(c, observed_generation=new)
            if c.type in CONDITION_ORDER and c.observed_generation == old
            else c
            for c in status.conditions
        ),
    )


def _set_architecture(arch: str) -> Callable[[dict[str, Any]], None]:
    """``spec.architecture`` from the inspected CPU (upstream ``reconcileHostData``)."""

    def change(body: dict[str, Any]) -> None:
        body.setdefault("spec", {})["architecture"] = arch

    return change


def _status_changed(before: BareMetalHostStatus, after: BareMetalHostStatus) -> bool:
    return dataclasses.replace(before, last_updated=None) != dataclasses.replace(
        after, last_updated=None
    )


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
        firmware: FirmwareObjects | None = None,
        preprov_image_store: PreprovImageStore | None = None,
        data_image_store: HardwareDataStore | None = None,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._hosts = host_store
        self._secrets = SecretManager(api_client, secret_store)
        self._hardware = HardwareDataClient(api_client, hardware_store)
        self._preprov_images = PreprovImageClient(api_client, preprov_image_store)
        self._factory = factory
        # The same-named DataImage, read from its cache: a pending attach holds a power-on.
        self._data_images = data_image_store
        self._settings = settings if settings is not None else HostReconcilerSettings()
        self._clock = clock
        self._events = events
        self._rand = rand
        self._written = WrittenHosts()
        self._firmware = firmware

    # -- the Reconciler protocol ---------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> Result:
        metrics.apply(MetricSample(Metrics.RECONCILE, {"namespace": namespace, "host": name}))
        try:
            return self._reconcile(namespace, name)
        except Exception as exc:
            if not is_not_found(exc):
                metrics.apply(MetricSample(Metrics.RECONCILE_ERROR))
            raise

    # -- the pipeline --------------------------------------------------------------------

    def _reconcile(self, namespace: str, name: str) -> Result:
        key = f"{namespace}/{name}"
        cached = self._hosts.get(key)
        if cached is None:
            # Gone: drop its per-host series (including the count just made) so a cluster
            # that churns hosts does not grow series without bound.
            self._written.forget(key)
            metrics.forget_host(namespace, name)
            if self._firmware is not None:
                self._firmware.forget(key)
            return Result()
        raw = self._written.freshest(key, cached)
        if PAUSED_ANNOTATION in ((raw.get("metadata") or {}).get("annotations") or {}):
            log.info("host is paused; not reconciling")
            return Result()
        try:
            host = BareMetalHost.from_dict(raw)
        except (APIError, ValueError) as exc:
            raise TerminalError(f"BareMetalHost {key} cannot be decoded: {exc}") from None

        writer = HostWriter(self._api, raw)
        try:
            return self._reconcile_host(host, writer)
        finally:
            if writer.raw is not raw:
                replaced = {resource_version(cached), resource_version(raw)}
                self._written.remember(key, replaced.union(writer.versions[:-1]), writer.raw)

    def _data_image_pending(self, host: BareMetalHost) -> bool:
        """Whether the host's DataImage must be attached/ejected before it powers on."""
        if self._data_images is None:
            return False
        cached = self._data_images.get(f"{host.namespace}/{host.name}")
        if cached is None:
            return False
        try:
            image = DataImage.from_dict(cached)
        except (APIError, ValueError):
            return False  # the DataImage controller reports an undecodable object
        return data_image_pending(image, host.spec.bmc.address, self._settings.development_drivers)

    def _reconcile_host(self, host: BareMetalHost, writer: HostWriter) -> Result:
        now = self._clock()
        hardware_data = self._hardware.get(host.namespace, host.name)
        early = self._reconcile_host_data(host, hardware_data, writer, now)
        if early is not None:
            return early

        if needs_finalizer(host):
            writer.update_metadata(change_finalizers(add=BMH_FINALIZER))
            log.info("added host finalizer")
            # Go on from what the server returned rather than spend a pass (and a status
            # write) on coming back: upstream's early return after ``r.Update`` only exists
            # to re-read the host, which the write's response already is.
            host = BareMetalHost.from_dict(writer.raw)

        chain = _Chain()
        current = host
        hardware = hardware_data.hardware if hardware_data is not None else None
        started = time.monotonic()
        for _ in range(MAX_CHAINED_STEPS):
            if not chain.empty and time.monotonic() - started > CHAIN_TIME_BUDGET:
                chain.stop_at_once()
                break
            try:
                first = chain.empty
                defer = not first and not _registers_unsaved(host, current, chain)
                with actions_deferred(defer) as acted:
                    step = self._step(current, hardware, writer, now, first=first)
            except ActionDeferred as deferred:
                if chain.empty:  # pragma: no cover - only later steps defer
                    raise
                log.debug("next step acts on the provisioner; saving first", action=deferred.action)
                chain.stop_at_once()
                break
            except Exception:
                if chain.empty:
                    raise
                # Persist what the earlier steps decided; the next pass meets this again.
                chain.stop_at_once()
                break
            if isinstance(step, Result):
                return step
            if step is None:
                chain.stop_at_once()
                break
            outcome, provisioner, password = step
            chain.add(outcome, provisioner, password)
            if not _continues(current, outcome, powered=acted.converging > 0):
                break
            current = outcome.host
            if outcome.hardware_data is not None:
                hardware = outcome.hardware_data
        merged = chain.merged()
        # The status/event boundary: a backend's message may quote the password it was
        # sent, raw, JSON-escaped or URL-encoded; none of those spellings leaves this pass
        # (the Ready condition repeats the error message, so scrub before computing it).
        scrub = SecretScrubber(chain.passwords)
        after = merged.host
        if scrub:
            after = after.with_status(error_message=scrub(after.status.error_message))
        power_failure, health = self._observe(chain.provisioner, after)
        conditions = compute_conditions(after, power_failure=power_failure, health=health, now=now)
        status = dataclasses.replace(after.status, conditions=conditions)
        progressed = self._apply(host, merged, status, writer, now, scrub=scrub)
        return self._result(merged, progressed)

    def _step(
        self,
        host: BareMetalHost,
        hardware: HardwareDetails | None,
        writer: HostWriter,
        now: datetime,
        *,
        first: bool,
    ) -> tuple[HostOutcome, Provisioner, str] | Result | None:
        """One state-machine pass over ``host`` (upstream ``Reconcile`` after the finalizer).

        The first step of a reconcile reports credential and provisioner-readiness problems
        as upstream does (a status write, or a delayed :class:`Result`). A later step - one
        the same reconcile chained after a step that wanted to come back at once - returns
        ``None`` on any of them instead, so the earlier steps are saved first and the next
        reconcile meets the problem from saved state, exactly as it would have upstream.
        """
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
                    policy=self._settings.credentials_policy,
                )
            except BMCCredentialsError as exc:
                if not first:
                    return None
                if not deleting:
                    return self._credentials_error(host, exc, writer, now)
                log.info("deleting without usable BMC credentials", reason=str(exc))
            except Conflict:
                # Hosts sharing one Secret race to label/own/finalize it: an ordinary
                # optimistic-concurrency conflict, retried from fresh state.
                raise WriteConflict(
                    f"BMC secret {host.namespace}/{host.spec.bmc.credentials_name} changed "
                    "while being claimed; retrying"
                ) from None
            except Unreachable:
                # No answer at all says nothing about the Secret: retried like any failure.
                raise
            except KubeError as exc:
                if not deleting:
                    metrics.apply(MetricSample(Metrics.CREDENTIALS_UNHANDLED_ERROR))
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
            if not first:
                return None
            metrics.apply(MetricSample(Metrics.PROVISIONER_NOT_READY))
            log.info("provisioner not ready; will retry", reason=str(exc))
            return Result(requeue_after=self._delay(PROVISIONER_NOT_READY_DELAY))

        preprov_image: PreprovisioningImage | None = None
        preprov_image_error = ""
        if credentials is not None:
            preprov_image, preprov_image_error = self._preprovisioning_image(host, provisioner)
        pull = ImagePullSecret()
        if state == S.PROVISIONING:
            pull = resolve_pull_secret(self._secrets, host)
            for event in pull.events:
                recorder.record(event)
        firmware = FirmwareState()
        watch: FirmwareStepWatch | None = None
        if self._firmware is not None:
            self._firmware.ensure(host, provisioner)
            firmware = self._firmware.state(host)
            watch = FirmwareStepWatch(provisioner)
            provisioner = cast(Provisioner, watch)

        ctx = HostContext(
            provisioner=provisioner,
            firmware=firmware,
            now=now,
            have_credentials=credentials is not None,
            credentials_secret=secret,
            settings=self._settings.machine,
            rand=self._rand,
            events=recorder,
            host_config=HostConfigSecrets(self._secrets, host),
            hardware_data=hardware,
            preprovisioning_network_data=preprovisioning_network_data,
            preprovisioning_image=preprov_image,
            preprovisioning_image_error=preprov_image_error,
            image_pull_secret=pull.value,
            image_auth_error=pull.error,
            controller_architecture=self._settings.controller_architecture,
            data_image_pending=self._data_image_pending(host),
        )
        outcome = reconcile_host(host, ctx)
        if outcome.error is not None:
            if not first:
                return None
            raise outcome.error
        if self._firmware is not None and watch is not None:
            self._firmware.after_step(host, firmware, watch)
        return outcome, provisioner, credentials.password if credentials is not None else ""

    def _preprovisioning_image(
        self, host: BareMetalHost, provisioner: Provisioner
    ) -> tuple[PreprovisioningImage | None, str]:
        """``(image, error)`` for registration (upstream ``registerHost`` then
        ``getPreprovImage``): nothing when no image is built or this state needs none; the
        error is a registration error. Provisioner and API failures raise (retried)."""
        formats = wanted_formats(host, provisioner.preprovisioning_image_formats())
        if formats is None:
            return None, ""

        def network_data_version(name: str) -> str:
            secret = self._secrets.acquire(host.namespace, name, owner=host, add_finalizer=False)
            return resource_version(secret)

        try:
            image = self._preprov_images.image_for(
                host, formats, self._settings.controller_architecture, network_data_version
            )
        except PreprovImageBuildError as exc:
            return None, str(exc)
        return image, ""

    def _preprovisioning_network_data(self, host: BareMetalHost, state: str) -> str:
        """Claim the preprovisioning network data Secret and read it (upstream
        ``host_config_data.go`` ``PreprovisioningNetworkData``); while deleting, a missing
        one is no reason to stop."""
        try:
            return load_preprovisioning_network_data(
                self._secrets, host, add_finalizer=state != S.DELETING
            )
        except Unreachable:
            raise
        except KubeError as exc:
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
        writer: HostWriter,
        now: datetime,
    ) -> Result | None:
        """Upstream ``reconcileHostData`` then ``updateHardwareDetails``: HardwareData
        finalizer, status annotation, architecture, hardware details. Anything written ends
        the pass with a requeue, as upstream."""
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
            writer.update_metadata(remove_annotations([STATUS_ANNOTATION]))
            return Result(requeue_after=AT_ONCE)
        if (
            not host.spec.architecture
            and hardware_data is not None
            and hardware_data.hardware is not None
            and hardware_data.hardware.cpu.arch
        ):
            writer.update_metadata(_set_architecture(hardware_data.hardware.cpu.arch))
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
            writer.update_metadata(remove_annotations([HARDWARE_DETAILS_ANNOTATION]))
        if change.hardware is None and not change.remove_annotation:
            return None
        event = change.event
        if event is not None:
            self._publish(host, [Event(*event)])
        return Result(requeue_after=AT_ONCE)

    def _credentials_error(
        self, host: BareMetalHost, error: BMCCredentialsError, writer: HostWriter, now: datetime
    ) -> Result:
        """Upstream's ``credentialsErrorResult``: record, tell, and poll only for a Secret
        that may yet appear (a claimed Secret's changes wake the host by themselves)."""
        missing = isinstance(error, CredentialsSecretMissing)
        metrics.apply(
            MetricSample(Metrics.CREDENTIALS_MISSING if missing else Metrics.CREDENTIALS_INVALID)
        )
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
        self, provisioner: Provisioner | None, host: BareMetalHost
    ) -> tuple[bool | None, str | None]:
        """``(power_failure, health)`` for the conditions; ``None`` where not asked."""
        state = host.status.provisioning.state
        if (
            provisioner is None
            or state in _NO_OBSERVATION_STATES
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
        writer: HostWriter,
        now: datetime,
        *,
        scrub: SecretScrubber,
    ) -> bool:
        """Persist ``outcome`` in ``HostOutcome``'s order; publish only after every write.
        Returns whether anything was written."""
        host = outcome.host
        writes = writer.writes
        if outcome.object_dirty:
            if outcome.remove_finalizer and outcome.release_secrets:
                self._release_secrets(host)
            drop_annotations = remove_annotations(outcome.annotations_to_remove)
            drop_finalizer = change_finalizers(
                remove=BMH_FINALIZER if outcome.remove_finalizer else None
            )

            def change(body: dict[str, Any]) -> None:
                drop_annotations(body)
                drop_finalizer(body)

            writer.update_metadata(change)
            if outcome.remove_finalizer:
                log.info("removed host finalizer")
        if outcome.hardware_data is not None:
            self._hardware.replace(host, outcome.hardware_data)
        arch = outcome.hardware_data.cpu.arch if outcome.hardware_data is not None else ""
        if arch and not host.spec.architecture and not outcome.delete_complete:
            # What upstream's next pass (``reconcileHostData``) does with the HardwareData
            # just written, done now instead of in a pass of its own (for a host that has
            # reached a steady state, a minute later). Before the status write, so the
            # conditions it carries already observe the generation this spec change makes:
            # written after, they would take one more status write on the next pass.
            writer.update_metadata(_set_architecture(arch))
            status = _observing(status, before.metadata.generation, _generation(writer.raw))
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
        self._publish(
            host,
            [dataclasses.replace(event, message=scrub(event.message)) for event in outcome.events]
            if scrub
            else outcome.events,
        )
        metrics.apply_all(outcome.metrics)
        if outcome.delete_complete:
            metrics.forget_host(host.namespace, host.name)
            self._written.forget(f"{host.namespace}/{host.name}")
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
