"""Logging: JSON lines, stdlib routed through structlog, reconcile context, redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bmo.redaction import REDACTED
from bmo.runtime.logconfig import configure_logging


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(dev=False, level="debug", stream=stream)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_structlog_and_stdlib_share_json_format_and_context(log_stream: io.StringIO) -> None:
    with structlog.contextvars.bound_contextvars(host="ns/h1", reconcile_id="r-1"):
        structlog.get_logger("bmo.test").info("reconciling", state="available")
        logging.getLogger("kubernetes.client.rest").warning("retrying %s", "GET /api")
    first, second = lines(log_stream)
    assert first["event"] == "reconciling"
    assert first["state"] == "available"
    assert first["host"] == "ns/h1" and first["reconcile_id"] == "r-1"
    assert first["level"] == "info" and "timestamp" in first
    assert second["event"] == "retrying GET /api"
    assert second["logger"] == "kubernetes.client.rest"
    assert second["host"] == "ns/h1"


def test_sensitive_keys_are_redacted(log_stream: io.StringIO) -> None:
    structlog.get_logger("bmo.test").info(
        "creds",
        password="hunter2",
        bmc_password="s3cret-bmc",
        token="tok-abc",
        headers={"Authorization": "Bearer eyJhbGciOi", "Accept": "application/json"},
        username="admin",
    )
    (line,) = lines(log_stream)
    raw = log_stream.getvalue()
    for secret in ("hunter2", "s3cret-bmc", "tok-abc", "eyJhbGciOi"):
        assert secret not in raw
    assert line["password"] == REDACTED
    assert line["bmc_password"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
    assert line["username"] == "admin"


def test_secret_payloads_are_redacted_but_other_data_is_not(log_stream: io.StringIO) -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "bmc-creds", "namespace": "metal"},
        "data": {"username": "YWRtaW4=", "password": "aHVudGVyMg=="},
    }
    structlog.get_logger("bmo.test").info(
        "got", secret=secret, patch={"stringData": {"password": "plain"}}, cm={"data": {"a": 1}}
    )
    (line,) = lines(log_stream)
    assert "aHVudGVyMg==" not in log_stream.getvalue()
    assert "plain" not in log_stream.getvalue()
    assert line["secret"]["data"] == REDACTED  # type: ignore[index]
    assert line["secret"]["metadata"]["name"] == "bmc-creds"  # type: ignore[index]
    assert line["patch"] == {"stringData": REDACTED}
    assert line["cm"] == {"data": {"a": 1}}


def test_free_text_and_exceptions_are_scrubbed(log_stream: io.StringIO) -> None:
    logging.getLogger("urllib3.connectionpool").debug(
        "send: headers={'Authorization': 'Bearer abc.def.ghi'} body password=hunter2"
    )
    try:
        raise RuntimeError("login failed for admin with password=hunter3")
    except RuntimeError:
        structlog.get_logger("bmo.test").exception("boom")
    raw = log_stream.getvalue()
    assert "abc.def.ghi" not in raw
    assert "hunter2" not in raw and "hunter3" not in raw
    assert raw.count(REDACTED) >= 3
    assert "login failed for admin" in raw


def test_dev_mode_renders_console_lines() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        configure_logging(dev=True, level="info", stream=stream)
        structlog.get_logger("bmo.test").info("hello", password="pw123")
        logging.getLogger("bmo.test").debug("not shown at info")
        bmc_password = "local-secret-value"  # a local a pretty traceback would print
        try:
            raise RuntimeError(f"cannot log in with password={bmc_password}")
        except RuntimeError:
            structlog.get_logger("bmo.test").exception("login failed")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    out = stream.getvalue()
    assert "hello" in out and not out.lstrip().startswith("{")
    assert "pw123" not in out
    assert "not shown" not in out
    assert "RuntimeError" in out and "local-secret-value" not in out
