# Over 600 lines: one backend simulating every verb, kept whole so its shared state stays together.
"""An in-memory provisioner: hosts walk the same states as with Ironic, with no Ironic.

Like upstream ``pkg/provisioner/fixture/fixture.go``, the state that Ironic would keep (is the
node registered, is it powered on, what is deployed, which operation is running) lives in a
:class:`FixtureRegistry` shared by every :class:`FixtureProvisioner` built for that host, so
a host makes progress across reconciles exactly as it would against a real backend.

Operations take a configurable :class:`Delay` (a number of calls that report ``dirty``
and/or a duration on an injected clock), can be told to fail (:meth:`FixtureHost.fail_next`)
or raise (:meth:`FixtureHost.raise_next`), and every call is recorded for assertions. The
per-call work is a few dict look-ups so benchmarks can drive thousands of hosts.

Failures are *sticky* where Ironic's are: once an inspection (say) has failed, every later
call reports the same error until one is made with ``restart_on_failure``/``force``, which
restarts the operation. That is what the state machine's fail-once-then-retry relies on.

Firmware: each host has a BIOS settings store (:attr:`FixtureHost.bios_settings`, with an
optional registry in :attr:`FixtureHost.bios_schema`) and firmware components; ``prepare``
and ``service`` apply the BIOS settings and bump the component versions once they finish,
as Ironic's ``bios.apply_configuration`` and ``firmware.update`` steps would.

The fixture's machines change only through its provisioners, except when a test says so:
:meth:`FixtureRegistry.changed` (someone pressed the power button) and
:meth:`FixtureRegistry.wipe` tell the hosts' watchers, as Ironic's node cache does, so the
factory is a :class:`~bmo.provisioner.interface.HostWatcher` like the Ironic one.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from bmo.api import firmware_steps
from bmo.api.constants import ProvisioningState, RebootMode
from bmo.api.firmware import FirmwareComponentStatus, IntOrString, SettingSchema
from bmo.api.hardware import HardwareDetails
from bmo.provisioner.deferral import check_action
from bmo.provisioner.errors import (
    FirmwareUpdateUnsupported,
    NeedsPreprovisioningImage,
    NeedsRegistration,
    ProvisionerError,
    ProvisionerNotReady,
)
from bmo.provisioner.fixture_bmc import FixtureBMC, FixtureBMCVerbs
from bmo.provisioner.fixture_hardware import default_hardware_details
from bmo.provisioner.types import (
    AdoptData,
    EventPublisher,
    FirmwareComponentUpdate,
    FirmwareSettingsResult,
    HardwareState,
    HostData,
    InspectData,
    ManagementAccessData,
    PrepareData,
    PreprovisioningImage,
    ProvisionData,
    ProvisionResult,
    ServicingData,
)

__all__ = [
    "OPERATIONS",
    "Call",
    "Delay",
    "FixtureHost",
    "FixtureProvisioner",
    "FixtureProvisionerFactory",
    "FixtureRegistry",
    "default_hardware_details",
]

#: Operation names accepted by ``Delay`` maps, ``fail_next`` and ``raise_next``.
OPERATIONS: Final = (
    "register",
    "inspect",
    "prepare",
    "provision",
    "deprovision",
    "adopt",
    "delete",
    "detach",
    "power_on",
    "power_off",
    "service",
)

#: Operations that only change the power state (never deferred: see ``bmo.provisioner.deferral``).
_POWER_OPERATIONS: Final = frozenset({"power_on", "power_off"})

#: Operations that occupy one of the backend's (de)provisioning slots while running.
#: States whose next step boots the deploy ramdisk (a subset of ``ironic.go configureNode``).
_PREPROV_IMAGE_STATES: Final = frozenset(
    {ProvisioningState.INSPECTING, ProvisioningState.PREPARING}
)
_BUSY_OPERATIONS: Final = frozenset({"inspect", "provision", "deprovision"})

_ID_NAMESPACE: Final = uuid.UUID("6f1b3a52-3c1e-4d5e-9a0a-0b4d3e2f6c11")


@dataclass(frozen=True)
class Delay:
    """How long an operation takes: ``calls`` calls report ``dirty`` (the one that starts it
    included) and, if ``seconds`` > 0, it also waits that long on the registry's clock.

    ``Delay(0)`` completes on the call that starts it.
    """

    calls: int = 1
    seconds: float = 0.0


_DEFAULT_DELAYS: Final[Mapping[str, Delay]] = MappingProxyType(
    {
        "register": Delay(0),
        "inspect": Delay(1),
        "prepare": Delay(1),
        "provision": Delay(1),
        "deprovision": Delay(1),
        "adopt": Delay(0),
        "delete": Delay(0),
        "detach": Delay(0),
        "power_on": Delay(0),
        "power_off": Delay(0),
        "service": Delay(1),
    }
)


@dataclass(frozen=True)
class Call:
    """One recorded provisioner call: the operation and its interesting arguments."""

    op: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Running:
    calls_left: int
    deadline: float


@dataclass
class FixtureHost:
    """What the backend knows about one host; shared by all its provisioners."""

    namespace: str
    name: str
    registered: bool = False
    provisioner_id: str = ""
    powered_on: bool = False
    disable_power_off: bool = False
    inspected: bool = False
    hardware: HardwareDetails | None = None
    image_url: str = ""
    custom_deploy_method: str = ""
    detached: bool = False
    health: str = ""
    power_failure: bool = False
    registrations: int = 0
    reboots: int = 0
    #: BIOS settings as the backend reports them, and their registry (empty: none).
    bios_settings: dict[str, str] = field(default_factory=dict)
    bios_schema: dict[str, SettingSchema] = field(default_factory=dict)
    #: Firmware components; ``firmware_supported=False`` acts like a ``no-firmware`` node.
    firmware_components: list[FirmwareComponentStatus] = field(default_factory=list)
    firmware_supported: bool = True
    #: ``active`` while deployed, ``servicing`` while a service operation runs.
    servicing: bool = False
    services: int = 0
    aborted_services: int = 0
    #: What ``preprovisioning_image_formats`` answers; ``None``: no image is built. With
    #: formats set, registration in ``inspecting``/``preparing`` waits for an image.
    preprov_image_formats: tuple[str, ...] | None = None
    #: The PreprovisioningImage the last registration was given.
    preprovisioning_image: PreprovisioningImage | None = None
    #: The ``image_pull_secret`` the last provisioning was given (a credential: no repr).
    image_pull_secret: str = field(default="", repr=False)
    #: Virtual media and BMC event subscriptions (:mod:`bmo.provisioner.fixture_bmc`).
    bmc: FixtureBMC = field(default_factory=FixtureBMC)
    calls: list[Call] = field(default_factory=list)
    _running: dict[str, _Running] = field(default_factory=dict)
    _failed: dict[str, str] = field(default_factory=dict)
    _fail_next: dict[str, str] = field(default_factory=dict)
    _raise_next: dict[str, ProvisionerError] = field(default_factory=dict)
    _pending_settings: dict[str, IntOrString] = field(default_factory=dict)
    _pending_updates: tuple[FirmwareComponentUpdate, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    def fail_next(self, op: str, message: str) -> None:
        """Make the next ``op`` call report ``message`` as a failure (sticky, see module)."""
        _check_op(op)
        self._fail_next[op] = message

    def raise_next(self, op: str, error: ProvisionerError) -> None:
        """Make the next ``op`` call raise ``error`` (a transient failure)."""
        _check_op(op)
        self._raise_next[op] = error

    def failed(self, op: str) -> str:
        """The sticky failure message of ``op`` (``""`` when it has not failed)."""
        return self._failed.get(op, "")

    def running(self, op: str) -> bool:
        return op in self._running

    def calls_to(self, op: str) -> list[Call]:
        return [c for c in self.calls if c.op == op]

    def wipe(self) -> None:
        """Forget the node, as an Ironic database wipe would; the machine keeps running."""
        self.registered = False
        self.provisioner_id = ""
        self._running.clear()
        self._failed.clear()


def _check_op(op: str) -> None:
    if op not in OPERATIONS:
        raise ValueError(f"unknown fixture operation {op!r}; expected one of {OPERATIONS}")


class FixtureRegistry:
    """The fixture's "backend": every host's state, the delays, capacity and readiness.

    ``capacity`` bounds how many hosts may inspect/provision/deprovision at once (``None``:
    unbounded), as Ironic's ``PROVISIONING_LIMIT`` does. ``ready=False`` makes the factory
    raise :class:`ProvisionerNotReady`.
    """

    def __init__(
        self,
        *,
        delays: Mapping[str, Delay] | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 10.0,
        capacity: int | None = None,
        record_calls: bool = True,
    ) -> None:
        for op in delays or {}:
            _check_op(op)
        self.delays: dict[str, Delay] = {**_DEFAULT_DELAYS, **(delays or {})}
        self.clock = clock
        self.poll_interval = poll_interval
        self.capacity = capacity
        self.record_calls = record_calls
        self.ready = True
        self.hosts: dict[tuple[str, str], FixtureHost] = {}
        self._busy: set[tuple[str, str]] = set()
        self._watchers: list[Callable[[str, str], None]] = []
        self._capacity_watchers: list[Callable[[int], None]] = []

    def host(self, namespace: str, name: str) -> FixtureHost:
        """The state of one host, created on first use."""
        key = (namespace, name)
        state = self.hosts.get(key)
        if state is None:
            state = self.hosts[key] = FixtureHost(namespace, name)
        return state

    def wipe(self) -> None:
        """Forget every node (simulates Ironic losing its database); watchers hear of
        every host, as the node cache sees every node vanish."""
        for state in self.hosts.values():
            state.wipe()
        self._busy.clear()
        for namespace, name in list(self.hosts):
            self.changed(namespace, name)

    def changed(self, namespace: str, name: str) -> None:
        """Tell the watchers this host's machine changed outside bmo (a test changed its
        :class:`FixtureHost`, as a power button or another Ironic client would)."""
        for wake in list(self._watchers):
            wake(namespace, name)

    def watch(self, wake: Callable[[str, str], None]) -> None:
        self._watchers.append(wake)

    def watch_capacity(self, freed: Callable[[int], None]) -> None:
        self._capacity_watchers.append(freed)

    def busy_count(self) -> int:
        return len(self._busy)

    def has_capacity(self, key: tuple[str, str]) -> bool:
        if self.capacity is None or key in self._busy:
            return True
        return len(self._busy) < self.capacity

    # -- operation bookkeeping

    def _advance(self, state: FixtureHost, op: str) -> tuple[bool, bool]:
        """Start or poll ``op``: ``(started_now, done)``."""
        running = state._running.get(op)
        started = running is None
        if running is None:
            check_action(f"start {op}", converges=op in _POWER_OPERATIONS)
            delay = self.delays[op]
            running = _Running(delay.calls, self.clock() + delay.seconds)
            state._running[op] = running
            if op in _BUSY_OPERATIONS:
                self._busy.add(state.key)
        running.calls_left -= 1
        if running.calls_left < 0 and self.clock() >= running.deadline:
            self._finish(state, op)
            return started, True
        return started, False

    def _finish(self, state: FixtureHost, op: str) -> None:
        state._running.pop(op, None)
        if op in _BUSY_OPERATIONS and not any(o in state._running for o in _BUSY_OPERATIONS):
            self._release(state.key)

    def _release(self, key: tuple[str, str]) -> None:
        """The host gives back its (de)provisioning slot: hosts waiting for one may go."""
        if key in self._busy:
            self._busy.discard(key)
            free = self.capacity - len(self._busy) if self.capacity is not None else 0
            if free > 0:  # without a limit nothing waits for a slot
                for freed in list(self._capacity_watchers):
                    freed(free)

    def _fail(self, state: FixtureHost, op: str, message: str) -> ProvisionResult:
        self._finish(state, op)
        state._failed[op] = message
        return ProvisionResult(error_message=message)


class FixtureProvisioner(FixtureBMCVerbs):
    """One host's provisioner for one reconcile; all state is in the registry."""

    def __init__(
        self, registry: FixtureRegistry, host_data: HostData, publish: EventPublisher
    ) -> None:
        self._registry = registry
        self._host_data = host_data
        self._publish = publish
        self._state = registry.host(host_data.namespace, host_data.name)

    @property
    def state(self) -> FixtureHost:
        return self._state

    # -- helpers

    def _record(self, op: str, **args: Any) -> None:
        if self._registry.record_calls:
            self._state.calls.append(Call(op, args))

    def _injected(self, op: str) -> str:
        """Raise an injected exception, or return an injected failure message."""
        error = self._state._raise_next.pop(op, None)
        if error is not None:
            raise error
        return self._state._fail_next.pop(op, "")

    def _require_node(self) -> None:
        if not self._state.registered:
            raise NeedsRegistration()

    def _dirty(self) -> ProvisionResult:
        return ProvisionResult(dirty=True, requeue_after=self._registry.poll_interval)

    def _sticky(self, op: str, restart: bool) -> ProvisionResult | None:
        """The recorded failure of ``op`` unless the caller asks to restart it."""
        message = self._state._failed.get(op)
        if message is None:
            return None
        if not restart:
            return ProvisionResult(error_message=message)
        del self._state._failed[op]
        return None

    # -- the Provisioner protocol

    def register(
        self, data: ManagementAccessData, credentials_changed: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, str]:
        self._record(
            "register",
            state=data.state,
            credentials_changed=credentials_changed,
            restart_on_failure=restart_on_failure,
        )
        state = self._state
        state.disable_power_off = data.disable_power_off
        state.preprovisioning_image = data.preprovisioning_image
        if (
            state.preprov_image_formats is not None
            and data.preprovisioning_image is None
            and data.state in _PREPROV_IMAGE_STATES
        ):
            raise NeedsPreprovisioningImage("waiting for a preprovisioning image")
        failure = self._sticky("register", restart_on_failure)
        if failure is not None:
            return failure, state.provisioner_id
        message = self._injected("register")
        if message:
            return self._registry._fail(state, "register", message), state.provisioner_id
        if state.registered:
            return ProvisionResult(), state.provisioner_id
        _, done = self._registry._advance(state, "register")
        if not done:
            return self._dirty(), ""
        state.registrations += 1
        state.registered = True
        state.detached = False
        state.provisioner_id = str(
            uuid.uuid5(_ID_NAMESPACE, f"{state.namespace}/{state.name}/{state.registrations}")
        )
        self._publish("Registered", "Registered new host")
        return ProvisionResult(), state.provisioner_id

    def preprovisioning_image_formats(self) -> tuple[str, ...] | None:
        return self._state.preprov_image_formats

    def inspect_hardware(
        self, data: InspectData, restart_on_failure: bool, refresh: bool, force_reboot: bool
    ) -> tuple[ProvisionResult, bool, HardwareDetails | None]:
        self._record(
            "inspect",
            restart_on_failure=restart_on_failure,
            refresh=refresh,
            force_reboot=force_reboot,
        )
        self._require_node()
        state = self._state
        failure = self._sticky("inspect", restart_on_failure)
        if failure is not None:
            return failure, False, None
        message = self._injected("inspect")
        if message:
            return self._registry._fail(state, "inspect", message), False, None
        if refresh and not state.running("inspect"):
            state.inspected = False
        if state.inspected:
            return ProvisionResult(), False, state.hardware
        started, done = self._registry._advance(state, "inspect")
        if started:
            self._publish("InspectionStarted", "Hardware inspection started")
        if not done:
            return self._dirty(), started, None
        state.inspected = True
        state.powered_on = False
        if state.hardware is None:
            state.hardware = default_hardware_details(self._host_data, data.cpu_architecture)
        self._publish("InspectionComplete", "Hardware inspection completed")
        return ProvisionResult(), started, state.hardware

    def update_hardware_state(self) -> HardwareState:
        self._record("update_hardware_state")
        if not self._state.registered:
            return HardwareState(None)
        return HardwareState(self._state.powered_on)

    def adopt(self, data: AdoptData, restart_on_failure: bool) -> ProvisionResult:
        self._record("adopt", state=data.state, restart_on_failure=restart_on_failure)
        self._require_node()
        state = self._state
        failure = self._sticky("adopt", restart_on_failure)
        if failure is not None:
            return failure
        message = self._injected("adopt")
        if message:
            return self._registry._fail(state, "adopt", message)
        _, done = self._registry._advance(state, "adopt")
        return ProvisionResult() if done else self._dirty()

    def prepare(
        self, data: PrepareData, unprepared: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, bool]:
        self._record(
            "prepare",
            unprepared=unprepared,
            restart_on_failure=restart_on_failure,
            settings=dict(data.target_firmware_settings),
            updates=data.target_firmware_components,
        )
        self._require_node()
        state = self._state
        failure = self._sticky("prepare", restart_on_failure)
        if failure is not None:
            return failure, False
        message = self._injected("prepare")
        if message:
            return self._registry._fail(state, "prepare", message), False
        if not unprepared and not state.running("prepare"):
            return ProvisionResult(), False
        if not state.running("prepare"):
            self._stage_firmware(
                data.actual_firmware_settings,
                data.target_firmware_settings,
                data.target_firmware_components,
            )
        started, done = self._registry._advance(state, "prepare")
        if done:
            self._apply_firmware()
        return (ProvisionResult() if done else self._dirty()), started

    def provision(self, data: ProvisionData, force_reboot: bool) -> ProvisionResult:
        method = data.custom_deploy.method if data.custom_deploy is not None else ""
        self._record(
            "provision", image_url=data.image.url, custom_deploy=method, force_reboot=force_reboot
        )
        self._require_node()
        state = self._state
        state.image_pull_secret = data.image_pull_secret
        failed = state._failed.get("provision")
        if failed is not None:
            return ProvisionResult(error_message=failed)
        message = self._injected("provision")
        if message:
            return self._registry._fail(state, "provision", message)
        deployed = state.image_url == data.image.url and state.custom_deploy_method == method
        if deployed and (state.image_url or method) and not state.running("provision"):
            return ProvisionResult()
        started, done = self._registry._advance(state, "provision")
        if started:
            self._publish("ProvisioningStarted", f"Image provisioning started for {data.image.url}")
        if not done:
            return self._dirty()
        state.image_url = data.image.url
        state.custom_deploy_method = method
        state.powered_on = True
        self._publish("ProvisioningComplete", f"Image provisioning completed for {data.image.url}")
        return ProvisionResult()

    def deprovision(
        self, restart_on_failure: bool, automated_cleaning_mode: str
    ) -> ProvisionResult:
        self._record(
            "deprovision",
            restart_on_failure=restart_on_failure,
            automated_cleaning_mode=automated_cleaning_mode,
        )
        self._require_node()
        state = self._state
        failure = self._sticky("deprovision", restart_on_failure)
        if failure is not None:
            return failure
        message = self._injected("deprovision")
        if message:
            return self._registry._fail(state, "deprovision", message)
        deployed = bool(state.image_url or state.custom_deploy_method or state.failed("provision"))
        if not deployed and not state.running("deprovision"):
            return ProvisionResult()
        started, done = self._registry._advance(state, "deprovision")
        if started:
            state._failed.pop("provision", None)
            self._publish("DeprovisioningStarted", "Image deprovisioning started")
        if not done:
            return self._dirty()
        state.image_url = ""
        state.custom_deploy_method = ""
        state.powered_on = False
        self._publish("DeprovisioningComplete", "Image deprovisioning completed")
        return ProvisionResult()

    def _remove(self, op: str) -> ProvisionResult:
        state = self._state
        message = self._injected(op)
        if message:
            return self._registry._fail(state, op, message)
        state._failed.pop(op, None)
        if not state.registered:
            return ProvisionResult()
        _, done = self._registry._advance(state, op)
        if not done:
            return self._dirty()
        state.wipe()
        self._registry._release(state.key)
        return ProvisionResult()

    def delete(self) -> ProvisionResult:
        self._record("delete")
        return self._remove("delete")

    def detach(self, force: bool) -> ProvisionResult:
        self._record("detach", force=force)
        result = self._remove("detach")
        if not result.dirty and not result.error_message:
            self._state.detached = True
        return result

    def power_on(self, force: bool) -> ProvisionResult:
        self._record("power_on", force=force)
        self._require_node()
        state = self._state
        failure = self._sticky("power_on", force)
        if failure is not None:
            return failure
        message = self._injected("power_on")
        if message:
            return self._registry._fail(state, "power_on", message)
        self._registry._finish(state, "power_off")
        if state.powered_on and not state.running("power_on"):
            return ProvisionResult()
        _, done = self._registry._advance(state, "power_on")
        if not done:
            return self._dirty()
        state.powered_on = True
        self._publish("PowerOn", "Host powered on")
        # Like Ironic, the call that changes the power state reports work done (dirty); the
        # next one finds the machine already on. No delay (``fixture.go PowerOn``): it is.
        return ProvisionResult(dirty=True)

    def power_off(self, reboot_mode: str, force: bool) -> ProvisionResult:
        self._record("power_off", reboot_mode=reboot_mode, force=force)
        self._require_node()
        state = self._state
        failure = self._sticky("power_off", force)
        if failure is not None:
            return failure
        message = self._injected("power_off")
        if message:
            return self._registry._fail(state, "power_off", message)
        self._registry._finish(state, "power_on")
        if not state.powered_on and not state.running("power_off"):
            return ProvisionResult()
        _, done = self._registry._advance(state, "power_off")
        if not done:
            return self._dirty()
        if state.disable_power_off:
            # Ironic reboots instead: the machine ends up on again.
            state.reboots += 1
            self._publish("PowerOff", "Host rebooted")
            return self._dirty()
        state.powered_on = False
        soft = reboot_mode == RebootMode.SOFT
        self._publish("PowerOff", "Host soft powered off" if soft else "Host powered off")
        return ProvisionResult(dirty=True)

    # -- firmware (``fixture.go GetFirmwareSettings``/``GetFirmwareComponents``/``Service``)

    def _stage_firmware(
        self,
        actual: Mapping[str, str],
        target: Mapping[str, IntOrString],
        updates: tuple[FirmwareComponentUpdate, ...],
    ) -> None:
        """Remember what the operation being started will apply, as Ironic's steps would."""
        state = self._state
        settings = firmware_steps.bios_settings_to_apply(actual, target)
        state._pending_settings = {str(s["name"]): s["value"] for s in settings}
        state._pending_updates = tuple(updates)

    def _apply_firmware(self) -> None:
        state = self._state
        for name, value in state._pending_settings.items():
            state.bios_settings[name] = str(value)
        now = datetime.now(UTC)
        for update in state._pending_updates:
            for i, component in enumerate(state.firmware_components):
                if component.component == update.component:
                    flashed = f"{component.current_version}+1"
                    state.firmware_components[i] = dataclasses.replace(
                        component,
                        current_version=flashed,
                        last_version_flashed=flashed,
                        updated_at=now,
                    )
        state._pending_settings = {}
        state._pending_updates = ()

    def get_firmware_settings(self, include_schema: bool) -> FirmwareSettingsResult:
        self._record("get_firmware_settings", include_schema=include_schema)
        self._require_node()
        state = self._state
        schema = dict(state.bios_schema) if include_schema else None
        return FirmwareSettingsResult(settings=dict(state.bios_settings), schema=schema)

    def get_firmware_components(self) -> tuple[FirmwareComponentStatus, ...]:
        self._record("get_firmware_components")
        self._require_node()
        if not self._state.firmware_supported:
            raise FirmwareUpdateUnsupported("host has no firmware interface")
        return tuple(self._state.firmware_components)

    def service(
        self, data: ServicingData, unprepared: bool, restart_on_failure: bool
    ) -> tuple[ProvisionResult, bool]:
        """Like ``servicing.go Service``: abort when the changes were withdrawn, a sticky
        failure until ``restart_on_failure``, else run the ``service`` operation."""
        self._record(
            "service",
            unprepared=unprepared,
            restart_on_failure=restart_on_failure,
            settings=dict(data.target_firmware_settings),
            updates=data.target_firmware_components,
        )
        self._require_node()
        state = self._state
        if (state.servicing or state.failed("service")) and data.should_abort():
            self._registry._finish(state, "service")
            state._failed.pop("service", None)
            state.servicing = False
            state.aborted_services += 1
            state._pending_settings, state._pending_updates = {}, ()
            return self._dirty(), True
        failure = self._sticky("service", restart_on_failure)
        if failure is not None:
            return failure, False
        message = self._injected("service")
        if message:
            state.servicing = False
            return self._registry._fail(state, "service", message), False
        if not state.running("service"):
            if not unprepared and not restart_on_failure:
                return ProvisionResult(), False
            self._stage_firmware(
                data.actual_firmware_settings,
                data.target_firmware_settings,
                data.target_firmware_components,
            )
            if not state._pending_settings and not state._pending_updates:
                return ProvisionResult(), True
            state.services += 1
            state.servicing = True
        started, done = self._registry._advance(state, "service")
        if done:
            self._apply_firmware()
            state.servicing = False
            return ProvisionResult(), started
        return self._dirty(), started

    def has_capacity(self) -> bool:
        self._record("has_capacity")
        return self._registry.has_capacity(self._state.key)

    def get_health(self) -> str:
        return self._state.health

    def has_power_failure(self) -> bool:
        return self._state.power_failure


class FixtureProvisionerFactory:
    """Builds :class:`FixtureProvisioner` objects over one registry."""

    def __init__(self, registry: FixtureRegistry | None = None) -> None:
        self.registry = registry if registry is not None else FixtureRegistry()

    def watch_hosts(self, wake: Callable[[str, str], None]) -> bool:
        """:class:`~bmo.provisioner.interface.HostWatcher`: the registry reports every change
        made outside its provisioners (:meth:`FixtureRegistry.changed`, ``wipe``)."""
        self.registry.watch(wake)
        return True

    def watch_capacity(self, freed: Callable[[int], None]) -> None:
        self.registry.watch_capacity(freed)

    def new(self, host_data: HostData, publish: EventPublisher) -> FixtureProvisioner:
        if not self.registry.ready:
            raise ProvisionerNotReady("fixture provisioner is not ready")
        return FixtureProvisioner(self.registry, host_data, publish)
