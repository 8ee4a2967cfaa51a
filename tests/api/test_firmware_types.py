"""The firmware kinds' models: Go-shaped round trips, int-or-string values, nil-vs-empty."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmo.api.errors import DecodeError
from bmo.api.firmware import (
    FirmwareComponentStatus,
    FirmwareSchema,
    FirmwareSchemaSpec,
    FirmwareUpdate,
    HostFirmwareComponents,
    HostFirmwareComponentsSpec,
    HostFirmwareComponentsStatus,
    HostFirmwareSettings,
    HostFirmwareSettingsSpec,
    HostFirmwareSettingsStatus,
    SchemaReference,
    SettingSchema,
    decode_int_or_string,
    int_or_string_text,
)
from bmo.api.hostupdatepolicy import (
    HostUpdatePolicy,
    HostUpdatePolicySpec,
    UpdatePolicy,
    live_firmware_settings_allowed,
    live_firmware_updates_allowed,
    servicing_enabled,
)
from bmo.api.meta import Condition, ObjectMeta

NAMES = st.text(alphabet="abcXYZ019-_:", min_size=1, max_size=8)
TEXT = st.text(alphabet="abcXYZ019-._:/ ", max_size=8)
TIMES = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))
INTS = st.integers(min_value=-(2**31), max_value=2**31 - 1)
META = st.builds(ObjectMeta, name=NAMES, namespace=NAMES, generation=st.integers(0, 9))
CONDITIONS = st.lists(
    st.builds(
        Condition,
        type=st.sampled_from(["Valid", "ChangeDetected"]),
        status=st.sampled_from(["True", "False", "Unknown"]),
        observed_generation=st.integers(0, 9),
        last_transition_time=TIMES,
        reason=st.sampled_from(["Success", "ConfigurationError", "OK"]),
        message=TEXT,
    ),
    max_size=2,
).map(tuple)
SETTING_SCHEMAS = st.builds(
    SettingSchema,
    attribute_type=st.sampled_from(["", "Enumeration", "String", "Integer", "Boolean"]),
    allowable_values=st.lists(TEXT, max_size=2).map(tuple),
    lower_bound=st.none() | INTS,
    upper_bound=st.none() | INTS,
    min_length=st.none() | INTS,
    max_length=st.none() | INTS,
    read_only=st.none() | st.booleans(),
    unique=st.none() | st.booleans(),
)
SCHEMAS = st.builds(
    FirmwareSchema,
    metadata=META,
    spec=st.builds(
        FirmwareSchemaSpec,
        hardware_vendor=TEXT,
        hardware_model=TEXT,
        schema=st.dictionaries(NAMES, SETTING_SCHEMAS, max_size=3),
    ),
)
HFS = st.builds(
    HostFirmwareSettings,
    metadata=META,
    spec=st.builds(
        HostFirmwareSettingsSpec, settings=st.dictionaries(NAMES, INTS | TEXT, max_size=3)
    ),
    status=st.builds(
        HostFirmwareSettingsStatus,
        schema=st.none() | st.builds(SchemaReference, namespace=NAMES, name=NAMES),
        settings=st.dictionaries(NAMES, TEXT, max_size=3),
        last_updated=st.none() | TIMES,
        conditions=CONDITIONS,
    ),
)
UPDATES = st.lists(st.builds(FirmwareUpdate, component=NAMES, url=TEXT), max_size=2).map(tuple)
HFC = st.builds(
    HostFirmwareComponents,
    metadata=META,
    spec=st.builds(HostFirmwareComponentsSpec, updates=UPDATES),
    status=st.builds(
        HostFirmwareComponentsStatus,
        updates=st.none() | UPDATES,
        components=st.lists(
            st.builds(
                FirmwareComponentStatus,
                component=NAMES,
                initial_version=TEXT,
                current_version=TEXT,
                last_version_flashed=TEXT,
                updated_at=st.none() | TIMES,
            ),
            max_size=2,
        ).map(tuple),
        last_updated=st.none() | TIMES,
        conditions=CONDITIONS,
    ),
)
HUP = st.builds(
    HostUpdatePolicy,
    metadata=META,
    spec=st.builds(
        HostUpdatePolicySpec,
        firmware_settings=st.sampled_from(["", *UpdatePolicy.ALL]),
        firmware_updates=st.sampled_from(["", *UpdatePolicy.ALL]),
    ),
)


def _through_json(document: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(json.dumps(document))
    return decoded


@pytest.mark.parametrize(
    ("cls", "objects"),
    [
        (FirmwareSchema, SCHEMAS),
        (HostFirmwareSettings, HFS),
        (HostFirmwareComponents, HFC),
        (HostUpdatePolicy, HUP),
    ],
    ids=["FirmwareSchema", "HostFirmwareSettings", "HostFirmwareComponents", "HostUpdatePolicy"],
)
def test_round_trip_is_identity(cls: Any, objects: st.SearchStrategy[Any]) -> None:
    @settings(max_examples=40, deadline=None)
    @given(objects)
    def check(obj: Any) -> None:
        wire = json.dumps(obj.to_dict(), sort_keys=True)
        again = cls.from_dict(json.loads(wire))
        assert again == obj
        assert json.dumps(again.to_dict(), sort_keys=True) == wire

    check()


# --- the wire shape ------------------------------------------------------------------------


def test_setting_schema_fields_are_snake_case_and_omitempty() -> None:
    setting = SettingSchema(
        attribute_type="Integer", lower_bound=0, upper_bound=20, read_only=False, unique=True
    )
    assert setting.to_dict() == {
        "attribute_type": "Integer",
        "lower_bound": 0,
        "upper_bound": 20,
        "read_only": False,
        "unique": True,
    }
    assert SettingSchema().to_dict() == {}
    assert SettingSchema.from_dict({"allowable_values": ["A", "B"]}).allowable_values == ("A", "B")


def test_firmware_schema_document() -> None:
    schema = FirmwareSchema(
        metadata=ObjectMeta(name="schema-12345678", namespace="ns"),
        spec=FirmwareSchemaSpec(schema={"X": SettingSchema(attribute_type="Boolean")}),
    )
    doc = schema.to_dict()
    assert doc["apiVersion"] == "metal3.io/v1alpha1"
    assert doc["kind"] == "FirmwareSchema"
    assert "status" not in doc  # the Go type has none
    assert doc["spec"] == {"schema": {"X": {"attribute_type": "Boolean"}}}
    # An empty registry is still emitted: the key is required.
    assert FirmwareSchema().to_dict()["spec"] == {"schema": {}}


def test_settings_keep_int_and_string_apart() -> None:
    hfs = HostFirmwareSettings.from_dict(
        {
            "metadata": {"name": "h", "namespace": "ns"},
            "spec": {"settings": {"Count": 5, "Text": "5", "Whole": 7.0}},
        }
    )
    assert hfs.spec.settings == {"Count": 5, "Text": "5", "Whole": 7}
    assert type(hfs.spec.settings["Count"]) is int
    assert type(hfs.spec.settings["Text"]) is str
    wire = hfs.to_dict()
    assert wire["spec"] == {"settings": {"Count": 5, "Text": "5", "Whole": 7}}
    assert json.dumps(wire["spec"]["settings"], sort_keys=True) == (
        '{"Count": 5, "Text": "5", "Whole": 7}'
    )


def test_empty_hfs_has_the_required_keys() -> None:
    doc = HostFirmwareSettings(metadata=ObjectMeta(name="h")).to_dict()
    assert doc["spec"] == {"settings": {}}
    assert doc["status"] == {"settings": {}}
    assert HostFirmwareSettings.from_dict({"spec": {"settings": None}}).spec.settings == {}
    assert HostFirmwareSettings.from_dict({}).spec == HostFirmwareSettingsSpec()


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "boolean"), (1.5, "number"), ({}, "object"), ([1], "array"), (None, "null")],
)
def test_settings_value_must_be_int_or_string(value: Any, shown: str) -> None:
    with pytest.raises(DecodeError) as info:
        HostFirmwareSettings.from_dict({"spec": {"settings": {"Bad": value}}})
    assert info.value.path == "spec.settings[Bad]"
    assert str(info.value) == f"spec.settings[Bad]: expected an integer or a string, got {shown}"


def test_settings_must_be_a_map() -> None:
    with pytest.raises(DecodeError) as info:
        HostFirmwareSettingsSpec.from_dict({"settings": ["x"]})
    assert info.value.path == "spec.settings"
    with pytest.raises(DecodeError):
        HostFirmwareSettingsSpec.from_dict("x")  # type: ignore[arg-type]


def test_int_or_string_helpers() -> None:
    assert int_or_string_text(42) == "42"
    assert int_or_string_text(-3) == "-3"
    assert int_or_string_text("Enabled") == "Enabled"
    assert decode_int_or_string("7", "p") == "7"
    assert decode_int_or_string(7, "p") == 7


def test_hfs_status_shape() -> None:
    status = HostFirmwareSettingsStatus(
        schema=SchemaReference(namespace="ns", name="schema-1"),
        settings={"A": "1"},
        last_updated=datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
    )
    doc = HostFirmwareSettings(status=status).to_dict()["status"]
    assert doc == {
        "schema": {"namespace": "ns", "name": "schema-1"},
        "settings": {"A": "1"},
        "lastUpdated": "2024-05-01T12:00:00Z",
    }


def test_hfc_status_updates_keep_nil_apart_from_empty() -> None:
    nil = HostFirmwareComponents().to_dict()
    assert nil["status"] == {"updates": None}
    assert HostFirmwareComponents.from_dict(nil).status.updates is None
    empty = HostFirmwareComponents(status=HostFirmwareComponentsStatus(updates=())).to_dict()
    assert empty["status"] == {"updates": []}
    assert HostFirmwareComponents.from_dict(empty).status.updates == ()
    # spec.updates is required by the CRD: always a list.
    assert nil["spec"] == {"updates": []}


def test_hfc_component_status_shape() -> None:
    component = FirmwareComponentStatus(component="bios", initial_version="1.0")
    status = HostFirmwareComponentsStatus(updates=None, components=(component,))
    doc = HostFirmwareComponents(status=status).to_dict()["status"]
    # initialVersion is required and updatedAt a value metav1.Time (null while unset).
    assert doc["components"] == [{"component": "bios", "initialVersion": "1.0", "updatedAt": None}]


def test_hup_document_and_policy_helpers() -> None:
    policy = HostUpdatePolicy(
        metadata=ObjectMeta(name="h"),
        spec=HostUpdatePolicySpec(firmware_settings="onReboot"),
    )
    assert policy.to_dict()["spec"] == {"firmwareSettings": "onReboot"}
    assert policy.to_dict()["status"] == {}
    assert policy.to_dict()["kind"] == "HostUpdatePolicy"
    assert HostUpdatePolicy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("settings_policy", "updates_policy", "settings_live", "updates_live", "servicing"),
    [
        (None, None, False, False, False),
        ("", "", False, False, False),
        ("onPreparing", "onPreparing", False, False, False),
        ("onReboot", "", True, False, True),
        ("", "onReboot", False, True, True),
        ("onReboot", "onReboot", True, True, True),
        ("onReboot", "onPreparing", True, False, True),
    ],
)
def test_update_policy_predicates(
    settings_policy: str | None,
    updates_policy: str | None,
    settings_live: bool,
    updates_live: bool,
    servicing: bool,
) -> None:
    policy = (
        None
        if settings_policy is None
        else HostUpdatePolicy(
            spec=HostUpdatePolicySpec(
                firmware_settings=settings_policy, firmware_updates=updates_policy or ""
            )
        )
    )
    assert live_firmware_settings_allowed(policy) is settings_live
    assert live_firmware_updates_allowed(policy) is updates_live
    assert servicing_enabled(policy) is servicing
