"""Nothing lost on migration: status fields bmo does not model survive its status writes.

A newer Go operator (with its newer CRD) may have written status fields this bmo does not
know. The API server keeps them only while the installed CRD's schema names them (it prunes
unknown fields otherwise: the BareMetalHost CRD has no ``x-kubernetes-preserve-unknown-fields``
on ``status``, as upstream's). So the test runs an emulator whose BareMetalHost CRD is the
"newer" one - bmo's plus two fields - and checks that a reconcile that changes the state keeps
both, top-level and nested.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from bmo.api.constants import API_GROUP, API_VERSION, BMH_PLURAL
from testenv.kubeapi import KubeAPIServer
from tests.controllers.baremetalhost.test_host_reconciler_units import Bed
from tests.integration.operator import create_secret, host_body

CRD_DIR = Path(__file__).resolve().parents[3] / "config" / "crd" / "bases"
BMH_CRD = CRD_DIR / "metal3.io_baremetalhosts.yaml"


def _newer_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(BMH_CRD.read_text())
    for version in crd["spec"]["versions"]:
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        status["properties"]["futureField"] = {"type": "string"}
        status["properties"]["provisioning"]["properties"]["futureNested"] = {
            "type": "object",
            "properties": {"level": {"type": "integer"}},
        }
    return crd


@pytest.fixture(scope="module")
def newer_server() -> Iterator[KubeAPIServer]:
    srv = KubeAPIServer(host="127.0.0.1", port=0)
    srv.install_crds_from_dir(CRD_DIR)
    srv.install_crd(_newer_crd())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def newer_bed(newer_server: KubeAPIServer) -> Iterator[Bed]:
    cfg = k8s.Configuration()
    cfg.host = newer_server.url
    api_client = k8s.ApiClient(cfg)
    namespace = "migration"
    core = k8s.CoreV1Api(api_client)
    try:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    except k8s.ApiException as exc:
        if exc.status != 409:
            raise
    yield Bed(api_client, namespace)
    api_client.close()  # type: ignore[no-untyped-call]


def _write_foreign_status(bed: Bed, name: str, status: dict[str, Any]) -> None:
    obj = bed.hosts.get(name)
    assert obj is not None
    body = copy.deepcopy(obj)
    body["status"] = status
    api = k8s.CustomObjectsApi(bed.api_client)
    api.replace_namespaced_custom_object_status(
        API_GROUP, API_VERSION, bed.namespace, BMH_PLURAL, name, body
    )
    bed.refresh(name)


def test_unknown_status_fields_survive_a_state_change(newer_bed: Bed) -> None:
    bed = newer_bed
    create_secret(bed.api_client, bed.namespace)
    bed.create(host_body("host-0"))
    bed.reconcile("host-0")  # finalizer
    bed.refresh("host-0")
    _write_foreign_status(
        bed,
        "host-0",
        {
            "operationalStatus": "OK",
            "errorMessage": "",
            "errorCount": 0,
            "provisioningFailCount": 0,
            "futureField": "from-a-newer-operator",
            "provisioning": {"state": "", "ID": "", "futureNested": {"level": 3}},
            "poweredOn": False,
        },
    )
    for _ in range(3):
        bed.reconcile("host-0")
        bed.refresh("host-0")
    status = bed.hosts.status("host-0")
    assert status["provisioning"]["state"] != ""  # the pass did change the state
    assert status["futureField"] == "from-a-newer-operator"
    assert status["provisioning"]["futureNested"] == {"level": 3}


def test_fields_bmo_models_and_clears_are_not_resurrected() -> None:
    """Only keys the type does not model are carried; a modelled field bmo empties (here
    ``errorType``) is dropped as Go's omitempty drops it."""
    from bmo.api.codec import keep_unknown
    from bmo.api.host import BareMetalHostStatus

    stored = {"errorType": "old", "futureField": "x", "provisioning": {"futureNested": 1}}
    new = BareMetalHostStatus().to_dict()
    merged = keep_unknown(BareMetalHostStatus, stored, new)
    assert "errorType" not in merged
    assert merged["futureField"] == "x"
    assert merged["provisioning"]["futureNested"] == 1
