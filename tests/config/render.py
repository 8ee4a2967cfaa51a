"""Render the kustomizations under config/ with the real ``kubectl kustomize``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"

KUSTOMIZATIONS = (
    "crd",
    "rbac",
    "manager",
    "webhook",
    "certmanager",
    "samples",
    "default",
    "ironic",
    "network-policy",
    "namespaced",
)
"""Every directory a user may render on its own (``certmanager/ca-injection`` is a
Component: it renders only inside an overlay, which ``default`` is)."""

CERT_MANAGER_GROUP = "cert-manager.io"


def kubectl() -> str:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip(
            "no kubectl on PATH: cannot render kustomizations (hack/lib/setup.sh installs one)"
        )
    return binary


def render(target: Path | str) -> list[dict[str, Any]]:
    """``kubectl kustomize TARGET`` as a list of objects; fails the test with kubectl's
    message when it does not render."""
    path = Path(target) if Path(target).is_absolute() else CONFIG / target
    proc = subprocess.run(
        [kubectl(), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{proc.stderr}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc is not None]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]
