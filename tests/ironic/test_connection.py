"""build_connection: SDK settings derived from IronicConfig only (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from keystoneauth1.http_basic import HTTPBasicAuth
from keystoneauth1.noauth import NoAuth

from bmo.ironic.config import BasicAuth, IronicConfig, TLSConfig
from bmo.ironic.connection import build_connection


def touch(path: Path) -> str:
    path.write_text("x")
    return str(path)


def test_basic_auth_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # OS_* variables and clouds.yaml must not leak into bmo's connection.
    monkeypatch.setenv("OS_AUTH_URL", "http://127.0.0.1:5000/v3")
    monkeypatch.setenv("OS_CLOUD", "elsewhere")
    conn = build_connection(
        IronicConfig(endpoint="http://127.0.0.1:6385", auth=BasicAuth("u", "p"), timeout=12.5)
    )
    assert isinstance(conn.session.auth, HTTPBasicAuth)
    assert conn.session.timeout == 12.5
    assert conn.session.verify is True
    assert conn.session.cert is None


def test_no_auth() -> None:
    conn = build_connection(IronicConfig(endpoint="http://127.0.0.1:6385"))
    assert isinstance(conn.session.auth, NoAuth)


def test_tls_files(tmp_path: Path) -> None:
    tls = TLSConfig(
        ca_file=touch(tmp_path / "ca"),
        client_cert_file=touch(tmp_path / "crt"),
        client_key_file=touch(tmp_path / "key"),
    )
    conn = build_connection(IronicConfig(endpoint="https://127.0.0.1:6385", tls=tls))
    assert conn.session.verify == str(tmp_path / "ca")
    assert conn.session.cert == (str(tmp_path / "crt"), str(tmp_path / "key"))


def test_insecure_wins_over_ca(tmp_path: Path) -> None:
    tls = TLSConfig(ca_file=touch(tmp_path / "ca"), insecure=True)
    conn = build_connection(IronicConfig(endpoint="https://127.0.0.1:6385", tls=tls))
    assert conn.session.verify is False


def test_skip_san_verify_mounts_hostname_tolerant_adapter(tmp_path: Path) -> None:
    tls = TLSConfig(ca_file=touch(tmp_path / "ca"), skip_client_san_verify=True)
    conn = build_connection(IronicConfig(endpoint="https://127.0.0.1:6385", tls=tls))
    adapter = conn.session.session.get_adapter("https://127.0.0.1:6385/v1/")
    assert type(adapter).__name__ == "_NoHostnameCheckAdapter"
    assert adapter.poolmanager.connection_pool_kw["assert_hostname"] is False
    assert conn.session.verify == str(tmp_path / "ca")
    plain = build_connection(IronicConfig(endpoint="https://127.0.0.1:6385"))
    adapter = plain.session.session.get_adapter("https://127.0.0.1:6385/v1/")
    assert type(adapter).__name__ != "_NoHostnameCheckAdapter"
