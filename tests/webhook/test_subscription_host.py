"""bmo's addition to the BMCEventSubscription webhook: a new subscription must name a
BareMetalHost that exists, as far as the injected lookup can tell.

Only a definite "no" refuses; no lookup, an unknown answer or a failing lookup admit (the
controller still reports a missing host in ``status.error`` and retries). UPDATE keeps only
upstream's immutability rule.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bmo.webhook import BMCEVENTSUBSCRIPTION_PATH, Decision, WebhookServer, decide, parse_review
from bmo.webhook.config import HostLookup
from tests.webhook.conftest import Client
from tests.webhook.test_image_kinds import SUBSCRIPTION, subscription
from tests.webhook.test_server import response, review

KIND = "BMCEventSubscription"
MISSING = 'BareMetalHost "metal3/node-1" not found: create the host first, or fix spec.hostName'


class Recorder:
    """A lookup answering ``answer`` and remembering what it was asked."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    def __call__(self, namespace: str, name: str) -> bool | None:
        self.calls.append((namespace, name))
        return self.answer


def decide_subscription(
    operation: str,
    obj: dict[str, Any],
    old: dict[str, Any] | None = None,
    *,
    lookup: HostLookup | None,
) -> Decision:
    request = parse_review(json.dumps(review(operation, obj, old, kind=SUBSCRIPTION)).encode())
    return decide(request, kind=KIND, host_lookup=lookup)


def test_create_naming_a_missing_host_is_denied_with_the_fix() -> None:
    lookup = Recorder(False)
    decision = decide_subscription("CREATE", subscription(), lookup=lookup)
    assert not decision.allowed
    assert (decision.code, decision.reason) == (403, "Forbidden")
    assert decision.message == MISSING
    assert decision.fields == ("spec.hostName",)
    assert lookup.calls == [("metal3", "node-1")]


def test_host_is_looked_up_in_the_subscriptions_namespace() -> None:
    lookup = Recorder(False)
    obj = subscription(hostName="worker-7")
    obj["metadata"]["namespace"] = "site-b"
    decision = decide_subscription("CREATE", obj, lookup=lookup)
    assert lookup.calls == [("site-b", "worker-7")]
    assert decision.message.startswith('BareMetalHost "site-b/worker-7" not found')


@pytest.mark.parametrize("answer", [True, None], ids=["exists", "unknown"])
def test_create_is_allowed_when_the_host_exists_or_is_unknown(answer: bool | None) -> None:
    lookup = Recorder(answer)
    decision = decide_subscription("CREATE", subscription(), lookup=lookup)
    assert decision.allowed and decision.code == 200
    assert lookup.calls == [("metal3", "node-1")]


def test_create_is_allowed_without_a_lookup() -> None:
    assert decide_subscription("CREATE", subscription(), lookup=None).allowed


def test_a_failing_lookup_admits() -> None:
    """The check is advisory: a broken lookup must not refuse every subscription."""

    def broken(namespace: str, name: str) -> bool | None:
        raise RuntimeError("cache exploded")

    decision = decide_subscription("CREATE", subscription(), lookup=broken)
    assert decision.allowed


def test_missing_host_joins_upstreams_problems() -> None:
    bad = subscription(destination="")
    decision = decide_subscription("CREATE", bad, lookup=Recorder(False))
    assert decision.message == f"[destination cannot be empty, {MISSING}]"


def test_empty_host_name_is_not_looked_up() -> None:
    lookup = Recorder(False)
    decision = decide_subscription("CREATE", subscription(hostName=""), lookup=lookup)
    assert decision.message == "hostName cannot be empty"
    assert lookup.calls == []


def test_update_is_not_checked_against_the_host() -> None:
    """A host deleted after its subscription must not freeze the subscription's metadata."""
    lookup = Recorder(False)
    old = subscription()
    new = subscription()
    new["metadata"]["labels"] = {"a": "b"}
    assert decide_subscription("UPDATE", new, old, lookup=lookup).allowed
    changed = subscription(destination="https://other.example.com/hook")
    decision = decide_subscription("UPDATE", changed, old, lookup=lookup)
    assert decision.message == "subscriptions cannot be updated, please recreate it"
    assert lookup.calls == []


@pytest.mark.parametrize("kind", ["BareMetalHost", "DataImage"])
def test_other_kinds_do_not_use_the_lookup(kind: str) -> None:
    lookup = Recorder(False)
    request = parse_review(json.dumps(review("CREATE", subscription(), kind=SUBSCRIPTION)).encode())
    decide(request, kind=kind, host_lookup=lookup)
    assert lookup.calls == []


def test_server_reads_the_lookup_at_request_time(webhook: WebhookServer, client: Client) -> None:
    """``bmo run`` sets the lookup after the server is built, as for FirmwareSchemas."""

    def post() -> dict[str, Any]:
        return response(
            *client.post(
                review("CREATE", subscription(), kind=SUBSCRIPTION),
                path=BMCEVENTSUBSCRIPTION_PATH,
            )
        )

    assert post()["allowed"] is True
    webhook.host_lookup = Recorder(False)
    answer = post()
    assert answer["allowed"] is False
    assert answer["status"] == {
        "metadata": {},
        "message": MISSING,
        "reason": "Forbidden",
        "code": 403,
    }
    webhook.host_lookup = Recorder(True)
    assert post()["allowed"] is True
