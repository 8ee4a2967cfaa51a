"""Server-side Table output (what kubectl get prints) from additionalPrinterColumns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from testenv.kubeapi import KubeAPIServer
from testenv.kubeapi.tables import human_duration, json_path

from .helpers import GROUP, PLURAL, VERSION, read_watch, widget, widget_crd

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
BASE = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"


@pytest.fixture(scope="module")
def server() -> Iterator[KubeAPIServer]:
    with KubeAPIServer() as srv:
        srv.install_crd(widget_crd())
        srv.store.create(srv.store.types[(GROUP, PLURAL)], VERSION, "default", widget("t1", size=4))
        obj = srv.store.get(srv.store.types[(GROUP, PLURAL)], "default", "t1")
        srv.store.patch(
            srv.store.types[(GROUP, PLURAL)], VERSION, "default", "t1",
            lambda cur: {**cur, "status": {"state": "ready"}}, subresource="status",
        )  # fmt: skip
        assert obj
        yield srv


def test_list_table_has_printer_columns_in_order(server: KubeAPIServer) -> None:
    table = requests.get(server.url + BASE, headers={"Accept": TABLE}, timeout=5).json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    cols = [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]]
    assert cols == [
        ("Name", "string", 0), ("State", "string", 0), ("Online", "boolean", 0),
        ("Size", "integer", 1), ("Age", "date", 0),
    ]  # fmt: skip
    (row,) = table["rows"]
    assert row["cells"][:4] == ["t1", "ready", True, 4]
    assert row["cells"][4].endswith("s")
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "t1"


def test_get_table_and_include_object(server: KubeAPIServer) -> None:
    table = requests.get(
        f"{server.url}{BASE}/t1?includeObject=Object", headers={"Accept": TABLE}, timeout=5
    ).json()
    assert table["rows"][0]["object"]["spec"]["size"] == 4


def test_watch_table_events_carry_columns_once(server: KubeAPIServer) -> None:
    events = read_watch(f"{server.url}{BASE}?watch=1&timeoutSeconds=1", headers={"Accept": TABLE})
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["kind"] == "Table"
    assert events[0]["object"]["columnDefinitions"]
    assert events[0]["object"]["rows"][0]["cells"][0] == "t1"


def test_builtin_tables() -> None:
    with KubeAPIServer() as srv:
        table = requests.get(
            f"{srv.url}/api/v1/namespaces", headers={"Accept": TABLE}, timeout=5
        ).json()
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
        assert ["default", "Active"] in [r["cells"][:2] for r in table["rows"]]


def test_crd_without_columns_gets_age() -> None:
    crd = widget_crd()
    del crd["spec"]["versions"][0]["additionalPrinterColumns"]
    with KubeAPIServer() as srv:
        srv.install_crd(crd)
        table = requests.get(srv.url + BASE, headers={"Accept": TABLE}, timeout=5).json()
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"),
     (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"),
     (400 * 86400, "400d"), (3 * 365 * 86400, "3y")],
)  # fmt: skip
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_json_path() -> None:
    obj = {"a": {"b": [{"c": 1}], "d/e": "x"}}
    assert json_path(obj, ".a.b[0].c") == 1
    assert json_path(obj, ".a['d/e']") == "x"
    assert json_path(obj, "{.a.b[3].c}") is None
