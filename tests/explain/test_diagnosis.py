"""The pure core of ``bmo explain``: one row per situation a person asks about."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bmo.api.constants import (
    BMH_FINALIZER,
    DETACHED_ANNOTATION,
    PAUSED_ANNOTATION,
    ErrorType,
)
from bmo.explain import (
    MAX_EVENTS,
    HostDecodeError,
    IronicLookup,
    LookupStatus,
    NodeFacts,
    RetryKind,
    SecretPresence,
    backoff_window,
    explain,
    node_lookup_keys,
    render_text,
    to_json,
)
from bmo.hoststate.backoff import calculate_backoff
from tests.explain.helpers import NOW, event_dict, host_dict

REPO = Path(__file__).resolve().parents[2]
NO_IRONIC = IronicLookup.skipped()
SECRET_MISSING_MESSAGE = (
    "BMC CredentialsName secret doesn't exist The BMC secret metal3/worker-0-bmc does not exist"
)


def found(**fields: Any) -> IronicLookup:
    node = NodeFacts(uuid="6f1c-node", name="metal3~worker-0", **fields)
    return IronicLookup(LookupStatus.FOUND, node=node, keys=("6f1c-node",))


@dataclass(frozen=True)
class Case:
    host: dict[str, Any]
    diagnosis: str
    """Expected at the start of the diagnosis line (the whole line when ``exact``)."""
    retry: RetryKind
    retry_says: str = ""
    lookup: IronicLookup = NO_IRONIC
    presence: SecretPresence = SecretPresence.PRESENT
    exact: bool = False
    notes: tuple[str, ...] = field(default=())
    """Substrings each expected in some note."""


CASES: dict[str, Case] = {
    "error with backoff, Ironic last_error": Case(
        host_dict(
            "inspecting",
            operational_status="error",
            error_type=ErrorType.INSPECTION,
            error_message="Inspection failed",
            error_count=2,
        ),
        "Ironic reports: Failed to inspect: BMC said no; bmo retries with restart in about 3m "
        "(error 2, backoff 2-4 min)",
        RetryKind.BACKOFF,
        lookup=found(provision_state="inspect failed", last_error="Failed to inspect: BMC said no"),
        exact=True,
        notes=("bmo recorded (inspection error): Inspection failed",),
    ),
    "error with backoff, no node": Case(
        host_dict(
            "provisioning",
            operational_status="error",
            error_type=ErrorType.PROVISIONING,
            error_message="deploy failed",
            error_count=1,
            last_updated=NOW - timedelta(seconds=90),
        ),
        "Provisioning error: deploy failed; bmo retries with restart any moment now",
        RetryKind.BACKOFF,
        retry_says="error 1, backoff 1-2 min",
    ),
    "error whose retry is overdue": Case(
        host_dict(
            "inspecting",
            operational_status="error",
            error_type=ErrorType.INSPECTION,
            error_message="Inspection failed",
            error_count=1,
            last_updated=NOW - timedelta(minutes=30),
        ),
        "Inspection error: Inspection failed; bmo retries with restart overdue since",
        RetryKind.BACKOFF,
        retry_says="bmo may not be running",
    ),
    "delayed": Case(
        host_dict("available", operational_status="delayed"),
        "Waiting for a provisioning slot: PROVISIONING_LIMIT reached",
        RetryKind.FIXED,
        retry_says="capacity re-checked after 1-2 min",
    ),
    "paused": Case(
        host_dict(
            "inspecting",
            operational_status="error",
            error_type=ErrorType.INSPECTION,
            error_message="Inspection failed",
            annotations={PAUSED_ANNOTATION: "metal3.io/capm3"},
        ),
        "Paused: bmo does not touch this host",
        RetryKind.NEVER,
        retry_says="not while paused",
    ),
    "paused while deleting": Case(
        host_dict("provisioned", annotations={PAUSED_ANNOTATION: ""}, deletion=NOW),
        "Paused: bmo does not touch this host",
        RetryKind.NEVER,
        notes=("waits until the host is unpaused",),
    ),
    "detached": Case(
        host_dict(
            "provisioned",
            operational_status="detached",
            annotations={DETACHED_ANNOTATION: ""},
        ),
        "Detached: bmo removed the Ironic node",
        RetryKind.POLL,
        retry_says="every 10m",
    ),
    "detach requested in a state that needs force": Case(
        host_dict("inspecting", annotations={DETACHED_ANNOTATION: "{}"}),
        "Detach requested but waiting: state 'inspecting'",
        RetryKind.POLL,
    ),
    "detach error": Case(
        host_dict(
            "provisioned",
            operational_status="error",
            error_type=ErrorType.DETACH,
            error_message="node is locked",
            error_count=1,
            annotations={DETACHED_ANNOTATION: ""},
        ),
        "Detach error: node is locked; bmo retries with restart",
        RetryKind.BACKOFF,
    ),
    "deleting, waiting for deprovisioning": Case(
        host_dict(
            "deprovisioning",
            deletion=NOW - timedelta(minutes=5),
            finalizers=(BMH_FINALIZER, "example.com/keep"),
        ),
        "Deletion is waiting for deprovisioning",
        RetryKind.POLL,
        lookup=found(provision_state="cleaning", target_provision_state="available"),
    ),
    "deleting, deprovisioning failed too often": Case(
        host_dict(
            "deprovisioning",
            operational_status="error",
            error_type=ErrorType.PROVISIONING,
            error_message="Cleaning failed",
            error_count=4,
            deletion=NOW - timedelta(minutes=50),
        ),
        "Deletion is waiting for deprovisioning; last attempt failed: Ironic reports: "
        "clean step failed",
        RetryKind.BACKOFF,
        lookup=found(provision_state="clean failed", last_error="clean step failed"),
        notes=("errorCount 4 > 3: bmo gives up this step",),
    ),
    "deleting from available: powered off, not deprovisioned": Case(
        host_dict("available", deletion=NOW),
        "Deletion is starting: from 'available' the host is powered off, not deprovisioned",
        RetryKind.NOW,
        exact=True,
    ),
    "deleting a detached host": Case(
        host_dict(
            "provisioned",
            operational_status="detached",
            annotations={DETACHED_ANNOTATION: ""},
            deletion=NOW,
        ),
        "Deletion skips deprovisioning and power-off (detached)",
        RetryKind.NOW,
    ),
    "deleting, only foreign finalizers left": Case(
        host_dict("deleting", deletion=NOW, finalizers=("example.com/keep",)),
        "Deletion is waiting for other controllers' finalizers: example.com/keep (bmo is done)",
        RetryKind.NEVER,
        exact=True,
    ),
    "deleting a detached host with deleteAction delay": Case(
        host_dict(
            "provisioned",
            operational_status="detached",
            annotations={DETACHED_ANNOTATION: '{"deleteAction": "delay"}'},
            deletion=NOW,
        ),
        'Deletion is delayed: the host is detached with deleteAction "delay"',
        RetryKind.POLL,
    ),
    "unmanaged": Case(
        host_dict(
            "unmanaged",
            operational_status="discovered",
            address="",
            credentials_name="",
            image_url=None,
        ),
        "Unmanaged: spec.bmc has no address or credentialsName",
        RetryKind.POLL,
        retry_says="every 10m",
        presence=SecretPresence.UNKNOWN,
    ),
    "registration error, credentials Secret missing": Case(
        host_dict(
            "registering",
            operational_status="error",
            error_type=ErrorType.REGISTRATION,
            error_message=SECRET_MISSING_MESSAGE,
            error_count=1,
            last_updated=NOW,
        ),
        "Credentials Secret metal3/worker-0-bmc does not exist: create it with keys username "
        "and password",
        RetryKind.POLL,
        retry_says="every 10s",
        presence=SecretPresence.MISSING,
        exact=True,
    ),
    "registration error, Secret presence unknown but the message says so": Case(
        host_dict(
            "registering",
            operational_status="error",
            error_type=ErrorType.REGISTRATION,
            error_message=SECRET_MISSING_MESSAGE,
            error_count=1,
        ),
        "Credentials Secret metal3/worker-0-bmc does not exist",
        RetryKind.POLL,
        presence=SecretPresence.UNKNOWN,
    ),
    "registration error, Secret created since": Case(
        host_dict(
            "registering",
            operational_status="error",
            error_type=ErrorType.REGISTRATION,
            error_message=SECRET_MISSING_MESSAGE,
            error_count=1,
        ),
        "Credentials Secret metal3/worker-0-bmc exists now",
        RetryKind.POLL,
    ),
    "registration error bmo does not retry on a timer": Case(
        host_dict(
            "registering",
            operational_status="error",
            error_type=ErrorType.REGISTRATION,
            error_message="Validation error with BMC credentials: Missing BMC connection "
            "details 'password' in credentials",
            error_count=1,
        ),
        "Registration error: Validation error with BMC credentials",
        RetryKind.ON_EVENT,
    ),
    "provisioning retry limit reached": Case(
        host_dict(
            "available",
            operational_status="error",
            error_type=ErrorType.PROVISIONING,
            error_message="provisioning failed 5 times, retry limit (5) reached; change image "
            "or reset provisioningFailCount to retry",
            error_count=5,
        ),
        "Provisioning gave up: provisioning failed 5 times",
        RetryKind.NEVER,
    ),
    "in progress": Case(
        host_dict("provisioning"),
        "In progress: provisioning; the Ironic node is deploying → active",
        RetryKind.POLL,
        lookup=found(provision_state="deploying", target_provision_state="active"),
        exact=True,
    ),
    "steady provisioned": Case(
        host_dict("provisioned"),
        "Steady: provisioned; nothing is pending",
        RetryKind.POLL,
        retry_says="every 10m (steady-state power check; at once when the Ironic node changes)",
        lookup=found(provision_state="active", power_state="power on"),
        exact=True,
    ),
    "provisioned, power change pending": Case(
        host_dict("provisioned", online=False, powered_on=True),
        "Steady: provisioned",
        RetryKind.POLL,
        notes=("Power change pending: spec.online asks for off",),
    ),
    "provisioned, image changed": Case(
        host_dict("provisioned", provisioned_image_url="http://127.0.0.1/old.qcow2"),
        "Provisioned, but spec.image no longer matches",
        RetryKind.NOW,
    ),
    "not reconciled yet": Case(
        host_dict("", operational_status="", last_updated=None),
        "Not reconciled yet: bmo has written no status",
        RetryKind.ON_EVENT,
    ),
    "node in maintenance": Case(
        host_dict("provisioned"),
        "Steady: provisioned",
        RetryKind.POLL,
        lookup=found(provision_state="active", maintenance=True, maintenance_reason="swap disk"),
        notes=("Ironic has the node in maintenance: swap disk",),
    ),
    "node missing from Ironic": Case(
        host_dict("provisioned"),
        "Steady: provisioned",
        RetryKind.POLL,
        lookup=IronicLookup(LookupStatus.NOT_FOUND, keys=("metal3~worker-0",)),
        notes=("Ironic has no node for this host",),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_diagnosis(case: Case) -> None:
    result = explain(case.host, case.lookup, [], NOW, credentials=case.presence)
    if case.exact:
        assert result.diagnosis == case.diagnosis
    else:
        assert result.diagnosis.startswith(case.diagnosis), result.diagnosis
    assert result.next_retry.kind is case.retry, result.next_retry
    assert case.retry_says in result.next_retry.summary
    for expected in case.notes:
        assert any(expected in note for note in result.notes), result.notes
    # Every situation renders, and the diagnosis is in the text.
    assert f"Diagnosis: {result.diagnosis}" in render_text(result)


def test_backoff_retry_window_is_measured_from_last_updated() -> None:
    host = host_dict(
        "inspecting",
        operational_status="error",
        error_type=ErrorType.INSPECTION,
        error_message="Inspection failed",
        error_count=3,
        last_updated=NOW - timedelta(minutes=1),
    )
    retry = explain(host, NO_IRONIC, [], NOW).next_retry
    assert retry.earliest == NOW + timedelta(minutes=3)
    assert retry.latest == NOW + timedelta(minutes=7)
    assert "in about 5m (error 3, backoff 4-8 min)" in retry.summary


@pytest.mark.parametrize("count", [0, 1, 2, 5, 9, 10, 40])
def test_backoff_window_bounds_what_calculate_backoff_returns(count: int) -> None:
    low, high = backoff_window(count)
    assert low == pytest.approx(high / 2)
    for jitter in (0.0, 0.25, 0.5, 0.999):
        assert low <= calculate_backoff(count, lambda j=jitter: j) <= high
    assert high <= 512 * 60


def test_deletion_lists_every_finalizer_with_what_removes_it() -> None:
    host = host_dict("deprovisioning", deletion=NOW, finalizers=(BMH_FINALIZER, "example.com/x"))
    result = explain(host, NO_IRONIC, [], NOW)
    names = {f.name: f.meaning for f in result.finalizers}
    assert names[BMH_FINALIZER].startswith("bmo's")
    assert "bmo does not remove it" in names["example.com/x"]
    text = render_text(result)
    assert "Deletion requested:" in text
    assert f"Finalizer:          {BMH_FINALIZER} - bmo's" in text


def test_annotations_in_effect_are_explained() -> None:
    host = host_dict(
        "provisioned",
        operational_status="detached",
        annotations={
            DETACHED_ANNOTATION: '{"deleteAction": "delay"}',
            "reboot.metal3.io/remediation": "",
            "example.com/unrelated": "x",
        },
    )
    notes = {n.key: n.meaning for n in explain(host, NO_IRONIC, [], NOW).annotations}
    assert notes[DETACHED_ANNOTATION] == "detached: no Ironic node; on delete: delay"
    assert notes["reboot.metal3.io/remediation"].startswith("reboot requested")
    assert "example.com/unrelated" not in notes


def test_events_are_sorted_by_last_timestamp_and_capped() -> None:
    events = [
        event_dict(f"Reason{i}", f"message {i}", NOW - timedelta(minutes=i))
        for i in range(MAX_EVENTS + 5)
    ]
    result = explain(host_dict(), NO_IRONIC, events, NOW)
    assert len(result.events) == MAX_EVENTS
    assert [e.reason for e in result.events] == [
        f"Reason{i}" for i in range(MAX_EVENTS - 1, -1, -1)
    ]
    text = render_text(result)
    assert text.index("Reason3") < text.index("Reason0")


def test_secrets_do_not_leak_into_the_report() -> None:
    host = host_dict(
        "inspecting",
        operational_status="error",
        error_type=ErrorType.INSPECTION,
        error_message="cannot fetch https://admin:hunter2@127.0.0.1/ipa.iso",
        error_count=1,
        address="redfish://root:calvin@127.0.0.1/redfish/v1/Systems/1",
    )
    events = [
        event_dict(
            "InspectionError", "GET http://u:s3cret@127.0.0.1/x failed", NOW, type_="Warning"
        )
    ]
    lookup = found(last_error="boot from https://ironic:topsecret@127.0.0.1/ipa failed")
    result = explain(host, lookup, events, NOW)
    for output in (render_text(result), to_json(result)):
        for secret in ("hunter2", "calvin", "s3cret", "topsecret"):
            assert secret not in output


def test_text_report_shows_the_node_and_the_host() -> None:
    host = host_dict(
        "registering",
        operational_status="error",
        error_type=ErrorType.REGISTRATION,
        error_message="Failed to get power state",
        error_count=2,
    )
    lookup = found(
        provision_state="enroll",
        last_error="Failed to validate power driver interface",
        power_state=None,
        driver="redfish",
    )
    events = [event_dict("RegistrationError", "Failed to get power state", NOW, type_="Warning")]
    text = render_text(explain(host, lookup, events, NOW))
    assert "State:              registering" in text
    assert "Error:              registration error: Failed to get power state" in text
    assert "Ironic node 6f1c-node (metal3~worker-0):" in text
    assert "Provision state:    enroll (target: none)" in text
    assert "Last error:         Failed to validate power driver interface" in text
    assert "Warning  RegistrationError: Failed to get power state" in text
    assert "Next retry:         bmo retries with restart in about 3m" in text


def test_json_document_round_trips_the_explanation() -> None:
    host = host_dict(
        "inspecting",
        operational_status="error",
        error_type=ErrorType.INSPECTION,
        error_message="Inspection failed",
        error_count=2,
    )
    lookup = found(provision_state="inspect failed", last_error="BMC said no")
    doc = json.loads(to_json(explain(host, lookup, [], NOW)))
    assert doc["state"] == "inspecting"
    assert doc["error_count"] == 2
    assert doc["ironic"]["status"] == "found"
    assert doc["ironic"]["node"]["last_error"] == "BMC said no"
    assert doc["next_retry"]["kind"] == "backoff"
    assert doc["next_retry"]["earliest"] == "2025-03-01T12:02:00Z"
    assert doc["last_updated"] == "2025-03-01T12:00:00Z"
    assert "driver_info" not in json.dumps(doc)


def test_node_lookup_keys_prefer_the_recorded_id_then_the_name() -> None:
    assert node_lookup_keys(host_dict(node_id="abc")) == ("abc", "metal3~worker-0")
    assert node_lookup_keys(host_dict()) == ("metal3~worker-0",)
    assert node_lookup_keys({"metadata": {"name": "h", "namespace": "n"}}) == ("n~h",)


def test_a_host_that_does_not_decode_is_a_clear_error() -> None:
    host = host_dict()
    host["spec"]["online"] = "yes"
    with pytest.raises(HostDecodeError, match=r"spec\.online"):
        explain(host, NO_IRONIC, [], NOW)


def test_the_pure_core_imports_no_client_library() -> None:
    """``bmo.explain`` must stay I/O-free: no Kubernetes, Ironic or HTTP client behind it."""
    code = (
        "import sys, bmo.explain\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kubernetes', 'openstack', 'requests', 'urllib3') or m.startswith('bmo.ironic'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_unreachable_ironic_is_one_line_of_the_report() -> None:
    lookup = IronicLookup(
        LookupStatus.UNAVAILABLE, keys=("metal3~worker-0",), detail="connection refused"
    )
    result = explain(host_dict("provisioned"), lookup, [], NOW)
    assert result.diagnosis == "Steady: provisioned; nothing is pending"
    text = render_text(result)
    assert "Ironic node: unavailable (looked up metal3~worker-0): connection refused\n" in text
    assert text.count("connection refused") == 1


def test_the_operation_poll_explained_is_the_watched_wait_bmo_run_uses() -> None:
    from bmo.explain.diagnosis import PROVISIONER_POLL
    from bmo.ironic.provisioner.core import WATCHED_WAIT_DELAY

    assert PROVISIONER_POLL == WATCHED_WAIT_DELAY
