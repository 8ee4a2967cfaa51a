"""A pending DataImage holds a provisioned host's power-on (upstream
``baremetalhost_controller.go manageHostPower`` runs ``handleDataImageActions`` first)."""

from __future__ import annotations

from datetime import UTC, datetime

from bmo.api.dataimage import AttachedImageReference, DataImage, DataImageSpec, DataImageStatus
from bmo.api.meta import ObjectMeta
from bmo.hoststate.dataimage import DATA_IMAGE_WAIT, data_image_pending
from tests.hoststate.test_statemachine_power import available, ops, provisioned
from tests.provisioner.harness import Harness

URL = "http://127.0.0.1/data.iso"
VMEDIA = "redfish-virtualmedia://127.0.0.1/redfish/v1/Systems/1"


def image(attached: str = "", deleting: bool = False) -> DataImage:
    return DataImage(
        metadata=ObjectMeta(
            name="h", deletion_timestamp=datetime(2026, 1, 1, tzinfo=UTC) if deleting else None
        ),
        spec=DataImageSpec(url=URL),
        status=DataImageStatus(attached_image=AttachedImageReference(attached)),
    )


def test_pending_means_not_yet_what_the_spec_or_deletion_wants() -> None:
    assert not data_image_pending(None, VMEDIA)
    assert data_image_pending(image(), VMEDIA)
    assert not data_image_pending(image(attached=URL), VMEDIA)
    assert data_image_pending(image(attached="http://127.0.0.1/old.iso"), VMEDIA)
    assert data_image_pending(image(attached=URL, deleting=True), VMEDIA)
    assert not data_image_pending(image(deleting=True), VMEDIA)


def test_driver_without_virtual_media_never_holds_the_host() -> None:
    assert not data_image_pending(image(), "ipmi://127.0.0.1")
    assert not data_image_pending(image(), "not a bmc address")


def test_pending_image_holds_a_provisioned_power_on() -> None:
    h = Harness()
    host = provisioned(h)
    host, _ = h.settle(host.with_spec(online=False))
    h.fixture(host).calls.clear()
    host = host.with_spec(online=True)
    host, outcome = h.step(host, data_image_pending=True)
    assert outcome.requeue_after == DATA_IMAGE_WAIT
    assert ops(h, host) == []
    assert host.status.powered_on is False
    host, _ = h.settle(host)
    assert ops(h, host) == ["power_on"]
    assert host.status.powered_on is True


def test_available_and_running_hosts_are_not_held() -> None:
    h = Harness()
    host = available(h, online=False)
    host, _ = h.settle(host.with_spec(online=True), data_image_pending=True)
    assert host.status.powered_on is True
    h2 = Harness()
    running = provisioned(h2)
    running, outcome = h2.step(running, data_image_pending=True)
    assert outcome.requeue_after == 60
