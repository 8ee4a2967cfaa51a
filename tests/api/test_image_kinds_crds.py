"""The PreprovisioningImage, DataImage and BMCEventSubscription CRDs and samples, as a
Kubernetes API server (the emulator, through the real client and kubectl) sees them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from bmo.api.bmceventsubscription import BMCEventSubscription, validate_subscription_create
from bmo.api.dataimage import DataImage, validate_data_image
from bmo.api.manifests import load_documents
from bmo.api.meta import ObjectMeta
from bmo.api.preprovisioningimage import PreprovisioningImage
from testenv.kubeapi import KubeAPIServer

ROOT = Path(__file__).resolve().parents[2]
GROUP, VERSION = "metal3.io", "v1alpha1"

# kind -> (file, plural, short names, printer columns as name/type/jsonPath), as upstream's
# config/base/crds/bases/metal3.io_*.yaml have them.
CRDS: dict[str, tuple[str, str, list[str], list[tuple[str, str, str]]]] = {
    "PreprovisioningImage": (
        "metal3.io_preprovisioningimages.yaml",
        "preprovisioningimages",
        ["ppimg"],
        [
            ("Ready", "string", ".status.conditions[?(@.type=='Ready')].status"),
            ("Reason", "string", ".status.conditions[?(@.type=='Ready')].reason"),
        ],
    ),
    "DataImage": ("metal3.io_dataimages.yaml", "dataimages", [], []),
    "BMCEventSubscription": (
        "metal3.io_bmceventsubscriptions.yaml",
        "bmceventsubscriptions",
        ["bes", "bmcevent"],
        [
            ("Error", "string", ".status.error"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ],
    ),
}
TYPES: dict[str, Any] = {
    "PreprovisioningImage": PreprovisioningImage,
    "DataImage": DataImage,
    "BMCEventSubscription": BMCEventSubscription,
}
SAMPLES = {
    "PreprovisioningImage": "preprovisioningimage.yaml",
    "DataImage": "dataimage.yaml",
    "BMCEventSubscription": "bmceventsubscription.yaml",
}


def crd(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "config/crd/bases" / CRDS[kind][0]).read_text())
    return loaded


def sample(kind: str) -> dict[str, Any]:
    [doc] = load_documents((ROOT / "config/samples" / SAMPLES[kind]).read_text())
    return doc


# --- the files ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_package_copy_is_byte_identical(kind: str) -> None:
    name = CRDS[kind][0]
    packaged = (ROOT / "bmo/api/crds" / name).read_bytes()
    assert packaged == (ROOT / "config/crd/bases" / name).read_bytes()


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_names_columns_and_subresources_match_upstream(kind: str) -> None:
    _, plural, short_names, columns = CRDS[kind]
    spec = crd(kind)["spec"]
    assert crd(kind)["metadata"]["name"] == f"{plural}.{GROUP}"
    assert spec["group"] == GROUP and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": plural.removesuffix("s"),
        **({"shortNames": short_names} if short_names else {}),
    }
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"] == {"status": {}}
    got = [
        (c["name"], c["type"], c["jsonPath"]) for c in version.get("additionalPrinterColumns", [])
    ]
    assert got == columns


def test_kustomization_lists_the_crds_and_samples_exist() -> None:
    crds = yaml.safe_load((ROOT / "config/crd/kustomization.yaml").read_text())["resources"]
    assert {f"bases/{f}" for f, *_ in CRDS.values()} <= set(crds)
    # One sample per kind, applied with `kubectl apply -f` (the samples kustomization holds
    # only the BareMetalHost and its Secret).
    assert all((ROOT / "config/samples" / name).is_file() for name in SAMPLES.values())


def test_rbac_covers_the_kinds() -> None:
    rules = yaml.safe_load((ROOT / "config/rbac/role.yaml").read_text())["rules"]
    granted = {
        (resource, verb)
        for rule in rules
        if GROUP in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    # The verbs the controllers use (tests/config/test_rbac_drift.py keeps the role trimmed
    # to them): never patch or delete, the garbage collector follows owner references.
    for _, plural, _, _ in CRDS.values():
        for verb in ("create", "get", "list", "update", "watch"):
            assert (plural, verb) in granted
        assert (f"{plural}/status", "update") in granted
        assert (f"{plural}/finalizers", "update") in granted


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_a_fresh_api_server_accepts_the_crd(kind: str) -> None:
    srv = KubeAPIServer()
    installed = srv.install_crd(crd(kind))
    assert installed["metadata"]["name"] == crd(kind)["metadata"]["name"]


# --- samples: accepted by the API server and by the webhook -------------------------------


def test_samples_pass_the_webhook_rules() -> None:
    namespace = "samples"

    def with_namespace(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}

    assert validate_data_image(DataImage.from_dict(with_namespace(sample("DataImage")))) == []
    subscription = BMCEventSubscription.from_dict(with_namespace(sample("BMCEventSubscription")))
    assert validate_subscription_create(subscription) == []
    image = PreprovisioningImage.from_dict(sample("PreprovisioningImage"))
    assert image.spec.accept_formats == ("iso", "initrd")
    # Every sample names the sample host.
    host = next(
        d
        for d in load_documents((ROOT / "config/samples/baremetalhost.yaml").read_text())
        if d["kind"] == "BareMetalHost"
    )
    assert subscription.spec.host_name == host["metadata"]["name"]
    assert sample("DataImage")["metadata"]["name"] == host["metadata"]["name"]
    assert image.metadata.name == host["metadata"]["name"]


def objects(api: ApiClient) -> CustomObjectsApi:
    return CustomObjectsApi(api)


def create(api: ApiClient, namespace: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    result = objects(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, CRDS[kind][1], body
    )
    return cast(dict[str, Any], result)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_sample_is_accepted_and_round_trips(
    kind: str, kube_api_client: ApiClient, kube_namespace: str
) -> None:
    body = sample(kind)
    created = create(kube_api_client, kube_namespace, kind, body)
    assert created["spec"] == body["spec"]
    cls = TYPES[kind]
    decoded = cls.from_dict(created)
    assert decoded.to_dict()["spec"] == body["spec"]


def _status_patch(kind: str) -> dict[str, Any]:
    patches: dict[str, dict[str, Any]] = {
        "PreprovisioningImage": {
            "imageUrl": "http://192.0.2.1/ipa.iso",
            "format": "iso",
            "architecture": "x86_64",
            "networkData": {},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ImageSuccess",
                    "message": "Generated image",
                    "lastTransitionTime": "2025-01-02T03:04:05Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Error",
                    "status": "False",
                    "reason": "ImageSuccess",
                    "message": "",
                    "lastTransitionTime": "2025-01-02T03:04:05Z",
                    "observedGeneration": 1,
                },
            ],
        },
        "DataImage": {
            "attachedImage": {"url": "http://192.0.2.20/images/example-data.iso"},
            "error": {"count": 0, "message": ""},
            "lastReconciled": "2025-01-02T03:04:05Z",
        },
        "BMCEventSubscription": {"subscriptionID": "3f0c", "error": ""},
    }
    return patches[kind]


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_status_is_a_subresource_and_round_trips(
    kind: str, kube_api_client: ApiClient, kube_namespace: str
) -> None:
    body = {**sample(kind), "status": _status_patch(kind)}
    created = create(kube_api_client, kube_namespace, kind, body)
    assert not created.get("status"), "status is ignored on create with a status subresource"
    status = _status_patch(kind)
    patched = cast(
        dict[str, Any],
        objects(kube_api_client).patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            kube_namespace,
            CRDS[kind][1],
            body["metadata"]["name"],
            {"status": status},
        ),
    )
    assert patched["status"] == status
    cls = TYPES[kind]
    assert cls.from_dict(patched).to_dict()["status"] == {
        k: v for k, v in status.items() if v != ""
    }


def _bad(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    base = sample(kind)
    return {**base, "spec": spec}


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        pytest.param("DataImage", _bad("DataImage", {}), id="dataimage-url-required"),
        pytest.param("DataImage", _bad("DataImage", {"url": 7}), id="dataimage-url-type"),
        pytest.param(
            "PreprovisioningImage",
            _bad("PreprovisioningImage", {"acceptFormats": ["qcow2"]}),
            id="ppimg-format-enum",
        ),
        pytest.param(
            "PreprovisioningImage",
            _bad("PreprovisioningImage", {"acceptFormats": "iso"}),
            id="ppimg-formats-list",
        ),
        pytest.param(
            "BMCEventSubscription",
            _bad("BMCEventSubscription", {"hostName": "h", "httpHeadersRef": "headers"}),
            id="bes-headers-ref-object",
        ),
        pytest.param(
            "BMCEventSubscription",
            _bad("BMCEventSubscription", {"hostName": ["h"]}),
            id="bes-host-name-type",
        ),
    ],
)
def test_invalid_objects_are_rejected(
    kind: str, body: dict[str, Any], kube_api_client: ApiClient, kube_namespace: str
) -> None:
    with pytest.raises(ApiException) as info:
        create(kube_api_client, kube_namespace, kind, body)
    assert info.value.status == 422


def test_invalid_status_is_rejected(kube_api_client: ApiClient, kube_namespace: str) -> None:
    create(kube_api_client, kube_namespace, "PreprovisioningImage", sample("PreprovisioningImage"))
    with pytest.raises(ApiException) as info:
        objects(kube_api_client).patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            kube_namespace,
            "preprovisioningimages",
            "example-host",
            {"status": {"format": "qcow2"}},
        )
    assert info.value.status == 422


def test_unknown_fields_are_pruned(kube_api_client: ApiClient, kube_namespace: str) -> None:
    body = sample("DataImage")
    body = {**body, "spec": {**body["spec"], "checksum": "abc"}}
    created = create(kube_api_client, kube_namespace, "DataImage", body)
    assert created["spec"] == {"url": sample("DataImage")["spec"]["url"]}


# --- kubectl: short names and columns -----------------------------------------------------


def test_kubectl_short_names_and_columns(
    kube_api_client: ApiClient, kube_namespace: str, kubectl: Any
) -> None:
    for kind in SAMPLES:
        kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(sample(kind)))
    objects(kube_api_client).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        kube_namespace,
        "preprovisioningimages",
        "example-host",
        {"status": _status_patch("PreprovisioningImage")},
    )
    ppimg = kubectl("get", "ppimg", "-n", kube_namespace).stdout.splitlines()
    assert ppimg[0].split() == ["NAME", "READY", "REASON"]
    assert ppimg[1].split()[0] == "example-host"
    # The emulator's Table output does not evaluate JSONPath filters; kubectl does, so check
    # the columns' expressions against the stored status client-side.
    _, _, _, columns = CRDS["PreprovisioningImage"]
    values = [
        kubectl(
            "get", "ppimg", "example-host", "-n", kube_namespace, "-o", f"jsonpath={{{path}}}"
        ).stdout
        for _, _, path in columns
    ]
    assert values == ["True", "ImageSuccess"]
    for short in ("bes", "bmcevent"):
        rows = kubectl("get", short, "-n", kube_namespace).stdout.splitlines()
        assert rows[0].split() == ["NAME", "ERROR", "AGE"]
        assert rows[1].split()[0] == "example-host-events"
    rows = kubectl("get", "dataimages", "-n", kube_namespace).stdout.splitlines()
    assert rows[0].split() == ["NAME", "AGE"]
    assert rows[1].split()[0] == "example-host"


def test_object_meta_survives_the_api(kube_api_client: ApiClient, kube_namespace: str) -> None:
    created = create(kube_api_client, kube_namespace, "DataImage", sample("DataImage"))
    image = DataImage.from_dict(created)
    assert isinstance(image.metadata, ObjectMeta)
    assert image.metadata.namespace == kube_namespace and image.metadata.uid
    assert image.to_dict()["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
