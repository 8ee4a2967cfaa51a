"""Shared bits of the emulator's own tests."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

CRD_DIR = Path(__file__).resolve().parent / "crds"
WIDGET_CRD: dict[str, Any] = yaml.safe_load((CRD_DIR / "widgets.example.com.yaml").read_text())
GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"


def widget_crd() -> dict[str, Any]:
    return copy.deepcopy(WIDGET_CRD)


def widget(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": meta,
        "spec": {"online": True, **spec},
    }


def wait_for(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``cond`` until truthy (returning its value) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def read_watch(
    url: str, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """GET a watch URL and return every event until the server ends the stream."""
    import json

    import requests

    events = []
    with requests.get(url, stream=True, timeout=timeout, headers=headers or {}) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if line:
                events.append(json.loads(line))
    return events
