"""The DataImage object and its webhook rule: an ISO to attach to a provisioned host.

A DataImage shares its BareMetalHost's name; when the host powers on, the ISO at
``spec.url`` is inserted as a virtual-media CD and ``status.attachedImage`` records it. Types
follow upstream's ``apis/metal3.io/v1alpha1/dataimage_types.go`` (no short name: upstream
dropped ``dimg`` in review), the rule its
``internal/webhooks/metal3.io/v1alpha1/dataimage_validation.go validateDataimage``.
"""

# jfield() returns a dataclasses.field() carrying the JSON name, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from bmo.api.codec import from_json, jfield, to_json
from bmo.api.constants import GROUP_VERSION
from bmo.api.meta import ObjectMeta
from bmo.api.validation import ValidationProblem, image_url_error

__all__ = [
    "DATA_IMAGE_KIND",
    "DATA_IMAGE_PLURAL",
    "AttachedImageReference",
    "DataImage",
    "DataImageError",
    "DataImageSpec",
    "DataImageStatus",
    "validate_data_image",
]

DATA_IMAGE_KIND: Final = "DataImage"
DATA_IMAGE_PLURAL: Final = "dataimages"


@dataclass(frozen=True)
class AttachedImageReference:
    url: str = jfield("url", omitempty=False, default="")


@dataclass(frozen=True)
class DataImageError:
    """Consecutive attach/detach failures and the last one's message."""

    count: int = jfield("count", omitempty=False, default=0)
    message: str = jfield("message", omitempty=False, default="")


@dataclass(frozen=True)
class DataImageSpec:
    url: str = jfield("url", omitempty=False, default="")


@dataclass(frozen=True)
class DataImageStatus:
    last_reconciled: datetime | None = jfield("lastReconciled", default=None)
    attached_image: AttachedImageReference | None = jfield("attachedImage", default=None)
    error: DataImageError | None = jfield("error", default=None)


@dataclass(frozen=True)
class DataImage:
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: DataImageSpec = field(default_factory=DataImageSpec)
    status: DataImageStatus = field(default_factory=DataImageStatus)
    api_version: str = GROUP_VERSION
    kind: str = DATA_IMAGE_KIND

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata.to_dict(),
            "spec": to_json(self.spec),
            "status": to_json(self.status),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataImage:
        """Decode an object as read from the API; unknown spec/status keys are dropped."""
        return cls(
            metadata=ObjectMeta.from_dict(data.get("metadata")),
            spec=from_json(DataImageSpec, data.get("spec"), "spec"),
            status=from_json(DataImageStatus, data.get("status"), "status"),
            api_version=str(data.get("apiVersion") or GROUP_VERSION),
            kind=str(data.get("kind") or DATA_IMAGE_KIND),
        )

    def is_attached(self) -> bool:
        """Whether the status records an image in the host's virtual CD drive."""
        attached = self.status.attached_image
        return attached is not None and bool(attached.url)


def validate_data_image(image: DataImage) -> list[ValidationProblem]:
    """Every problem the webhook reports for ``image``, on create and on update alike.

    The URL rule is the BareMetalHost image one (upstream shares ``common_validation.go
    validateURL``): ``url.ParseRequestURI`` must accept it (so it is not empty) and the
    scheme must be one of ``bmo.api.validation.IMAGE_URL_SCHEMES``.
    """
    reason = image_url_error(image.spec.url)
    if reason is None:
        return []
    # Upstream formats with %s between literal quotes, not %q: the URL is not escaped.
    return [ValidationProblem("spec.url", f'URL "{image.spec.url}" is invalid: {reason}')]
