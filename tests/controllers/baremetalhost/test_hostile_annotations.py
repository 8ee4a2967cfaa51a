"""A host whose detached annotation is hostile JSON still reconciles and can be deleted.

Before the safe decoder every pass of such a host raised ``RecursionError`` (a detached host
with it could never be deleted); now the annotation reads as the defaults, as any other
value that is not the expected JSON. Hardware-details and status annotations that do not
decode are an error naming the annotation, not a crash.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from bmo.api.constants import DETACHED_ANNOTATION, HARDWARE_DETAILS_ANNOTATION, INSPECT_ANNOTATION
from bmo.runtime.controller import TerminalError
from tests.controllers.baremetalhost.test_host_reconciler_units import Bed
from tests.integration.operator import create_secret, host_body

DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture
def bed(kube_api_client: k8s.ApiClient, kube_namespace: str) -> Iterator[Bed]:
    bed = Bed(kube_api_client, kube_namespace)
    yield bed
    for key in list(bed.host_store.objects):
        bed.hosts.force_remove(key.partition("/")[2])


def test_detached_host_with_deep_annotation_reconciles_and_deletes(bed: Bed) -> None:
    create_secret(bed.api_client, bed.namespace)
    bed.create(host_body("host-0", annotations={DETACHED_ANNOTATION: DEEP}))
    for _ in range(4):
        bed.reconcile("host-0")
        bed.refresh("host-0")
    assert bed.hosts.state("host-0") != ""  # the passes made progress
    bed.hosts.delete("host-0")
    for _ in range(10):
        bed.refresh("host-0")
        bed.reconcile("host-0")
        if bed.hosts.get("host-0") is None:
            break
    assert bed.hosts.get("host-0") is None
    del bed.host_store.objects[f"{bed.namespace}/host-0"]


def test_deep_hardware_details_annotation_is_a_named_error(bed: Bed) -> None:
    create_secret(bed.api_client, bed.namespace)
    bed.create(
        host_body(
            "host-0",
            annotations={HARDWARE_DETAILS_ANNOTATION: DEEP, INSPECT_ANNOTATION: "disabled"},
        )
    )
    with pytest.raises(TerminalError, match=HARDWARE_DETAILS_ANNOTATION):
        bed.reconcile("host-0")
