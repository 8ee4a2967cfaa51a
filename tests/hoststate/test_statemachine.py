"""The host state machine walked with the fixture provisioner: lifecycle, spec changes,
errors and retries, capacity, purity. Deletion, detach and power live in sibling files."""

from __future__ import annotations

import dataclasses
import random

import pytest

from bmo.api.constants import ErrorType, OperationalStatus, ProvisioningState
from bmo.api.host import BareMetalHost, CustomDeploy, Image
from bmo.hoststate.actions import ActionKind, Metrics, PassEvents
from bmo.hoststate.statemachine import (
    STATE_HANDLERS,
    SecretVersion,
    StateMachineSettings,
    needs_finalizer,
    reconcile_host,
)
from bmo.provisioner import (
    NeedsRegistration,
    ProvisionerBusy,
    ProvisionerError,
    ProvisionerNotReady,
    build_host_data,
)
from tests.provisioner.harness import (
    IMAGE,
    Harness,
    apply,
    deleted,
    make_host,
    states,
    with_annotations,
)

S = ProvisioningState


def provisioned(h: Harness, **kwargs: object):  # type: ignore[no-untyped-def]
    host, _ = h.settle(make_host(image=IMAGE, **kwargs))  # type: ignore[arg-type]
    assert host.status.provisioning.state == S.PROVISIONED
    return host


def available(h: Harness, **kwargs: object):  # type: ignore[no-untyped-def]
    host, _ = h.settle(make_host(**kwargs))  # type: ignore[arg-type]
    assert host.status.provisioning.state == S.AVAILABLE
    return host


# --- the full lifecycle ------------------------------------------------------------------------


def test_happy_path_walks_every_state_and_back_to_available() -> None:
    h = Harness()
    host, outcomes = h.settle(make_host(image=IMAGE))
    assert states(outcomes) == [
        S.REGISTERING,
        S.INSPECTING,
        S.PREPARING,
        S.AVAILABLE,
        S.PROVISIONING,
        S.PROVISIONED,
    ]
    status = host.status
    assert status.operational_status == OperationalStatus.OK
    assert status.error_count == 0
    assert status.provisioning.image == IMAGE
    assert status.provisioning.id == h.fixture(host).provisioner_id != ""
    assert status.provisioning.boot_mode == "UEFI"
    assert status.provisioning.root_device_hints is not None
    assert status.provisioning.root_device_hints.device_name == "/dev/sda"
    assert status.hardware_profile == "unknown"
    assert status.hardware is not None and status.hardware.cpu.arch == "x86_64"
    assert status.powered_on is True
    assert status.good_credentials.matches("bmc-secret", "metal3", "1")
    assert status.tried_credentials.matches("bmc-secret", "metal3", "1")
    history = status.operation_history
    for metric in (history.register, history.inspect, history.provision):
        assert metric.start is not None and metric.end is not None
    assert history.provision.duration().total_seconds() > 0
    # HardwareData is asked for exactly once, with the inspection result.
    written = [o.hardware_data for o in outcomes if o.hardware_data is not None]
    assert written == [status.hardware]
    reasons = [r for o in outcomes for r in o.event_reasons()]
    for reason in (
        "Registered",
        "ProfileSet",
        "BMCAccessValidated",
        "InspectionStarted",
        "InspectionComplete",
        "ProvisioningStarted",
        "ProvisioningComplete",
    ):
        assert reason in reasons
    changes = [
        (m.labels["prev_state"], m.labels["new_state"])
        for o in outcomes
        for m in o.metrics
        if m.name == Metrics.STATE_CHANGE
    ]
    assert changes[0] == ("", S.REGISTERING)
    assert changes[-1] == (S.PROVISIONING, S.PROVISIONED)
    durations = {m.name for o in outcomes for m in o.metrics if m.kind.value == "observe"}
    assert Metrics.OPERATION_DURATION["inspect"] in durations

    # Removing the image deprovisions and the host returns to available.
    host, outcomes = h.settle(host.with_spec(image=None))
    assert states(outcomes) == [S.DEPROVISIONING, S.AVAILABLE]
    assert host.status.provisioning.image.url == ""
    assert host.status.operation_history.deprovision.end is not None
    assert h.fixture(host).image_url == ""
    assert len(h.fixture(host).calls_to("deprovision")) >= 2


