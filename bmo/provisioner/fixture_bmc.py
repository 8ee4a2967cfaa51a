"""The fixture provisioner's virtual media and BMC event subscriptions.

What Ironic's vmedia API and the Redfish vendor passthru do, in memory: a virtual CD that
holds one URL, and a numbered list of event subscriptions (headers kept so tests can check
they reached the "BMC"). ``busy`` makes the virtual media GET report the node locked, as
Ironic does while a node is reserved; ``fail_next`` makes one call raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from bmo.provisioner.errors import HostLocked, ProvisionerError

__all__ = ["BMC_OPERATIONS", "FixtureBMC", "FixtureBMCVerbs", "FixtureSubscription"]

#: Operations accepted by :meth:`FixtureBMC.fail_next`.
BMC_OPERATIONS: Final = (
    "get_data_image_status",
    "attach_data_image",
    "detach_data_image",
    "add_bmc_event_subscription",
    "remove_bmc_event_subscription",
)


@dataclass(frozen=True)
class FixtureSubscription:
    destination: str
    context: str
    http_headers: tuple[Mapping[str, str], ...] = field(repr=False)


@dataclass
class FixtureBMC:
    """One host's virtual CD and event subscriptions."""

    vmedia_url: str = ""
    busy: bool = False
    subscriptions: dict[str, FixtureSubscription] = field(default_factory=dict)
    next_subscription: int = 1
    _fail_next: dict[str, str] = field(default_factory=dict)

    @property
    def inserted(self) -> bool:
        return bool(self.vmedia_url)

    def fail_next(self, op: str, message: str) -> None:
        """Make the next ``op`` call raise ``ProvisionerError(message)``."""
        if op not in BMC_OPERATIONS:
            raise ValueError(f"unknown fixture BMC operation {op!r}; expected {BMC_OPERATIONS}")
        self._fail_next[op] = message

    def _check(self, op: str) -> None:
        message = self._fail_next.pop(op, None)
        if message is not None:
            raise ProvisionerError(message)


class _HostWithBMC(Protocol):
    registered: bool

    @property
    def bmc(self) -> FixtureBMC: ...


class _FixtureLike(Protocol):
    @property
    def state(self) -> _HostWithBMC: ...

    def _record(self, op: str, **args: Any) -> None: ...

    def _require_node(self) -> None: ...


class FixtureBMCVerbs:
    """The DataImage and BMCEventSubscription verbs of the fixture provisioner (a mixin)."""

    def get_data_image_status(self: _FixtureLike) -> bool:
        self._record("get_data_image_status")
        self._require_node()
        bmc = self.state.bmc
        if bmc.busy:
            raise HostLocked("node is busy")
        bmc._check("get_data_image_status")
        return bmc.inserted

    def attach_data_image(self: _FixtureLike, url: str) -> None:
        self._record("attach_data_image", url=url)
        self._require_node()
        bmc = self.state.bmc
        bmc._check("attach_data_image")
        bmc.vmedia_url = url

    def detach_data_image(self: _FixtureLike) -> None:
        self._record("detach_data_image")
        self._require_node()
        bmc = self.state.bmc
        bmc._check("detach_data_image")
        bmc.vmedia_url = ""

    def add_bmc_event_subscription(
        self: _FixtureLike,
        destination: str,
        context: str,
        http_headers: Sequence[Mapping[str, str]],
    ) -> str:
        # Only the header names are recorded: calls end up in test failure output.
        names = sorted(name for header in http_headers for name in header)
        self._record("add_bmc_event_subscription", destination=destination, header_names=names)
        self._require_node()
        bmc = self.state.bmc
        bmc._check("add_bmc_event_subscription")
        subscription_id = str(bmc.next_subscription)
        bmc.next_subscription += 1
        bmc.subscriptions[subscription_id] = FixtureSubscription(
            destination, context, tuple(dict(h) for h in http_headers)
        )
        return subscription_id

    def remove_bmc_event_subscription(self: _FixtureLike, subscription_id: str) -> None:
        self._record("remove_bmc_event_subscription", subscription_id=subscription_id)
        self._require_node()
        bmc = self.state.bmc
        bmc._check("remove_bmc_event_subscription")
        if subscription_id not in bmc.subscriptions:
            raise ProvisionerError(f"subscription {subscription_id} not found")
        del bmc.subscriptions[subscription_id]
