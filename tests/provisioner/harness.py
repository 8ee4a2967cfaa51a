"""Drive the host state machine with the fixture provisioner, as a thin reconciler would.

``Harness.step`` runs one pass and applies its outcome the way the Kubernetes-side
reconciler must: status changes only when the outcome says the status is dirty, metadata
changes only when the object is dirty, nothing at all on a transient error. The fake clock
moves forward by each requeue delay, so fixture operations with durations complete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bmo.api.constants import BMH_FINALIZER
from bmo.api.host import BareMetalHost, BareMetalHostSpec, BMCDetails, Image, ProvisionStatus
from bmo.api.meta import ObjectMeta
from bmo.hoststate.actions import HostOutcome, PassEvents
from bmo.hoststate.statemachine import HostContext, SecretVersion, reconcile_host
from bmo.provisioner import build_host_data
from bmo.provisioner.fixture import FixtureHost, FixtureProvisionerFactory, FixtureRegistry

NAMESPACE = "metal3"
BMC_ADDRESS = "ipmi://192.0.2.1"
BOOT_MAC = "00:00:5e:00:53:01"
IMAGE = Image(url="http://192.0.2.9/image.qcow2", checksum="0123456789abcdef")
START = datetime(2026, 1, 1, tzinfo=UTC)


def make_host(
    name: str = "host-0",
    *,
    state: str | None = None,
    online: bool = True,
    image: Image | None = None,
    bmc: bool = True,
    annotations: dict[str, str] | None = None,
    deleting: bool = False,
    **spec: Any,
) -> BareMetalHost:
    metadata = ObjectMeta(
        name=name,
        namespace=NAMESPACE,
        uid=f"uid-{name}",
        finalizers=(BMH_FINALIZER,),
        annotations=dict(annotations or {}),
        deletion_timestamp=START if deleting else None,
    )
    host = BareMetalHost(
        metadata=metadata,
        spec=BareMetalHostSpec(
            bmc=BMCDetails(address=BMC_ADDRESS, credentials_name="bmc-secret")
            if bmc
            else BMCDetails(),
            boot_mac_address=BOOT_MAC,
            online=online,
            image=image,
            **spec,
        ),
    )
    if state is not None:
        host = host.with_status(provisioning=ProvisionStatus(state=state))
    return host


def with_annotations(host: BareMetalHost, **changes: str | None) -> BareMetalHost:
    """Set (value) or remove (``None``) annotations; keys use ``__`` for ``/``."""
    annotations = dict(host.annotations)
    for key, value in changes.items():
        real = key.replace("__", "/")
        if value is None:
            annotations.pop(real, None)
        else:
            annotations[real] = value
    return dataclasses.replace(
        host, metadata=dataclasses.replace(host.metadata, annotations=annotations)
    )


def deleted(host: BareMetalHost) -> BareMetalHost:
    return dataclasses.replace(
        host, metadata=dataclasses.replace(host.metadata, deletion_timestamp=START)
    )


class Harness:
    def __init__(self, **registry_args: Any) -> None:
        self.time = 0.0
        self.registry = FixtureRegistry(clock=lambda: self.time, **registry_args)
        self.factory = FixtureProvisionerFactory(self.registry)
        self.secret: SecretVersion | None = SecretVersion("bmc-secret", NAMESPACE, "1")
        self.rand: Callable[[], float] = lambda: 0.0
        self.outcomes: list[HostOutcome] = []

    def fixture(self, host: BareMetalHost) -> FixtureHost:
        return self.registry.host(host.namespace, host.name)

    def now(self) -> datetime:
        return START + timedelta(seconds=self.time)

    def context(self, host: BareMetalHost, **overrides: Any) -> HostContext:
        recorder = PassEvents()
        provisioner = self.factory.new(build_host_data(host), recorder.publish)
        args: dict[str, Any] = {
            "provisioner": provisioner,
            "now": self.now(),
            "credentials_secret": self.secret,
            "rand": self.rand,
            "events": recorder,
            "controller_architecture": "x86_64",
        }
        args.update(overrides)
        return HostContext(**args)

    def run(self, host: BareMetalHost, **overrides: Any) -> HostOutcome:
        """One pass, without applying it."""
        outcome = reconcile_host(host, self.context(host, **overrides))
        self.outcomes.append(outcome)
        return outcome

    def step(self, host: BareMetalHost, **overrides: Any) -> tuple[BareMetalHost, HostOutcome]:
        """One pass, applied as the reconciler would; advances the clock by the requeue."""
        outcome = self.run(host, **overrides)
        return apply(host, outcome), self._tick(outcome)

    def _tick(self, outcome: HostOutcome) -> HostOutcome:
        if outcome.requeue_after:
            self.time += outcome.requeue_after
        return outcome

    def drive(
        self,
        host: BareMetalHost,
        until: Callable[[BareMetalHost, HostOutcome], bool],
        *,
        limit: int = 100,
        **overrides: Any,
    ) -> tuple[BareMetalHost, list[HostOutcome]]:
        """Step until ``until(host, outcome)`` holds; fail after ``limit`` passes."""
        seen: list[HostOutcome] = []
        for _ in range(limit):
            host, outcome = self.step(host, **overrides)
            seen.append(outcome)
            if until(host, outcome):
                return host, seen
        raise AssertionError(
            f"not reached after {limit} passes; states: {[o.state for o in seen[-10:]]}"
        )

    def settle(
        self, host: BareMetalHost, *, limit: int = 100, **overrides: Any
    ) -> tuple[BareMetalHost, list[HostOutcome]]:
        """Step until a pass changes nothing and asks to come back later (steady state)."""
        return self.drive(host, is_steady, limit=limit, **overrides)


def is_steady(host: BareMetalHost, outcome: HostOutcome) -> bool:
    return (
        not outcome.status_dirty
        and not outcome.object_dirty
        and outcome.error is None
        and (outcome.requeue_after is None or outcome.requeue_after >= 60)
    )


def apply(host: BareMetalHost, outcome: HostOutcome) -> BareMetalHost:
    """What the reconciler persists from an outcome (and so what the next pass reads)."""
    if outcome.error is not None:
        return host
    result = host
    if outcome.object_dirty:
        result = dataclasses.replace(result, metadata=outcome.host.metadata)
    if outcome.status_dirty:
        result = dataclasses.replace(result, status=outcome.host.status)
    return result


def states(outcomes: list[HostOutcome]) -> list[str]:
    """The distinct provisioning states the passes went through, in order."""
    seen: list[str] = []
    for outcome in outcomes:
        if not seen or seen[-1] != outcome.state:
            seen.append(outcome.state)
    return seen
