"""The small Kubernetes core types the BareMetalHost API embeds (metav1, corev1 subsets).

Only what bmo reads or writes is modelled; ``ObjectMeta`` keeps every other metadata key
(``managedFields``, ``generateName``, ...) in ``extra`` so a read-modify-write loses nothing.
"""

# jfield() returns a dataclasses.field() carrying the JSON name, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bmo.api.codec import extra_field, from_json, jfield, to_json


@dataclass(frozen=True)
class OwnerReference:
    api_version: str = jfield("apiVersion", omitempty=False, default="")
    kind: str = jfield("kind", omitempty=False, default="")
    name: str = jfield("name", omitempty=False, default="")
    uid: str = jfield("uid", omitempty=False, default="")
    controller: bool | None = jfield("controller", default=None)
    block_owner_deletion: bool | None = jfield("blockOwnerDeletion", default=None)


@dataclass(frozen=True)
class ObjectMeta:
    name: str = jfield("name", default="")
    generate_name: str = jfield("generateName", default="")
    namespace: str = jfield("namespace", default="")
    uid: str = jfield("uid", default="")
    resource_version: str = jfield("resourceVersion", default="")
    generation: int = jfield("generation", default=0)
    # A value metav1.Time: Go emits ``"creationTimestamp": null`` when it is unset.
    creation_timestamp: datetime | None = jfield("creationTimestamp", omitempty=False, default=None)
    deletion_timestamp: datetime | None = jfield("deletionTimestamp", default=None)
    labels: Mapping[str, str] = jfield("labels", default_factory=dict)
    annotations: Mapping[str, str] = jfield("annotations", default_factory=dict)
    owner_references: tuple[OwnerReference, ...] = jfield("ownerReferences", default=())
    finalizers: tuple[str, ...] = jfield("finalizers", default=())
    extra: Mapping[str, Any] = extra_field()

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ObjectMeta:
        return from_json(cls, data, "metadata")

    def without_annotation(self, key: str) -> ObjectMeta:
        return dataclasses.replace(
            self, annotations={k: v for k, v in self.annotations.items() if k != key}
        )


@dataclass(frozen=True)
class SecretReference:
    """corev1.SecretReference: a Secret by name and (optional) namespace."""

    name: str = jfield("name", default="")
    namespace: str = jfield("namespace", default="")


@dataclass(frozen=True)
class ObjectReference:
    """corev1.ObjectReference, as used by ``spec.consumerRef``."""

    kind: str = jfield("kind", default="")
    namespace: str = jfield("namespace", default="")
    name: str = jfield("name", default="")
    uid: str = jfield("uid", default="")
    api_version: str = jfield("apiVersion", default="")
    resource_version: str = jfield("resourceVersion", default="")
    field_path: str = jfield("fieldPath", default="")


@dataclass(frozen=True)
class Taint:
    """corev1.Taint (``spec.taints`` is deprecated and never acted on, but must round-trip)."""

    key: str = jfield("key", omitempty=False, default="")
    value: str = jfield("value", default="")
    effect: str = jfield("effect", omitempty=False, default="")
    time_added: datetime | None = jfield("timeAdded", default=None)


@dataclass(frozen=True)
class Condition:
    """metav1.Condition."""

    type: str = jfield("type", omitempty=False, default="")
    status: str = jfield("status", omitempty=False, default="")
    observed_generation: int = jfield("observedGeneration", default=0)
    last_transition_time: datetime | None = jfield(
        "lastTransitionTime", omitempty=False, default=None
    )
    reason: str = jfield("reason", omitempty=False, default="")
    message: str = jfield("message", omitempty=False, default="")