def test_registration_runs_on_every_reconcile_and_recreates_a_lost_node() -> None:
    h = Harness()
    host = provisioned(h)
    registrations = len(h.fixture(host).calls_to("register"))
    host, _ = h.step(host)
    assert len(h.fixture(host).calls_to("register")) == registrations + 1
    old_id = host.status.provisioning.id
    provisions = len(h.fixture(host).calls_to("provision"))
    h.registry.wipe()
    host, outcomes = h.settle(host)
    assert host.status.provisioning.state == S.PROVISIONED
    assert host.status.provisioning.id not in ("", old_id)
    assert h.fixture(host).registered
    assert h.fixture(host).calls_to("adopt")
    assert len(h.fixture(host).calls_to("provision")) == provisions  # adopted, not redeployed
    assert "Registered" in [r for o in outcomes for r in o.event_reasons()]


def test_changed_credentials_are_pushed_and_recorded() -> None:
    h = Harness()
    host = available(h)
    h.secret = SecretVersion("bmc-secret", "metal3", "2")
    host, outcome = h.step(host)
    call = h.fixture(host).calls_to("register")[-1]
    assert call.args["credentials_changed"] is True
    assert host.status.tried_credentials.matches("bmc-secret", "metal3", "2")
    assert host.status.good_credentials.matches("bmc-secret", "metal3", "2")
    assert Metrics.CREDENTIALS_UPDATED in outcome.metric_names()
    assert "BMCAccessValidated" in outcome.event_reasons()
    host, _ = h.step(host)
    assert h.fixture(host).calls_to("register")[-1].args["credentials_changed"] is False


def test_unmanaged_host_without_bmc_is_discovered_then_registered_when_bmc_added() -> None:
    h = Harness()
    host, outcome = h.step(make_host(bmc=False))
    assert host.status.provisioning.state == S.UNMANAGED
    assert host.status.operational_status == OperationalStatus.DISCOVERED
    assert outcome.event_reasons() == ("Discovered",)
    assert Metrics.UNMANAGED in outcome.metric_names()
    host, outcome = h.step(host)
    assert outcome.requeue_after == 600
    assert not outcome.status_dirty
    assert h.fixture(host).calls == []
    host = host.with_spec(bmc=make_host().spec.bmc)
    host, _ = h.step(host)
    assert host.status.provisioning.state == S.REGISTERING


def test_externally_provisioned_host_is_adopted_never_provisioned() -> None:
    h = Harness()
    host, outcomes = h.settle(make_host(image=IMAGE, externally_provisioned=True))
    assert states(outcomes) == [S.REGISTERING, S.EXTERNALLY_PROVISIONED]
    fixture = h.fixture(host)
    assert fixture.calls_to("adopt")
    assert not fixture.calls_to("provision")
    assert not fixture.calls_to("inspect")
    # Clearing the flag makes it provisioned with the image it already runs.
    host, outcomes = h.settle(host.with_spec(externally_provisioned=False))
    assert host.status.provisioning.state == S.PROVISIONED
    assert host.status.provisioning.image == IMAGE
    assert not fixture.calls_to("provision")


def test_inspection_disabled_skips_to_preparing() -> None:
    h = Harness()
    host, outcomes = h.settle(make_host(inspection_mode="disabled"))
    assert states(outcomes) == [S.REGISTERING, S.PREPARING, S.AVAILABLE]
    assert not h.fixture(host).calls_to("inspect")


