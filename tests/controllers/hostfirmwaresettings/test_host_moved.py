"""Which BareMetalHost updates make the firmware controllers read Ironic again."""

from __future__ import annotations

from typing import Any

import pytest

from bmo.controllers.hostfirmwaresettings.subresource import host_moved


def bmh(state: str, *, generation: int = 1, operational: str = "OK", **annotations: str) -> Any:
    return {
        "metadata": {"generation": generation, "annotations": dict(annotations)},
        "status": {"provisioning": {"state": state}, "operationalStatus": operational},
    }


@pytest.mark.parametrize(
    ("before", "after", "read"),
    [
        ("registering", "inspecting", True),  # enrolled: Ironic has cached the settings
        ("preparing", "available", True),  # manual cleaning applied settings
        ("provisioning", "provisioned", True),  # automated cleaning ran before the deploy
        ("deprovisioning", "available", True),
        ("inspecting", "preparing", False),
        ("available", "provisioning", False),
        ("provisioned", "provisioned", False),
    ],
)
def test_a_state_change_reads_again_only_after_work_that_changes_firmware_values(
    before: str, after: str, read: bool
) -> None:
    assert host_moved(bmh(before), bmh(after)) is read


def test_spec_annotation_and_servicing_changes_read_again() -> None:
    assert host_moved(bmh("provisioned"), bmh("provisioned", generation=2))
    assert host_moved(bmh("provisioned"), bmh("provisioned", paused="true"))
    assert host_moved(
        bmh("provisioned", operational="servicing"), bmh("provisioned", operational="OK")
    )
    assert not host_moved(bmh("provisioned"), bmh("provisioned", operational="servicing")), (
        "servicing starts: nothing changed yet"
    )
