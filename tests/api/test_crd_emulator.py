"""The CRDs as a Kubernetes API server sees them, via the emulator and the real client.

Needs the ``kube_server`` / ``kube_api_client`` / ``kube_namespace`` fixtures of
``tests/fixtures/kube.py``; skips cleanly while those are not available.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bmo.api.manifests import load_documents

kubernetes = pytest.importorskip("kubernetes")
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"
GROUP, VERSION, PLURAL = "metal3.io", "v1alpha1", "baremetalhosts"


def _fixture(request: pytest.FixtureRequest, name: str) -> Any:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.skip(f"fixture {name} (tests/fixtures/kube.py, the API emulator) is not available")


@pytest.fixture
def api(request: pytest.FixtureRequest) -> ApiClient:
    client: ApiClient = _fixture(request, "kube_api_client")
    return client


@pytest.fixture
def namespace(request: pytest.FixtureRequest, api: ApiClient) -> str:
    name: str = _fixture(request, "kube_namespace")
    return name


def host(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BareMetalHost",
        "metadata": {"name": "h"},
        "spec": {"online": True, **spec},
    }


def create(api: ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )
    return result


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml")) if EXAMPLES.is_dir() else []


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"reference examples not found at {EXAMPLES}")
@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_is_accepted(path: Path, api: ApiClient, namespace: str) -> None:
    for document in load_documents(path.read_text()):
        if document["kind"] == "Secret":
            CoreV1Api(api).create_namespaced_secret(namespace, document)
            continue
        created = create(api, namespace, document)
        assert created["spec"]["online"] == document["spec"]["online"]
        assert created["spec"].get("bootMACAddress") == document["spec"].get("bootMACAddress")


def test_defaults_are_applied(api: ApiClient, namespace: str) -> None:
    created = create(api, namespace, host())
    assert created["spec"]["automatedCleaningMode"] == "metadata"


def _bad(mutate: Any) -> dict[str, Any]:
    body = copy.deepcopy(host())
    mutate(body)
    return body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_bad(lambda b: b["spec"].pop("online")), id="missing-online"),
        pytest.param(_bad(lambda b: b["spec"].update(online="yes")), id="online-string"),
        pytest.param(_bad(lambda b: b["spec"].update(bootMode="BIOS")), id="boot-mode-enum"),
        pytest.param(
            _bad(lambda b: b["spec"].update(bootMACAddress="not-a-mac")), id="mac-pattern"
        ),
        pytest.param(
            _bad(lambda b: b["spec"].update(automatedCleaningMode="sometimes")),
            id="cleaning-enum",
        ),
        pytest.param(
            _bad(lambda b: b["spec"].update(rootDeviceHints={"minSizeGigabytes": -5})),
            id="minimum",
        ),
        pytest.param(
            _bad(lambda b: b["spec"].update(image={"checksum": "abc"})), id="image-url-required"
        ),
    ],
)
def test_invalid_is_rejected(body: dict[str, Any], api: ApiClient, namespace: str) -> None:
    with pytest.raises(ApiException) as info:
        create(api, namespace, body)
    assert info.value.status == 422
