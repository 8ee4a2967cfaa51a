"""BareMetalHost/HardwareData models: Go-shaped round trips, quirks and helper semantics."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmo.api.codec import Kind, fields_of
from bmo.api.errors import DecodeError
from bmo.api.hardware import CPU, HardwareData, HardwareDetails
from bmo.api.host import (
    BareMetalHost,
    BareMetalHostSpec,
    BareMetalHostStatus,
    BMCDetails,
    ChecksumError,
    CredentialsStatus,
    CustomDeploy,
    Image,
    OperationMetric,
    ProvisionStatus,
    RAIDConfig,
    provisioning_cancelled,
)
from bmo.api.meta import ObjectMeta, SecretReference
from bmo.api.schema import validate_manifest

# --- strategies built from the models themselves -------------------------------------------

TEXT = st.text(alphabet="abcXYZ019-._:/ ", max_size=8)
TIMES = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))


def strategy(kind: Kind) -> st.SearchStrategy[Any]:
    tag = kind.tag
    if tag == "str":
        return TEXT
    if tag == "int":
        return st.integers(min_value=-(2**40), max_value=2**40)
    if tag == "bool":
        return st.booleans()
    if tag == "float":
        return st.floats(allow_nan=False, allow_infinity=False, width=64)
    if tag == "time":
        return TIMES
    if tag == "opt":
        assert kind.inner is not None
        return st.none() | strategy(kind.inner)
    if tag == "seq":
        assert kind.inner is not None
        return st.lists(strategy(kind.inner), max_size=2).map(tuple)
    if tag == "map":
        return st.dictionaries(TEXT, TEXT, max_size=2)
    if tag == "struct":
        assert kind.cls is not None
        return model(kind.cls)
    return st.just({})


def model(cls: type) -> st.SearchStrategy[Any]:
    return st.builds(
        cls, **{f.attr: st.deferred(lambda k=f.kind: strategy(k)) for f in fields_of(cls)}
    )


HOSTS = st.builds(
    BareMetalHost,
    metadata=model(ObjectMeta),
    spec=model(BareMetalHostSpec),
    status=model(BareMetalHostStatus),
)


@settings(max_examples=60, deadline=None)
@given(HOSTS)
def test_round_trip_is_identity(h: BareMetalHost) -> None:
    encoded = h.to_dict()
    assert BareMetalHost.from_dict(encoded) == h
    # What we emit survives JSON, and re-encoding is byte-stable.
    wire = json.dumps(encoded, sort_keys=True)
    again = BareMetalHost.from_dict(json.loads(wire)).to_dict()
    assert json.dumps(again, sort_keys=True) == wire


@settings(max_examples=30, deadline=None)
@given(model(HardwareData))
def test_hardware_data_round_trip(hd: HardwareData) -> None:
    assert HardwareData.from_dict(json.loads(json.dumps(hd.to_dict()))) == hd


# --- Go serialisation quirks ---------------------------------------------------------------


def test_empty_status_has_go_always_present_fields() -> None:
    status = BareMetalHost().to_dict()["status"]
    assert status == {
        "operationalStatus": "",
        "provisioning": {"state": "", "ID": "", "image": {"url": ""}},
        "goodCredentials": {},
        "triedCredentials": {},
        "errorMessage": "",
        "poweredOn": False,
        "operationHistory": {
            op: {"start": None, "end": None}
            for op in ("register", "inspect", "provision", "deprovision")
        },
        "errorCount": 0,
        "provisioningFailCount": 0,
    }


def test_spec_value_structs_and_pointers() -> None:
    spec = BareMetalHost().to_dict()["spec"]
    assert spec == {"bmc": {"address": "", "credentialsName": ""}, "online": False}
    raid = BareMetalHostSpec(raid=RAIDConfig(hardware_raid_volumes=()))
    assert BareMetalHost(spec=raid).to_dict()["spec"]["raid"] == {
        "hardwareRAIDVolumes": [],
        "softwareRAIDVolumes": None,
    }


def test_times_are_rfc3339_utc_seconds_and_zero_is_null() -> None:
    data = {
        "metadata": {"name": "h", "creationTimestamp": "2024-01-02T03:04:05Z"},
        "status": {
            "lastUpdated": "2024-01-02T04:04:05.123+01:00",
            "operationHistory": {"register": {"start": "2024-01-02T03:04:05Z", "end": None}},
        },
    }
    h = BareMetalHost.from_dict(data)
    out = h.to_dict()
    assert out["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert out["status"]["lastUpdated"] == "2024-01-02T03:04:05Z"
    assert out["status"]["operationHistory"]["register"] == {
        "start": "2024-01-02T03:04:05Z",
        "end": None,
    }
    assert BareMetalHost().to_dict()["metadata"] == {"creationTimestamp": None}


def test_provisioning_id_capital_and_hardware_names() -> None:
    status = BareMetalHostStatus(
        provisioning=ProvisionStatus(state="provisioned", id="uuid-1"),
        hardware=HardwareDetails(ram_mebibytes=4096, cpu=CPU(clock_megahertz=2400.0)),
    ).to_dict()
    assert status["provisioning"]["ID"] == "uuid-1"
    assert status["hardware"] == {
        "systemVendor": {},
        "firmware": {"bios": {}},
        "ramMebibytes": 4096,
        "cpu": {"clockMegahertz": 2400},
    }
    assert json.dumps(status["hardware"]["cpu"]) == '{"clockMegahertz": 2400}'


def test_unknown_metadata_kept_unknown_spec_dropped() -> None:
    data = {
        "metadata": {"name": "h", "managedFields": [{"manager": "kubectl"}], "generateName": "g"},
        "spec": {"online": True, "futureField": 1},
    }
    out = BareMetalHost.from_dict(data).to_dict()
    assert out["metadata"]["managedFields"] == [{"manager": "kubectl"}]
    assert out["metadata"]["generateName"] == "g"
    assert "futureField" not in out["spec"]


def test_decode_error_names_the_field() -> None:
    with pytest.raises(DecodeError) as info:
        BareMetalHost.from_dict({"spec": {"online": "yes"}})
    assert info.value.path == "spec.online"


def test_encoded_host_is_schema_valid() -> None:
    h = BareMetalHost(
        metadata=ObjectMeta(name="h"),
        spec=BareMetalHostSpec(online=True, bmc=BMCDetails("ipmi://1.2.3.4", "c")),
        status=BareMetalHostStatus(operational_status="OK", last_updated=datetime.now(UTC)),
    )
    assert validate_manifest(h.to_dict()) == []


# --- helper semantics (baremetalhost_types.go, as baremetalhost_types_test.go tests them) ---


def make(annotations: dict[str, str] | None = None, **spec: Any) -> BareMetalHost:
    return BareMetalHost(
        metadata=ObjectMeta(name="h", namespace="ns", annotations=annotations or {}),
        spec=BareMetalHostSpec(**spec),
    )


def test_boot_mode_default() -> None:
    assert make().boot_mode() == "UEFI"
    assert make(boot_mode="legacy").boot_mode() == "legacy"


@pytest.mark.parametrize(
    ("details", "expected"),
    [(BMCDetails(), False), (BMCDetails(address="ipmi://x"), True), (BMCDetails("", "c"), True)],
)
def test_has_bmc_details(details: BMCDetails, expected: bool) -> None:
    assert make(bmc=details).has_bmc_details() is expected


def test_inspection_disabled_by_field_or_annotation() -> None:
    assert not make().inspection_disabled()
    assert make(inspection_mode="disabled").inspection_disabled()
    assert make({"inspect.metal3.io": "disabled"}).inspection_disabled()
    assert not make({"inspect.metal3.io": ""}).inspection_disabled()
    assert not make(inspection_mode="agent").inspection_disabled()


def provisioned(h: BareMetalHost, url: str = "", method: str | None = None) -> BareMetalHost:
    deploy = CustomDeploy(method) if method is not None else None
    return h.with_status(provisioning=ProvisionStatus(image=Image(url=url), custom_deploy=deploy))


def test_needs_provisioning() -> None:
    image = Image(url="http://x/img", checksum="c")
    assert not make(image=image).needs_provisioning()  # offline
    assert make(image=image, online=True).needs_provisioning()
    assert not provisioned(make(image=image, online=True), "http://x/img").needs_provisioning()
    assert not make(image=Image(url=""), online=True).needs_provisioning()
    deploy = make(custom_deploy=CustomDeploy("install"), online=True)
    assert deploy.needs_provisioning()
    assert not provisioned(deploy, method="install").needs_provisioning()
    assert provisioned(deploy, method="other").needs_provisioning()


def test_was_provisioned() -> None:
    assert not make().was_provisioned()
    assert provisioned(make(), "http://x").was_provisioned()
    assert provisioned(make(), method="m").was_provisioned()
    assert not provisioned(make(externally_provisioned=True), "http://x").was_provisioned()


def test_needs_hardware_inspection() -> None:
    assert make().needs_hardware_inspection()
    assert not make(inspection_mode="disabled").needs_hardware_inspection()
    assert not make().with_status(hardware=HardwareDetails()).needs_hardware_inspection()


def test_credentials_match() -> None:
    creds = CredentialsStatus(SecretReference("s", "ns"), "42")
    assert creds.matches("s", "ns", "42")
    assert not creds.matches("s", "ns", "43")
    assert not creds.matches("t", "ns", "42")
    assert not creds.matches("s", "other", "42")
    assert not CredentialsStatus().matches("", "", "")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image(url="http://x", checksum="abc"), ("abc", "")),
        (Image(url="http://x", checksum="abc", checksum_type="auto"), ("abc", "")),
        (Image(url="http://x", checksum="abc", checksum_type="sha256"), ("abc", "sha256")),
        (Image(url="http://x", checksum="abc", checksum_type="md5"), ("abc", "md5")),
        (Image(url="http://x", format="live-iso"), ("", "")),
        (Image(url="http://x", checksum="ignored", format="live-iso"), ("", "")),
        (Image(url="OCI://quay.io/x"), ("", "")),
    ],
)
def test_checksum_info(image: Image, expected: tuple[str, str]) -> None:
    assert image.checksum_info() == expected


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (Image(url="http://x"), "checksum is required for normal images"),
        (
            Image(url="http://x", checksum="a", checksum_type="crc"),
            "unknown checksumType crc, supported are auto, md5, sha256, sha512",
        ),
        (
            Image(url="oci://quay.io/x", checksum="a"),
            "spec.image.checksum must be empty for OCI images "
            "(oci:// images have embedded checksums)",
        ),
    ],
)
def test_checksum_errors(image: Image, message: str) -> None:
    with pytest.raises(ChecksumError) as info:
        image.checksum_info()
    assert str(info.value) == message


def test_is_oci_and_live_iso() -> None:
    assert Image(url="oci://r/x").is_oci()
    assert not Image(url="http://r/oci://x").is_oci()
    assert Image(url="x", format="live-iso").is_live_iso()
    assert not Image(url="x", format="raw").is_live_iso()


IMG = Image(url="http://x/a", checksum="c")


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        ({"image": IMG}, ProvisionStatus(), False),  # provisioning, nothing recorded yet
        ({"image": IMG}, ProvisionStatus(image=IMG), False),
        ({"image": dataclasses.replace(IMG, checksum="other")}, ProvisionStatus(image=IMG), False),
        ({"image": Image(url="http://x/b", checksum="c")}, ProvisionStatus(image=IMG), True),
        ({}, ProvisionStatus(image=IMG), True),  # image removed
        ({"image": Image(url="")}, ProvisionStatus(), True),
        ({"custom_deploy": CustomDeploy("m")}, ProvisionStatus(), False),
        (
            {"custom_deploy": CustomDeploy("m")},
            ProvisionStatus(custom_deploy=CustomDeploy("n")),
            True,
        ),
        (
            {"custom_deploy": CustomDeploy("m"), "image": IMG},
            ProvisionStatus(image=IMG, custom_deploy=CustomDeploy("m")),
            False,
        ),
        ({"custom_deploy": CustomDeploy("m")}, ProvisionStatus(image=IMG), True),
        ({"image": IMG}, ProvisionStatus(custom_deploy=CustomDeploy("m")), True),
    ],
)
def test_provisioning_cancelled(
    spec: dict[str, Any], status: ProvisionStatus, expected: bool
) -> None:
    h = make(**spec).with_status(provisioning=status)
    assert provisioning_cancelled(h) is expected
    assert h.provisioning_cancelled() is expected


def test_operation_metric_duration() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert OperationMetric().duration() == timedelta(0)
    assert OperationMetric(start=start).duration() == timedelta(0)
    assert OperationMetric(start, start + timedelta(seconds=90)).duration() == timedelta(seconds=90)
    h = BareMetalHost()
    assert h.operation_metric("inspecting") == OperationMetric()
    assert h.operation_metric("available") is None


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().spec.online = True  # type: ignore[misc]
    assert make().with_spec(online=True).spec.online is True