def test_inspect_annotation_reinspects_an_available_host_and_is_removed() -> None:
    h = Harness()
    host = available(h)
    host = with_annotations(host, **{"inspect.metal3.io": ""})
    host, outcomes = h.settle(host)
    assert states(outcomes)[:3] == [S.INSPECTING, S.PREPARING, S.AVAILABLE] or states(outcomes)[
        :2
    ] == [S.INSPECTING, S.PREPARING]
    assert "inspect.metal3.io" not in host.annotations
    assert any("inspect.metal3.io" in o.annotations_to_remove for o in outcomes)
    refresh = [c.args["refresh"] for c in h.fixture(host).calls_to("inspect")]
    assert True in refresh
    assert host.status.provisioning.state == S.AVAILABLE


# --- spec changes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expect_deprovision"),
    [
        pytest.param({"url": "http://192.0.2.9/other.qcow2"}, True, id="url-changed"),
        pytest.param({"checksum": "fedcba9876543210"}, False, id="checksum-only"),
        pytest.param({"checksum_type": "sha256"}, False, id="checksum-type-only"),
        pytest.param({"format": "raw"}, False, id="format-only"),
        pytest.param(None, True, id="image-removed"),
    ],
)
def test_image_changes_on_a_provisioned_host(
    change: dict[str, str] | None, expect_deprovision: bool
) -> None:
    h = Harness()
    host = provisioned(h)
    image = None if change is None else dataclasses.replace(IMAGE, **change)
    host, _outcome = h.step(host.with_spec(image=image))
    expected = S.DEPROVISIONING if expect_deprovision else S.PROVISIONED
    assert host.status.provisioning.state == expected
    if expect_deprovision and image is not None:
        # Re-provisioning always goes through available.
        host, outcomes = h.settle(host)
        assert states(outcomes) == [S.DEPROVISIONING, S.AVAILABLE, S.PROVISIONING, S.PROVISIONED]
        assert host.status.provisioning.image.url == image.url


@pytest.mark.parametrize(
    ("online", "image", "expected"),
    [
        (True, IMAGE, S.PROVISIONING),
        (False, IMAGE, S.AVAILABLE),
        (True, Image(url=""), S.AVAILABLE),
        (True, None, S.AVAILABLE),
    ],
)
def test_image_added_to_an_available_host(online: bool, image: Image | None, expected: str) -> None:
    h = Harness()
    host = available(h, online=online)
    host, _ = h.step(host.with_spec(image=image))
    assert host.status.provisioning.state == expected


# --- errors and retries ------------------------------------------------------------------------


def test_fail_once_then_retry_then_success_clears_the_error() -> None:
    h = Harness()
    host, _ = h.drive(make_host(), lambda host, o: o.state == S.INSPECTING)
    h.fixture(host).fail_next("inspect", "BMC exploded")
    host, outcome = h.step(host)
    status = host.status
    assert status.operational_status == OperationalStatus.ERROR
    assert status.error_type == ErrorType.INSPECTION
    assert status.error_message == "BMC exploded"
    assert status.error_count == 1
    assert outcome.action == ActionKind.FAILED
    assert outcome.requeue_after is not None and 60 <= outcome.requeue_after <= 120
    assert outcome.event_reasons() == ("InspectionError",)
    errors = [m for m in outcome.metrics if m.name == Metrics.HOST_ERROR]
    assert [m.labels for m in errors] == [{"error_type": "InspectionError"}]

    host, outcome = h.step(host)
    call = h.fixture(host).calls_to("inspect")[-1]
    assert call.args["restart_on_failure"] is True
    # Progress after the restart clears the error but keeps the count...
    assert host.status.operational_status == OperationalStatus.OK
    assert host.status.error_type == ""
    assert host.status.error_count == 1
    # ...which the transition to preparing resets.
    host, _ = h.drive(host, lambda host, o: o.state == S.PREPARING)
    assert host.status.error_count == 0


def test_repeated_failures_count_up_and_back_off_longer() -> None:
    h = Harness()
    host, _ = h.drive(make_host(), lambda host, o: o.state == S.INSPECTING)
    delays = []
    for expected_count in (1, 2, 3):
        h.fixture(host).fail_next("inspect", "again")
        host, outcome = h.step(host)
        assert host.status.error_count == expected_count
        delays.append(outcome.requeue_after)
    assert delays == [120.0, 240.0, 480.0]  # rand() == 0: no jitter


