"""Firmware rules with upstream's messages: settings vs schema, schema names, change detection,
HostFirmwareComponents names and URLs, and the two conditions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bmo.api.firmware import (
    FirmwareUpdate,
    HostFirmwareComponents,
    HostFirmwareComponentsStatus,
    HostFirmwareSettings,
    HostFirmwareSettingsSpec,
    HostFirmwareSettingsStatus,
    IntOrString,
    SettingSchema,
)
from bmo.api.firmware_rules import (
    FirmwareNotReadyError,
    SettingProblem,
    changed_settings,
    component_name_error,
    components_conditions,
    components_ready_to_apply,
    firmware_update_url_errors,
    invalid_components_message,
    invalid_setting_event,
    merge_conditions,
    pending_updates,
    schema_name,
    settings_change_detected,
    settings_conditions,
    settings_ready_to_apply,
    storable_schema,
    storable_settings,
    updates_change_detected,
    validate_setting,
    validate_setting_value,
    validate_settings,
)
from bmo.api.meta import Condition, ObjectMeta

# The registry upstream's hostfirmwaresettings_test.go uses (its GetSchemaName is
# "schema-4bcc035f"), so the messages and the hash below are checked against upstream's.
SCHEMA = {
    "AssetTag": SettingSchema(attribute_type="String", min_length=0, max_length=20, unique=True),
    "CustomPostMessage": SettingSchema(
        attribute_type="String", min_length=0, max_length=20, unique=False, read_only=False
    ),
    "L2Cache": SettingSchema(attribute_type="String", min_length=0, max_length=20, read_only=True),
    "NetworkBootRetryCount": SettingSchema(
        attribute_type="Integer", lower_bound=0, upper_bound=20, read_only=False
    ),
    "ProcVirtualization": SettingSchema(
        attribute_type="Enumeration", allowable_values=("Enabled", "Disabled"), read_only=False
    ),
    "SecureBoot": SettingSchema(
        attribute_type="Enumeration", allowable_values=("Enabled", "Disabled"), read_only=True
    ),
}
STATUS = {
    "CustomPostMessage": "All tests passed",
    "L2Cache": "10x256 KB",
    "NetworkBootRetryCount": "10",
    "ProcVirtualization": "Enabled",
    "SecureBoot": "Enabled",
    "AssetTag": "X45672917",
}


# --- one setting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "setting", "message"),
    [
        ("A", "x", SettingSchema(attribute_type="String", read_only=True), "it is ReadOnly"),
        # read-only is checked before anything else, even a Password name
        ("APassword", "x", SettingSchema(read_only=True), "it is ReadOnly"),
        ("SysPassword", "x", SettingSchema(), "Password fields can't be set"),
        ("P", "x", SettingSchema(attribute_type="Password"), "passwords are immutable"),
        (
            "E",
            "Maybe",
            SettingSchema(attribute_type="Enumeration", allowable_values=("On", "Off")),
            "unknown enumeration value - Maybe",
        ),
        (
            "E",
            1,
            SettingSchema(attribute_type="Enumeration", allowable_values=("0",)),
            "unknown enumeration value - 1",
        ),
        (
            "I",
            "foo",
            SettingSchema(attribute_type="Integer", lower_bound=0, upper_bound=20),
            "String foo entered while integer expected",
        ),
        (
            "I",
            " 5",
            SettingSchema(attribute_type="Integer"),
            "String  5 entered while integer expected",
        ),
        (
            "I",
            "1_000",
            SettingSchema(attribute_type="Integer"),
            "String 1_000 entered while integer expected",
        ),
        (
            "I",
            "99999999999999999999",
            SettingSchema(attribute_type="Integer"),
            "String 99999999999999999999 entered while integer expected",
        ),
        (
            "I",
            2000,
            SettingSchema(attribute_type="Integer", lower_bound=0, upper_bound=20),
            "integer 2000 is above maximum value 20",
        ),
        (
            "I",
            "-3",
            SettingSchema(attribute_type="Integer", lower_bound=0, upper_bound=20),
            "integer -3 is below minimum value 0",
        ),
        (
            "S",
            "A really long POST message",
            SettingSchema(attribute_type="String", min_length=0, max_length=20),
            "string A really long POST message length is above maximum length 20",
        ),
        (
            "S",
            "ab",
            SettingSchema(attribute_type="String", min_length=3),
            "string ab length is below minimum length 3",
        ),
        # Go's len() counts UTF-8 bytes: two characters, four bytes.
        (
            "S",
            "éé",
            SettingSchema(attribute_type="String", max_length=3),
            "string éé length is above maximum length 3",
        ),
        ("B", "yes", SettingSchema(attribute_type="Boolean"), "yes is not a boolean"),
        ("B", "True", SettingSchema(attribute_type="Boolean"), "True is not a boolean"),
        ("B", 1, SettingSchema(attribute_type="Boolean"), "1 is not a boolean"),
        ("X", "x", SettingSchema(attribute_type="Float"), "unexpected attribute type Float"),
    ],
)
def test_setting_is_refused_with_upstream_message(
    name: str, value: IntOrString, setting: SettingSchema, message: str
) -> None:
    assert validate_setting_value(name, value, setting) == f"Setting {name} is invalid, {message}"


@pytest.mark.parametrize(
    ("value", "setting"),
    [
        ("On", SettingSchema(attribute_type="Enumeration", allowable_values=("On", "Off"))),
        (0, SettingSchema(attribute_type="Enumeration", allowable_values=("0", "1"))),
        (20, SettingSchema(attribute_type="Integer", lower_bound=0, upper_bound=20)),
        ("+7", SettingSchema(attribute_type="Integer", lower_bound=0, upper_bound=20)),
        ("007", SettingSchema(attribute_type="Integer", upper_bound=7)),
        (-(10**12), SettingSchema(attribute_type="Integer")),  # no bounds: anything
        ("abc", SettingSchema(attribute_type="String", min_length=3, max_length=3)),
        ("anything at all", SettingSchema(attribute_type="String")),
        ("true", SettingSchema(attribute_type="Boolean")),
        ("false", SettingSchema(attribute_type="Boolean")),
        ("whatever", SettingSchema()),  # no registry fields from Ironic: allowed
        ("x", SettingSchema(read_only=False)),
    ],
)
def test_setting_is_accepted(value: IntOrString, setting: SettingSchema) -> None:
    assert validate_setting_value("Name", value, setting) is None


def test_unknown_setting_name() -> None:
    assert validate_setting("Nope", "x", SCHEMA) == (
        "Setting Nope is invalid, it is not in the associated schema"
    )
    assert validate_setting("ProcVirtualization", "Enabled", SCHEMA) is None


# --- a whole spec.settings map -------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {
                "CustomPostMessage": "All tests passed",
                "ProcVirtualization": "Disabled",
                "NetworkBootRetryCount": 20,
            },
            [],
        ),
        (
            {"CustomPostMessage": "A really long POST message", "NetworkBootRetryCount": 20},
            [
                "Setting CustomPostMessage is invalid, string A really long POST message length "
                "is above maximum length 20"
            ],
        ),
        (
            {"NetworkBootRetryCount": 2000},
            ["Setting NetworkBootRetryCount is invalid, integer 2000 is above maximum value 20"],
        ),
        (
            {"ProcVirtualization": "Not enabled", "NetworkBootRetryCount": "20"},
            ["Setting ProcVirtualization is invalid, unknown enumeration value - Not enabled"],
        ),
        ({"SomeNewSetting": "foo"}, ["setting SomeNewSetting is not in the Status field"]),
        ({"SysPassword": "Pa%$word", "ProcVirtualization": "Disabled"},
         ["cannot set Password field"]),
        (
            {"NetworkBootRetryCount": "foo"},
            ["Setting NetworkBootRetryCount is invalid, String foo entered while integer expected"],
        ),
        (
            {"SecureBoot": "Disabled", "L2Cache": "1 MB"},
            ["Setting L2Cache is invalid, it is ReadOnly",
             "Setting SecureBoot is invalid, it is ReadOnly"],
        ),
    ],
)  # fmt: skip
def test_controller_validation_table(settings: dict[str, IntOrString], expected: list[str]) -> None:
    """upstream hostfirmwaresettings_test.go TestValidateHostFirmwareSettings, plus more."""
    problems = validate_settings(settings, SCHEMA, STATUS)
    assert [str(p) for p in problems] == expected


def test_every_problem_is_reported_in_name_order() -> None:
    problems = validate_settings(
        {
            "ZPassword": "x",
            "Unknown": "x",
            "NetworkBootRetryCount": 99,
            "ProcVirtualization": "Maybe",
            "AssetTag": "ok",
        },
        SCHEMA,
        STATUS,
    )
    assert problems == [
        SettingProblem(
            "NetworkBootRetryCount",
            "Setting NetworkBootRetryCount is invalid, integer 99 is above maximum value 20",
        ),
        SettingProblem(
            "ProcVirtualization",
            "Setting ProcVirtualization is invalid, unknown enumeration value - Maybe",
        ),
        SettingProblem("Unknown", "setting Unknown is not in the Status field"),
        SettingProblem("ZPassword", "cannot set Password field"),
    ]


def test_webhook_mode_checks_the_schema_only() -> None:
    """Without a status (admission), names are checked against the schema, not the status."""
    problems = validate_settings({"Unknown": "x", "ProcVirtualization": "On"}, SCHEMA)
    assert [str(p) for p in problems] == [
        "Setting ProcVirtualization is invalid, unknown enumeration value - On",
        "Setting Unknown is invalid, it is not in the associated schema",
    ]
    assert [str(p) for p in validate_settings({"BiosPassword": "x"}, SCHEMA)] == [
        "cannot set Password field"
    ]


def test_without_a_schema_only_the_name_checks_run() -> None:
    assert validate_settings({"Anything": "x"}, None, {"Anything": "y"}) == []
    assert [str(p) for p in validate_settings({"Other": "x"}, None, {})] == [
        "setting Other is not in the Status field"
    ]


def test_event_text() -> None:
    problem = SettingProblem("A", "Setting A is invalid, it is ReadOnly")
    assert (
        invalid_setting_event(problem)
        == "Invalid BIOS setting: Setting A is invalid, it is ReadOnly"
    )


# --- schema naming and what is stored ------------------------------------------------------


def test_schema_name_matches_upstream() -> None:
    """upstream hostfirmwaresettings_test.go: this registry is named schema-4bcc035f."""
    assert schema_name(SCHEMA) == "schema-4bcc035f"


def test_schema_name_ignores_order_and_unique_but_not_values() -> None:
    reordered = dict(reversed(list(SCHEMA.items())))
    assert schema_name(reordered) == schema_name(SCHEMA)
    no_unique = {k: SettingSchema(**{**v.__dict__, "unique": None}) for k, v in SCHEMA.items()}
    assert schema_name(no_unique) == schema_name(SCHEMA)
    changed = {**SCHEMA, "L2Cache": SettingSchema(attribute_type="String", max_length=21)}
    assert schema_name(changed) != schema_name(SCHEMA)
    assert schema_name({}) == "schema-" + "4f53cda1"  # sha256("[]")


def test_schema_name_format() -> None:
    name = schema_name({"A": SettingSchema(attribute_type="Boolean", read_only=False)})
    assert name.startswith("schema-") and len(name) == len("schema-") + 8
    assert all(c in "0123456789abcdef" for c in name.removeprefix("schema-"))


def test_password_settings_are_never_stored() -> None:
    assert storable_settings({"SysPassword": "enc", "A": "1"}) == {"A": "1"}
    schema = {
        "SysPassword": SettingSchema(attribute_type="String"),
        "Secret": SettingSchema(attribute_type="Password"),
        "A": SettingSchema(attribute_type="Integer"),
    }
    assert storable_schema(schema) == {"A": SettingSchema(attribute_type="Integer")}


# --- change detection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "current", "changed"),
    [
        ({}, {"A": "1"}, {}),
        ({"A": 1}, {"A": "1"}, {}),  # compared as text: 1 is "1"
        ({"A": "1"}, {"A": "1"}, {}),
        ({"A": 2}, {"A": "1"}, {"A": 2}),  # the int stays an int
        ({"A": "x", "B": "y"}, {"A": "x", "B": "z"}, {"B": "y"}),
        ({"New": "v"}, {"A": "1"}, {"New": "v"}),  # missing counts as changed
        ({"New": ""}, {}, {"New": ""}),
    ],
)
def test_changed_settings(
    desired: dict[str, IntOrString], current: dict[str, str], changed: dict[str, IntOrString]
) -> None:
    assert changed_settings(desired, current) == changed
    assert settings_change_detected(desired, current) is bool(changed)
    for name, value in changed.items():
        assert type(value) is type(desired[name])


U_BIOS = FirmwareUpdate("bios", "http://192.0.2.1/bios.bin")
U_BMC = FirmwareUpdate("bmc", "http://192.0.2.1/bmc.bin")
U_BIOS_NEW = FirmwareUpdate("bios", "http://192.0.2.1/bios-2.bin")


@pytest.mark.parametrize(
    ("spec", "status", "changed"),
    [
        ((), None, False),
        ((), (), False),
        ((U_BIOS,), None, True),
        ((U_BIOS,), (U_BIOS,), False),
        ((U_BIOS, U_BMC), (U_BMC, U_BIOS), True),  # DeepEqual: order counts
        ((U_BIOS_NEW,), (U_BIOS,), True),
        ((), (U_BIOS,), True),  # an update withdrawn is a change too
    ],
)
def test_updates_change_detected(
    spec: tuple[FirmwareUpdate, ...], status: tuple[FirmwareUpdate, ...] | None, changed: bool
) -> None:
    assert updates_change_detected(spec, status) is changed


@pytest.mark.parametrize(
    ("spec", "status", "pending"),
    [
        ((U_BIOS, U_BMC), None, (U_BIOS, U_BMC)),
        ((U_BIOS, U_BMC), (), (U_BIOS, U_BMC)),
        ((U_BIOS, U_BMC), (U_BIOS,), (U_BMC,)),
        ((U_BIOS_NEW, U_BMC), (U_BIOS, U_BMC), (U_BIOS_NEW,)),
        ((U_BIOS,), (U_BIOS, U_BMC), ()),
    ],
)
def test_pending_updates(
    spec: tuple[FirmwareUpdate, ...],
    status: tuple[FirmwareUpdate, ...] | None,
    pending: tuple[FirmwareUpdate, ...],
) -> None:
    assert pending_updates(spec, status) == pending


# --- when preparing/servicing may act --------------------------------------------------------


def _cond(kind: str, status: str, generation: int = 0) -> Condition:
    return Condition(type=kind, status=status, observed_generation=generation, reason="R")


def _hfs(settings: dict[str, str], *conditions: Condition) -> HostFirmwareSettings:
    return HostFirmwareSettings(
        spec=HostFirmwareSettingsSpec(settings={"A": "2"}),
        status=HostFirmwareSettingsStatus(settings=settings, conditions=conditions),
    )


def test_settings_ready_to_apply() -> None:
    assert settings_ready_to_apply(None) is False
    assert settings_ready_to_apply(_hfs({"A": "1"})) is False
    changed, valid = _cond("ChangeDetected", "True"), _cond("Valid", "True")
    assert settings_ready_to_apply(_hfs({"A": "1"}, changed, valid)) is True
    assert settings_ready_to_apply(_hfs({"A": "1"}, changed, _cond("Valid", "False"))) is False
    assert settings_ready_to_apply(_hfs({"A": "1"}, _cond("ChangeDetected", "False"), valid)) is (
        False
    )
    with pytest.raises(FirmwareNotReadyError, match="host firmware status settings not available"):
        settings_ready_to_apply(_hfs({}, changed, valid))


def _hfc(generation: int, *conditions: Condition) -> HostFirmwareComponents:
    return HostFirmwareComponents(
        metadata=ObjectMeta(name="h", generation=generation),
        status=HostFirmwareComponentsStatus(conditions=conditions),
    )


def test_components_ready_to_apply() -> None:
    valid = _cond("Valid", "True", 3)
    assert components_ready_to_apply(None) is False
    assert components_ready_to_apply(_hfc(3, _cond("ChangeDetected", "True", 3), valid)) is True
    # A ChangeDetected observed for an older generation is stale.
    assert components_ready_to_apply(_hfc(4, _cond("ChangeDetected", "True", 3), valid)) is False
    assert components_ready_to_apply(_hfc(3, _cond("ChangeDetected", "False", 3), valid)) is False
    invalid = _cond("Valid", "False", 3)
    assert components_ready_to_apply(_hfc(3, _cond("ChangeDetected", "True", 3), invalid)) is (
        False
    )
    assert components_ready_to_apply(_hfc(3)) is False


# --- HostFirmwareComponents names and URLs -------------------------------------------------


@pytest.mark.parametrize(
    ("components", "bad"),
    [
        (["bios"], None),
        (["bmc", "bios"], None),
        (["nic:NIC.Integrated.1-1"], None),
        (["nic:"], None),
        (["raid"], "raid"),
        (["bios", "BIOS", "cpld"], "BIOS"),  # upstream stops at the first
        (["NIC:1"], "NIC:1"),
        ([""], ""),
    ],
)
def test_component_names(components: list[str], bad: str | None) -> None:
    updates = [FirmwareUpdate(c, "http://192.0.2.1/x") for c in components]
    error = component_name_error(updates)
    if bad is None:
        assert error is None
    else:
        assert error == (
            f"component {bad} is invalid, only 'bmc', 'bios', or names starting with 'nic:' "
            "are allowed as update names"
        )


def test_invalid_components_message_has_go_slice_brackets() -> None:
    assert invalid_components_message("component x is invalid, ...") == (
        "Invalid Firmware Components: [component x is invalid, ...]"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com", None),
        ("https://192.0.2.1/fw/bios.bin", None),
        ("oci://quay.io/fw/bios:1.0", None),
        ("HTTP://example.com/x", None),  # the scheme is compared lower-cased
        ("abc", 'parse "abc": invalid URI for request'),
        ("", 'parse "": empty url'),
        ("unix://example.com", 'invalid scheme in URL, "unix" not allowed'),
        ("ftp://192.0.2.1/bios.bin", 'invalid scheme in URL, "ftp" not allowed'),
        ("/just/a/path", 'invalid scheme in URL, "" not allowed'),
        ("http://[::1/x", "parse \"http://[::1/x\": missing ']' in host"),
    ],
)
def test_webhook_url_messages(url: str, reason: str | None) -> None:
    """upstream hostfirmwarecomponents_validation_test.go, plus more."""
    errors = firmware_update_url_errors([FirmwareUpdate("test1", url)])
    if reason is None:
        assert errors == []
    else:
        assert errors == [f'invalid URL "{url}" in FirmwareUpdate in component "test1": {reason}']


def test_webhook_reports_every_bad_url() -> None:
    errors = firmware_update_url_errors(
        [FirmwareUpdate("bios", "x"), FirmwareUpdate("bmc", "http://ok"), FirmwareUpdate("n", "")]
    )
    assert len(errors) == 2
    assert errors[0].startswith('invalid URL "x" in FirmwareUpdate in component "bios": ')
    assert errors[1].startswith('invalid URL "" in FirmwareUpdate in component "n": ')


# --- conditions ----------------------------------------------------------------------------


def _summary(conditions: tuple[Condition, ...]) -> list[tuple[str, str, str, str, int]]:
    return [(c.type, c.status, c.reason, c.message, c.observed_generation) for c in conditions]


def test_settings_conditions() -> None:
    assert _summary(settings_conditions(2, False, [])) == [
        ("Valid", "True", "Success", "", 2),
        ("ChangeDetected", "False", "Success", "", 2),
    ]
    assert _summary(settings_conditions(2, True, [])) == [
        ("ChangeDetected", "True", "Success", "", 2),
        ("Valid", "True", "Success", "", 2),
    ]
    problem = SettingProblem("A", "x")
    assert _summary(settings_conditions(2, True, [problem])) == [
        ("ChangeDetected", "True", "Success", "", 2),
        ("Valid", "False", "ConfigurationError", "Invalid BIOS setting", 2),
    ]


def test_components_conditions() -> None:
    assert _summary(components_conditions(1, False, None)) == [
        ("Valid", "True", "OK", "", 1),
        ("ChangeDetected", "False", "OK", "", 1),
    ]
    message = "Invalid Firmware Components: [component x is invalid]"
    assert _summary(components_conditions(1, True, "component x is invalid")) == [
        ("ChangeDetected", "True", "OK", "", 1),
        ("Valid", "False", "InvalidComponent", message, 1),
    ]


def test_merge_conditions_moves_time_only_on_a_flip() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    t1 = datetime(2024, 1, 2, tzinfo=UTC)
    first = merge_conditions((), settings_conditions(1, False, []), t0)
    assert [c.last_transition_time for c in first] == [t0, t0]
    same = merge_conditions(first, settings_conditions(2, False, []), t1)
    assert [c.last_transition_time for c in same] == [t0, t0]
    assert [c.observed_generation for c in same] == [2, 2]
    flipped = merge_conditions(same, settings_conditions(3, True, [SettingProblem("A", "x")]), t1)
    # Places are kept (Valid first, as first written); both flipped, both moved.
    assert _summary(flipped) == [
        ("Valid", "False", "ConfigurationError", "Invalid BIOS setting", 3),
        ("ChangeDetected", "True", "Success", "", 3),
    ]
    assert [c.last_transition_time for c in flipped] == [t1, t1]
    other = Condition(type="Other", status="True", reason="X", last_transition_time=t0)
    kept = merge_conditions((other,), settings_conditions(1, False, []), t1)
    assert kept[0] == other and [c.type for c in kept] == ["Other", "Valid", "ChangeDetected"]
