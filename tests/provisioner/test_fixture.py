"""The fixture provisioner on its own: delays, sticky failures, capacity, power, records."""

from __future__ import annotations

import pytest

from bmo.api.bmc import Credentials
from bmo.api.host import Image
from bmo.api.profiles import get_profile
from bmo.provisioner import (
    AdoptData,
    HostData,
    HostWatcher,
    InspectData,
    ManagementAccessData,
    NeedsRegistration,
    PrepareData,
    ProvisionData,
    Provisioner,
    ProvisionerError,
    ProvisionerFactory,
    ProvisionerNotReady,
    ProvisionResult,
)
from bmo.provisioner.fixture import (
    Delay,
    FixtureProvisioner,
    FixtureProvisionerFactory,
    FixtureRegistry,
)

DATA = HostData(
    namespace="ns",
    name="h",
    bmc_address="ipmi://192.0.2.1",
    bmc_credentials=Credentials("admin", "s3cret"),
    boot_mac_address="00:00:5e:00:53:aa",
)
IMAGE = Image(url="http://192.0.2.9/i.qcow2", checksum="abc")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def new(registry: FixtureRegistry, data: HostData = DATA) -> tuple[FixtureProvisioner, list]:  # type: ignore[type-arg]
    events: list[tuple[str, str]] = []
    prov = FixtureProvisionerFactory(registry).new(data, lambda r, m: events.append((r, m)))
    return prov, events


def registered(registry: FixtureRegistry) -> FixtureProvisioner:
    prov, _ = new(registry)
    result, provisioner_id = prov.register(ManagementAccessData(), False, False)
    assert result == ProvisionResult() and provisioner_id
    return prov


def inspect(prov: FixtureProvisioner, **kwargs: bool):  # type: ignore[no-untyped-def]
    args = {"restart_on_failure": False, "refresh": False, "force_reboot": False, **kwargs}
    return prov.inspect_hardware(InspectData(), **args)


def test_implements_the_protocols() -> None:
    factory = FixtureProvisionerFactory()
    assert isinstance(factory, ProvisionerFactory)
    assert isinstance(factory.new(DATA, lambda r, m: None), Provisioner)


def test_host_data_repr_hides_credentials() -> None:
    assert "s3cret" not in repr(DATA)


def test_register_assigns_a_stable_id_and_reregistration_a_new_one() -> None:
    registry = FixtureRegistry()
    prov, events = new(registry)
    _, first = prov.register(ManagementAccessData(), False, False)
    _, again = prov.register(ManagementAccessData(), False, False)
    assert first == again
    assert events == [("Registered", "Registered new host")]
    registry.wipe()
    _, other = prov.register(ManagementAccessData(), False, False)
    assert other not in ("", first)


def test_calls_before_registration_need_registration() -> None:
    prov, _ = new(FixtureRegistry())
    with pytest.raises(NeedsRegistration):
        inspect(prov)
    assert prov.update_hardware_state().powered_on is None
    assert prov.delete() == ProvisionResult()


def test_delay_in_calls() -> None:
    prov = registered(FixtureRegistry(delays={"inspect": Delay(calls=3)}))
    seen = [inspect(prov) for _ in range(4)]
    assert [r.dirty for r, _, _ in seen] == [True, True, True, False]
    assert [started for _, started, _ in seen] == [True, False, False, False]
    assert seen[-1][2] is not None
    # Done: further calls return the details without work.
    result, started, details = inspect(prov)
    assert (result, started, details) == (ProvisionResult(), False, seen[-1][2])


def test_delay_in_seconds_on_the_injected_clock() -> None:
    clock = Clock()
    prov = registered(FixtureRegistry(clock=clock, delays={"provision": Delay(0, seconds=60)}))
    data = ProvisionData(image=IMAGE, hardware_profile=get_profile("unknown"))
    assert prov.provision(data, False).dirty
    clock.t = 59
    assert prov.provision(data, False).dirty
    clock.t = 60
    assert prov.provision(data, False) == ProvisionResult()
    assert prov.state.image_url == IMAGE.url
    assert prov.state.powered_on


def test_failures_are_sticky_until_restarted() -> None:
    prov = registered(FixtureRegistry())
    prov.state.fail_next("inspect", "no agent")
    assert inspect(prov)[0].error_message == "no agent"
    assert inspect(prov)[0].error_message == "no agent"
    result, started, _ = inspect(prov, restart_on_failure=True)
    assert result.dirty and started
    assert inspect(prov)[0] == ProvisionResult()


def test_raise_next_raises_once() -> None:
    prov = registered(FixtureRegistry())
    prov.state.raise_next("adopt", ProvisionerError("boom"))
    with pytest.raises(ProvisionerError):
        prov.adopt(AdoptData(), False)
    assert prov.adopt(AdoptData(), False) == ProvisionResult()


def test_unknown_operation_names_are_rejected() -> None:
    prov = registered(FixtureRegistry())
    with pytest.raises(ValueError, match="unknown fixture operation"):
        prov.state.fail_next("inspekt", "x")
    with pytest.raises(ValueError, match="unknown fixture operation"):
        FixtureRegistry(delays={"bogus": Delay()})