def test_backoff_jitter_uses_the_injected_random_source() -> None:
    h = Harness()
    host, _ = h.drive(make_host(), lambda host, o: o.state == S.INSPECTING)
    h.rand = random.Random(7).random
    h.fixture(host).fail_next("inspect", "boom")
    _, outcome = h.step(host)
    assert outcome.requeue_after is not None
    assert 60 < outcome.requeue_after <= 120


def test_registration_failure_is_recorded_and_retried_with_restart() -> None:
    h = Harness()
    host, _ = h.step(make_host())
    h.fixture(host).fail_next("register", "bad credentials")
    host, outcome = h.step(host)
    assert host.status.error_type == ErrorType.REGISTRATION
    assert outcome.event_reasons() == ("RegistrationError",)
    host, _ = h.step(host)
    assert h.fixture(host).calls_to("register")[-1].args["restart_on_failure"] is True
    host, _outcomes = h.settle(host)
    assert host.status.provisioning.state == S.AVAILABLE
    assert host.status.error_type == ""


def test_provisioning_failure_deprovisions_and_counts_attempts() -> None:
    h = Harness()
    host = available(h)
    h.fixture(host).fail_next("provision", "deploy failed")
    host, outcomes = h.drive(
        host.with_spec(image=IMAGE), lambda host, o: o.action == ActionKind.FAILED
    )
    assert host.status.error_type == ErrorType.PROVISIONING
    assert host.status.last_attempted_image == IMAGE
    host, _ = h.step(host)
    assert host.status.provisioning.state == S.DEPROVISIONING
    assert host.status.provisioning_fail_count == 1
    assert h.fixture(host).calls_to("deprovision") == []
    host, _ = h.step(host)
    assert h.fixture(host).calls_to("deprovision")[-1].args["restart_on_failure"] is True
    # Through available and provisioning again: the fixture now succeeds.
    host, outcomes = h.settle(host)
    assert S.AVAILABLE in states(outcomes)
    assert host.status.provisioning.state == S.PROVISIONED
    assert host.status.provisioning_fail_count == 0


def test_provisioning_retry_limit_keeps_the_host_available() -> None:
    h = Harness()
    settings = StateMachineSettings(max_provisioning_retries=1)
    host = available(h)
    h.fixture(host).fail_next("provision", "deploy failed")
    host, _ = h.drive(
        host.with_spec(image=IMAGE),
        lambda host, o: o.state == S.AVAILABLE and host.status.error_type != "",
        settings=settings,
    )
    assert host.status.provisioning_fail_count == 1
    assert host.status.error_message == (
        "provisioning failed 1 times, retry limit (1) reached; "
        "change image or reset provisioningFailCount to retry"
    )
    host, _ = h.settle(host, settings=settings)
    assert host.status.provisioning.state == S.AVAILABLE
    assert host.status.error_count == 1  # the limit is recorded once, not every pass
    # A different image gets a fresh set of attempts.
    other = dataclasses.replace(IMAGE, url="http://192.0.2.9/fixed.qcow2")
    host, _ = h.settle(host.with_spec(image=other), settings=settings)
    assert host.status.provisioning.state == S.PROVISIONED


def test_transient_provisioner_errors_save_nothing_and_are_returned() -> None:
    h = Harness()
    host, _ = h.drive(make_host(), lambda host, o: o.state == S.INSPECTING)
    h.fixture(host).raise_next("inspect", ProvisionerError("ironic said 500"))
    outcome = h.run(host)
    assert outcome.action == ActionKind.ERROR
    assert outcome.error is not None
    assert str(outcome.error) == "hardware inspection failed: ironic said 500"
    assert isinstance(outcome.error.__cause__, ProvisionerError)
    assert not outcome.status_dirty
    assert outcome.requeue_after is None
    assert apply(host, outcome) == host


