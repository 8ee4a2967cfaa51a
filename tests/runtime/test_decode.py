"""The informer's decoding: watch streams split into events whatever the chunking, and a
freshly decoded object frozen in place equals (and is as read-only as) a frozen copy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest

from bmo.runtime.cache import freeze, freeze_decoded, thaw
from bmo.runtime.informer import _iter_events

HOST: dict[str, Any] = {
    "apiVersion": "metal3.io/v1alpha1",
    "kind": "BareMetalHost",
    "metadata": {
        "name": "h",
        "namespace": "ns",
        "resourceVersion": "7",
        "finalizers": ["baremetalhost.metal3.io"],
        "annotations": {"a": "b"},
    },
    "spec": {"online": True, "bmc": {"address": "fake://x", "credentialsName": "s"}},
    "status": {
        "hardware": {"nics": [{"name": "eth0", "vlans": []}], "storage": []},
        "matrix": [[1, 2], [{"k": [3]}]],
        "errorCount": 0,
        "poweredOn": None,
        "ratio": 0.5,
    },
}


def test_freeze_decoded_equals_a_frozen_copy_and_is_read_only() -> None:
    decoded = json.loads(json.dumps(HOST))
    frozen = freeze_decoded(decoded)
    assert frozen == freeze(HOST)
    assert thaw(frozen) == HOST
    assert isinstance(frozen, MappingProxyType)
    nics = frozen["status"]["hardware"]["nics"]
    assert isinstance(nics, tuple) and isinstance(nics[0], MappingProxyType)
    matrix = frozen["status"]["matrix"]
    assert isinstance(matrix[0], tuple) and isinstance(matrix[1][0]["k"], tuple)
    with pytest.raises(TypeError):
        frozen["metadata"]["name"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        frozen["status"]["matrix"][1][0]["k"] = ()  # type: ignore[index]
    with pytest.raises(AttributeError):
        frozen["metadata"]["finalizers"].append("x")


class Stream:
    """A urllib3 response stand-in that yields the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def stream(self, amt: int | None = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self.chunks


def _lines() -> bytes:
    events = [
        {"type": "ADDED", "object": HOST},
        {"type": "MODIFIED", "object": {**HOST, "spec": {"online": False, "big": "x" * 5000}}},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
    ]
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


@pytest.mark.parametrize("size", [1, 7, 100, 4096, 1 << 20])
def test_watch_events_decode_the_same_whatever_the_chunking(size: int) -> None:
    data = _lines()
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    expected = [json.loads(line) for line in data.splitlines()]
    assert list(_iter_events(Stream(chunks))) == expected


def test_watch_events_tolerate_blank_lines_empty_chunks_and_a_missing_last_newline() -> None:
    first, second, third = _lines().splitlines()
    chunks = [b"", first[:30], first[30:] + b"\n\n", b"", second + b"\n  \n" + third]
    expected = [json.loads(line) for line in (first, second, third)]
    assert list(_iter_events(Stream(chunks))) == expected
