"""The host's side of the PreprovisioningImage handshake: which states ask for an image, the
spec asked for, when a built image is usable, and what the state machine does while waiting
or when the image failed (upstream ``baremetalhost_controller.go registerHost``,
``getPreprovImage``, ``preprovImageAvailable``)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from bmo.api.constants import AutomatedCleaningMode, ErrorType, OperationalStatus
from bmo.api.constants import ProvisioningState as S
from bmo.api.hardware import CPU, HardwareDetails
from bmo.api.meta import Condition, ObjectMeta
from bmo.api.preprovisioningimage import (
    PreprovisioningImage,
    PreprovisioningImageSpec,
    PreprovisioningImageStatus,
    SecretStatus,
)
from bmo.hoststate.actions import ActionKind
from bmo.hoststate.preprovimage import (
    NO_ACCEPTABLE_FORMATS,
    PreprovImageBuildError,
    available_image,
    expected_spec,
    host_architecture,
    wanted_formats,
)
from bmo.provisioner import PreprovisioningImage as BuiltImage
from tests.provisioner.harness import Harness, make_host

FORMATS = ("iso", "initrd")
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def in_state(state: str, **status: object):  # type: ignore[no-untyped-def]
    host = make_host()
    provisioning = dataclasses.replace(host.status.provisioning, state=state)
    return host.with_status(provisioning=provisioning, **status)


@pytest.mark.parametrize(
    ("state", "wanted"),
    [
        (S.REGISTERING, None),
        (S.DELETING, None),
        (S.POWERING_OFF_BEFORE_DELETE, None),
        (S.INSPECTING, FORMATS),
        (S.PREPARING, FORMATS),
        (S.AVAILABLE, FORMATS),
        (S.PROVISIONED, None),
        (S.EXTERNALLY_PROVISIONED, None),
        (S.DEPROVISIONING, FORMATS),
    ],
)
def test_states_that_ask_for_an_image(state: str, wanted: tuple[str, ...] | None) -> None:
    assert wanted_formats(in_state(state), FORMATS) == wanted


def test_servicing_and_cleaning_disabled_change_the_answer() -> None:
    servicing = in_state(S.PROVISIONED, operational_status=OperationalStatus.SERVICING)
    assert wanted_formats(servicing, FORMATS) == FORMATS
    host = in_state(S.DEPROVISIONING).with_spec(
        automated_cleaning_mode=AutomatedCleaningMode.DISABLED
    )
    assert wanted_formats(host, FORMATS) is None
    assert wanted_formats(in_state(S.INSPECTING), None) is None


def test_expected_spec_and_architecture() -> None:
    host = make_host().with_spec(preprovisioning_network_data_name="net")
    assert expected_spec(host, FORMATS, "x86_64") == PreprovisioningImageSpec(
        network_data_name="net", architecture="x86_64", accept_formats=FORMATS
    )
    inspected = host.with_status(hardware=HardwareDetails(cpu=CPU(arch="aarch64")))
    assert host_architecture(inspected, "x86_64") == "aarch64"
    assert host_architecture(inspected.with_spec(architecture="ppc64le"), "x86_64") == "ppc64le"
    with pytest.raises(PreprovImageBuildError, match=NO_ACCEPTABLE_FORMATS):
        expected_spec(host, (), "x86_64")


def ready_image(**status: object) -> PreprovisioningImage:
    base = PreprovisioningImageStatus(
        image_url="http://127.0.0.1/ppi.iso",
        format="iso",
        architecture="x86_64",
        network_data=SecretStatus(name="net", version="7"),
        conditions=(
            Condition("Ready", "True", 2, WHEN, "ImageSuccess", "Generated image"),
            Condition("Error", "False", 2, WHEN, "ImageSuccess", ""),
        ),
    )
    return PreprovisioningImage(
        metadata=ObjectMeta(name="h", namespace="ns", generation=2),
        spec=PreprovisioningImageSpec(
            network_data_name="net", architecture="x86_64", accept_formats=FORMATS
        ),
        status=dataclasses.replace(base, **status),  # type: ignore[arg-type]
    )


def test_available_image_checks_every_field() -> None:
    assert available_image(ready_image(), "7") == BuiltImage(
        image_url="http://127.0.0.1/ppi.iso", format="iso"
    )
    assert available_image(ready_image(), "8") is None  # network data changed since
    assert available_image(ready_image(architecture="aarch64"), "7") is None
    assert available_image(ready_image(format="raw"), "7") is None
    assert available_image(ready_image(network_data=SecretStatus()), "7") is None
    stale = ready_image()
    stale = dataclasses.replace(stale, metadata=dataclasses.replace(stale.metadata, generation=3))
    assert available_image(stale, "7") is None  # Ready for an older spec


def test_image_in_error_raises_its_message() -> None:
    failed = ready_image(
        conditions=(
            Condition("Ready", "False", 2, WHEN, "ImageBuildInvalid", ""),
            Condition("Error", "True", 2, WHEN, "ImageBuildInvalid", "cannot build"),
        )
    )
    with pytest.raises(PreprovImageBuildError, match=r"^cannot build$"):
        available_image(failed, "7")


def test_waiting_for_an_image_polls() -> None:
    h = Harness()
    host = make_host()
    h.fixture(host).preprov_image_formats = ("initrd",)
    host, _ = h.step(host)  # registering: no image needed
    host, _ = h.step(host)
    while host.status.provisioning.state == S.REGISTERING:
        host, _ = h.step(host)
    assert host.status.provisioning.state == S.INSPECTING
    outcome = h.run(host)
    assert outcome.action == ActionKind.CONTINUE
    assert outcome.requeue_after == 300.0
    assert not outcome.status_dirty
    assert not h.fixture(host).calls_to("inspect")

    image = BuiltImage(image_url="http://127.0.0.1/ppi.initramfs", format="initrd")
    host, _ = h.settle(host, preprovisioning_image=image)
    assert host.status.provisioning.state == S.AVAILABLE
    assert h.fixture(host).preprovisioning_image == image


def test_image_error_is_a_registration_error() -> None:
    h = Harness()
    host = make_host()
    host, _ = h.settle(host)
    host, outcome = h.step(host, preprovisioning_image_error="cannot build")
    assert host.status.error_type == ErrorType.REGISTRATION
    assert host.status.error_message == "cannot build"
    assert outcome.event_reasons() == ("RegistrationError",)