@pytest.mark.parametrize(
    ("error", "delay", "metric"),
    [
        (ProvisionerNotReady("ironic down"), 30.0, Metrics.PROVISIONER_NOT_READY),
        (ProvisionerBusy("locked", retry_after=3.0), 3.0, None),
    ],
)
def test_not_ready_and_busy_are_waits_not_errors(
    error: ProvisionerError, delay: float, metric: str | None
) -> None:
    h = Harness()
    host, _ = h.drive(make_host(), lambda host, o: o.state == S.INSPECTING)
    h.fixture(host).raise_next("inspect", error)
    outcome = h.run(host)
    assert outcome.error is None
    assert outcome.requeue_after == delay
    if metric is not None:
        assert metric in outcome.metric_names()


def test_unknown_state_is_an_error() -> None:
    h = Harness()
    outcome = h.run(make_host(state="bogus"), have_credentials=False)
    assert outcome.error is not None
    assert str(outcome.error) == 'no handler found for state "bogus"'


def test_every_state_has_a_handler() -> None:
    assert set(STATE_HANDLERS) == set(ProvisioningState.ALL)


# --- capacity ----------------------------------------------------------------------------------


def free_the_slot(h: Harness, host: BareMetalHost) -> BareMetalHost:
    """One pass without a slot (the host is or stays ``delayed``), then one with: the host
    must save itself cleared."""
    host, _ = h.step(host)
    assert host.status.operational_status == OperationalStatus.DELAYED
    h.registry.capacity = (h.registry.capacity or 0) + 1
    host, outcome = h.step(host)
    assert host.status.operational_status == OperationalStatus.OK
    assert outcome.status_dirty
    return host


def test_no_capacity_delays_inspection_until_a_slot_frees() -> None:
    h = Harness(capacity=0)
    host, seen = h.drive(make_host(), lambda host, o: o.action == ActionKind.DELAYED)
    outcome = seen[-1]
    assert host.status.provisioning.state == S.REGISTERING
    assert host.status.operational_status == OperationalStatus.DELAYED
    assert outcome.requeue_after is not None and 60 <= outcome.requeue_after <= 120
    assert Metrics.DELAYED_PROVISIONING in outcome.metric_names()
    host = free_the_slot(h, host)
    host, _outcomes = h.settle(host)
    assert host.status.provisioning.state == S.AVAILABLE


def test_no_capacity_delays_deprovisioning_with_its_own_metric() -> None:
    h = Harness()
    host = provisioned(h)
    h.registry.capacity = 0
    host, outcome = h.step(host.with_spec(image=None))
    assert host.status.provisioning.state == S.PROVISIONED
    assert host.status.operational_status == OperationalStatus.DELAYED
    assert Metrics.DELAYED_DEPROVISIONING in outcome.metric_names()
    labels = next(m.labels for m in outcome.metrics if m.name == Metrics.DELAYED_DEPROVISIONING)
    assert labels == {"namespace": "metal3", "host": "host-0"}


def test_a_host_holding_a_slot_keeps_it() -> None:
    h = Harness(capacity=1)
    first, _ = h.drive(make_host("a"), lambda host, o: h.fixture(host).running("inspect"))
    assert h.registry.busy_count() == 1
    second, _ = h.drive(make_host("b"), lambda host, o: o.action == ActionKind.DELAYED)
    assert second.status.provisioning.state == S.REGISTERING
    first, _ = h.step(first)  # "a" re-checks capacity every pass and keeps its slot
    assert first.status.operational_status == OperationalStatus.OK
    assert first.status.provisioning.state == S.PREPARING
    assert h.registry.busy_count() == 0
    second, outcome = h.step(second)
    assert second.status.operational_status == OperationalStatus.OK
    assert outcome.status_dirty


# --- purity ------------------------------------------------------------------------------------


