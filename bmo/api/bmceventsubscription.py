"""The BMCEventSubscription object and its webhook rules: a host BMC's Redfish events, sent
to a webhook.

The subscription is created once on the BMC (through Ironic's vendor passthru) and never
changed, so the spec is immutable: a new destination means a new object. Types follow the
upstream CRD (``config/base/crds/bases/metal3.io_bmceventsubscriptions.yaml``), rules
``internal/webhooks/metal3.io/v1alpha1/bmceventsubscription_validation.go
validateSubscription`` and ``bmceventsubscription_webhook.go ValidateUpdate``.
"""

# jfield() returns a dataclasses.field() carrying the JSON name, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bmo.api.codec import from_json, jfield, to_json
from bmo.api.constants import GROUP_VERSION
from bmo.api.golang.url import GoURLError, parse_request_uri
from bmo.api.meta import ObjectMeta, SecretReference
from bmo.api.validation import ValidationProblem

__all__ = [
    "BMC_EVENT_SUBSCRIPTION_KIND",
    "BMC_EVENT_SUBSCRIPTION_PLURAL",
    "BMCEventSubscription",
    "BMCEventSubscriptionSpec",
    "BMCEventSubscriptionStatus",
    "http_headers",
    "validate_subscription_create",
    "validate_subscription_update",
]

BMC_EVENT_SUBSCRIPTION_KIND: Final = "BMCEventSubscription"
BMC_EVENT_SUBSCRIPTION_PLURAL: Final = "bmceventsubscriptions"

_SAME_NAMESPACE: Final = (
    "httpHeadersRef secret must be in the same namespace as the BMCEventSubscription"
)
_IMMUTABLE: Final = "subscriptions cannot be updated, please recreate it"


@dataclass(frozen=True)
class BMCEventSubscriptionSpec:
    host_name: str = jfield("hostName", default="")
    destination: str = jfield("destination", default="")
    context: str = jfield("context", default="")
    http_headers_ref: SecretReference | None = jfield("httpHeadersRef", default=None)


@dataclass(frozen=True)
class BMCEventSubscriptionStatus:
    subscription_id: str = jfield("subscriptionID", default="")
    error: str = jfield("error", default="")


@dataclass(frozen=True)
class BMCEventSubscription:
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: BMCEventSubscriptionSpec = field(default_factory=BMCEventSubscriptionSpec)
    status: BMCEventSubscriptionStatus = field(default_factory=BMCEventSubscriptionStatus)
    api_version: str = GROUP_VERSION
    kind: str = BMC_EVENT_SUBSCRIPTION_KIND

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata.to_dict(),
            "spec": to_json(self.spec),
            "status": to_json(self.status),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BMCEventSubscription:
        """Decode an object as read from the API; unknown spec/status keys are dropped."""
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=from_json(BMCEventSubscriptionSpec, data.get("spec"), "spec"),
            status=from_json(BMCEventSubscriptionStatus, data.get("status"), "status"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or BMC_EVENT_SUBSCRIPTION_KIND),
        )


def validate_subscription_create(subscription: BMCEventSubscription) -> list[ValidationProblem]:
    """Every problem the webhook reports when ``subscription`` is created, in upstream's order.

    Unlike BareMetalHost Secret references, an ``httpHeadersRef`` without a namespace is
    rejected too: upstream compares the namespaces as given.
    """
    spec = subscription.spec
    problems: list[ValidationProblem] = []
    if not spec.host_name:
        problems.append(ValidationProblem("spec.hostName", "hostName cannot be empty"))
    ref = spec.http_headers_ref
    if ref is not None and ref.namespace != subscription.metadata.namespace:
        problems.append(ValidationProblem("spec.httpHeadersRef.namespace", _SAME_NAMESPACE))
    if not spec.destination:
        problems.append(ValidationProblem("spec.destination", "destination cannot be empty"))
    else:
        try:
            parsed = parse_request_uri(spec.destination)
        except GoURLError as exc:
            problems.append(ValidationProblem("spec.destination", f"destination is invalid: {exc}"))
        else:
            if parsed.path == "":
                problems.append(
                    ValidationProblem(
                        "spec.destination", "hostname-only destination must have a trailing slash"
                    )
                )
    return problems


def validate_subscription_update(
    old: BMCEventSubscription, new: BMCEventSubscription
) -> list[ValidationProblem]:
    """What the webhook reports for the update ``old`` -> ``new``.

    Only the spec is compared, as a whole: upstream does not re-run the create rules on
    update, so an object admitted before a rule existed can still have its status and
    metadata written.
    """
    if new.spec != old.spec:
        return [ValidationProblem("spec", _IMMUTABLE)]
    return []


def http_headers(data: Mapping[str, bytes]) -> list[dict[str, str]]:
    """The ``httpHeadersRef`` Secret's decoded data as Ironic's header list: one single-entry
    map per key (``bmceventsubscription_controller.go getHTTPHeaders``).

    The values are credentials more often than not: pass the result to Ironic, never to a
    log line, event or status.
    """
    return [{name: value.decode("utf-8", "replace")} for name, value in data.items()]