def test_prepare_only_works_when_unprepared() -> None:
    prov = registered(FixtureRegistry())
    assert prov.prepare(PrepareData(), False, False) == (ProvisionResult(), False)
    result, started = prov.prepare(PrepareData(), True, False)
    assert result.dirty and started
    assert prov.prepare(PrepareData(), True, False) == (ProvisionResult(), False)


def test_deprovision_undoes_provision_and_a_failed_deploy() -> None:
    prov = registered(FixtureRegistry(delays={"provision": Delay(0), "deprovision": Delay(0)}))
    data = ProvisionData(image=IMAGE, hardware_profile=get_profile("unknown"))
    prov.state.fail_next("provision", "deploy failed")
    assert prov.provision(data, False).error_message == "deploy failed"
    assert prov.provision(data, False).error_message == "deploy failed"
    assert prov.deprovision(False, "metadata") == ProvisionResult()
    assert prov.provision(data, False) == ProvisionResult()
    assert prov.deprovision(False, "metadata") == ProvisionResult()
    assert prov.state.image_url == ""
    assert not prov.state.powered_on
    assert (
        prov.deprovision(False, "metadata") == ProvisionResult()
    )  # nothing deployed: nothing to do


def test_power_changes_report_work_then_settle() -> None:
    prov = registered(FixtureRegistry())
    assert prov.power_on(False).dirty
    assert prov.update_hardware_state().powered_on is True
    assert prov.power_on(False) == ProvisionResult()
    assert prov.power_off("soft", False).dirty
    assert prov.update_hardware_state().powered_on is False
    assert prov.power_off("hard", False) == ProvisionResult()


def test_power_off_reboots_when_power_off_is_disabled() -> None:
    prov, _ = new(FixtureRegistry())
    prov.register(ManagementAccessData(disable_power_off=True), False, False)
    prov.power_on(False)
    assert prov.power_off("soft", False).dirty
    assert prov.state.powered_on
    assert prov.state.reboots == 1


def test_capacity_counts_busy_hosts_but_not_the_caller() -> None:
    registry = FixtureRegistry(capacity=1)
    first = registered(registry)
    second, _ = new(registry, HostData(namespace="ns", name="other"))
    second.register(ManagementAccessData(), False, False)
    assert first.has_capacity() and second.has_capacity()
    inspect(first)
    assert registry.busy_count() == 1
    assert first.has_capacity()
    assert not second.has_capacity()
    inspect(first)  # done
    assert second.has_capacity()


def test_watchers_hear_of_hand_made_changes_wipes_and_freed_slots() -> None:
    registry = FixtureRegistry(capacity=1)
    factory = FixtureProvisionerFactory(registry)
    woken: list[tuple[str, str]] = []
    freed: list[int] = []
    assert isinstance(factory, HostWatcher)
    assert factory.watch_hosts(lambda ns, name: woken.append((ns, name))) is True
    factory.watch_capacity(freed.append)
    prov = registered(registry)
    inspect(prov)  # starts: holds the slot
    assert woken == [] and freed == []  # bmo's own calls are not news
    inspect(prov)  # done: the slot is given back
    assert freed == [1] and registry.busy_count() == 0
    registry.changed("ns", "h")
    registry.wipe()
    assert woken == [("ns", "h"), ("ns", "h")]


def test_delete_and_detach_forget_the_node() -> None:
    registry = FixtureRegistry()
    prov = registered(registry)
    assert prov.detach(False) == ProvisionResult()
    assert prov.state.detached and not prov.state.registered
    prov = registered(registry)
    assert not prov.state.detached
    assert prov.delete() == ProvisionResult()
    assert not prov.state.registered


def test_calls_are_recorded_unless_disabled() -> None:
    prov = registered(FixtureRegistry())
    prov.power_off("hard", True)
    assert [c.op for c in prov.state.calls] == ["register", "power_off"]
    assert prov.state.calls_to("power_off")[0].args == {"reboot_mode": "hard", "force": True}
    quiet = registered(FixtureRegistry(record_calls=False))
    assert quiet.state.calls == []


def test_inspection_returns_plausible_hardware() -> None:
    prov = registered(FixtureRegistry(delays={"inspect": Delay(0)}))
    _, _, details = prov.inspect_hardware(
        InspectData(cpu_architecture="aarch64"), False, False, False
    )
    assert details is not None
    assert details.cpu.arch == "aarch64"
    assert details.nics[0].mac == DATA.boot_mac_address
    assert details.storage[0].size_bytes > 0
    assert details.hostname == "h"


def test_factory_refuses_while_not_ready() -> None:
    factory = FixtureProvisionerFactory()
    factory.registry.ready = False
    with pytest.raises(ProvisionerNotReady):
        factory.new(DATA, lambda r, m: None)


def test_thousands_of_hosts_are_cheap() -> None:
    registry = FixtureRegistry(record_calls=False, capacity=20)
    factory = FixtureProvisionerFactory(registry)
    for i in range(2000):
        prov = factory.new(HostData(namespace="ns", name=f"h{i}"), lambda r, m: None)
        prov.register(ManagementAccessData(), False, False)
        prov.has_capacity()
    assert len(registry.hosts) == 2000