def test_events_are_only_listed_in_order_and_input_is_untouched() -> None:
    h = Harness()
    host = make_host(image=IMAGE, state=S.REGISTERING)
    recorder = PassEvents()
    provisioner = h.factory.new(build_host_data(host), recorder.publish)
    ctx = h.context(host, events=recorder, provisioner=provisioner)
    outcome = reconcile_host(host, ctx)
    # Provisioner events (through the shared publisher) come before the machine's.
    assert outcome.event_reasons() == ("Registered", "ProfileSet")
    assert recorder.events == outcome.events
    assert host.status.provisioning.id == ""  # the input snapshot is never modified
    assert outcome.host.status.provisioning.id != ""


def test_same_input_same_outcome() -> None:
    a, b = Harness(), Harness()
    host = make_host(image=IMAGE)
    for _ in range(12):
        oa, ob = a.run(host), b.run(host)
        assert oa.host == ob.host
        assert oa.events == ob.events
        assert oa.metrics == ob.metrics
        host = apply(host, oa)
        a.time += oa.requeue_after or 0
        b.time += ob.requeue_after or 0


def test_needs_finalizer() -> None:
    host = make_host()
    assert not needs_finalizer(host)
    bare = dataclasses.replace(host, metadata=dataclasses.replace(host.metadata, finalizers=()))
    assert needs_finalizer(bare)
    assert not needs_finalizer(deleted(bare))


def test_needs_registration_while_deleting_without_credentials_skips_to_deleting() -> None:
    h = Harness()
    host = provisioned(h)
    h.registry.wipe()
    host, _ = h.step(deleted(host), have_credentials=False)
    assert host.status.provisioning.state == S.DEPROVISIONING
    h.fixture(host).raise_next("adopt", NeedsRegistration())
    host, outcome = h.step(host, have_credentials=False)
    assert host.status.provisioning.state == S.DELETING
    assert outcome.error is None


@pytest.mark.parametrize(("spec_mode", "expected"), [("", "UEFI"), ("legacy", "legacy")])
def test_boot_mode_is_copied_on_registering_and_provisioning(spec_mode: str, expected: str) -> None:
    h = Harness()
    host, _ = h.step(make_host(boot_mode=spec_mode))
    assert host.status.provisioning.state == S.REGISTERING
    assert host.status.provisioning.boot_mode == expected
    host, _ = h.settle(host)
    host, _ = h.step(host.with_spec(boot_mode="UEFISecureBoot", image=IMAGE))
    assert host.status.provisioning.state == S.PROVISIONING
    assert host.status.provisioning.boot_mode == "UEFISecureBoot"


def test_custom_deploy_is_provisioned_and_recorded() -> None:
    h = Harness()
    deploy = CustomDeploy(method="install_coreos")
    host, _ = h.settle(make_host(custom_deploy=deploy))
    assert host.status.provisioning.state == S.PROVISIONED
    assert host.status.provisioning.custom_deploy == deploy
    assert h.fixture(host).calls_to("provision")[-1].args["custom_deploy"] == "install_coreos"
    host, outcomes = h.settle(host.with_spec(custom_deploy=CustomDeploy(method="other")))
    assert states(outcomes)[:2] == [S.DEPROVISIONING, S.AVAILABLE]
    assert host.status.provisioning.custom_deploy == CustomDeploy(method="other")


def test_image_auth_error_is_a_provisioning_error() -> None:
    h = Harness()
    host = available(h)
    host, _ = h.step(host.with_spec(image=IMAGE))
    host, outcome = h.step(host, image_auth_error="secret oci-auth has no .dockerconfigjson")
    assert host.status.error_type == ErrorType.PROVISIONING
    assert outcome.event_reasons() == ("ProvisioningError",)
    assert not h.fixture(host).calls_to("provision")


def test_a_slot_freed_is_taken_in_the_pass_that_clears_delayed() -> None:
    """Upstream saves the cleared status and acts a pass later; one pass does both here, so a
    freed slot does not stand empty for a queue wait."""
    h = Harness(capacity=1)
    host, _ = h.drive(make_host(), lambda host, o: host.status.provisioning.state == S.INSPECTING)
    assert not h.fixture(host).running("inspect")
    h.registry.capacity = 0
    host = free_the_slot(h, host)
    assert h.fixture(host).running("inspect"), "the slot is taken in the clearing pass"
