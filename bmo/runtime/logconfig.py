"""Logging, configured once at start: structlog for bmo, with the standard library routed
through the same processors so kubernetes, urllib3 and openstacksdk lines share one format.

JSON lines in a cluster (one object per line, machine-parsable); a console renderer with
``--dev``. Reconcile workers bind ``host`` and ``reconcile_id`` through contextvars, so every
line a reconcile emits, including from libraries, can be traced back to it.

Secrets must never reach a log line, so a redaction processor runs last before rendering,
on bmo's and the libraries' lines alike.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"

_SENSITIVE_KEY = re.compile(
    r"^(?:.*[_-])?(?:password|passwd|token|secret_?key|api_?key|private_?key|authorization|"
    r"cookie|set[_-]cookie|credentials_?data)$",
    re.IGNORECASE,
)
"""Keys whose value is a secret wherever they appear: ``password``, ``bmc_password``,
``token``, ``bearer_token``, ``Authorization``, ..."""

_SECRET_PAYLOAD_KEYS = frozenset({"data", "stringData", "string_data"})
"""The payload of a Kubernetes Secret; redacted when the enclosing mapping is a Secret, and
``stringData`` always (nothing else uses that name)."""

_INLINE_PATTERNS = (
    # "Authorization: Bearer abc", "authorization': 'Basic abc"
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:bearer|basic)?\s*[^\s'\",}]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"),
    # password=..., "password": "..."
    re.compile(r"(?i)([\w-]*(?:password|passwd|token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"),
)
"""Free text (library messages, exception strings) can carry credentials inline."""


def configure_logging(
    *, dev: bool = False, level: str = "info", stream: IO[str] | None = None
) -> None:
    """Set up structlog and the standard library root logger. Idempotent: later calls
    replace the handler, so tests can reconfigure."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if dev:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    else:
        renderer = structlog.processors.JSONRenderer(default=str)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become plain text *before* redaction, in dev mode too: a pretty
            # traceback with local variables would print credentials verbatim.
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bmo_handler", False):
            root.removeHandler(old)
    handler._bmo_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # urllib3 logs request lines (with URLs) at DEBUG; keep it quieter unless asked.
    if level.lower() != "debug":
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        logging.getLogger("kubernetes").setLevel(logging.INFO)


def redact_processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace secret values in keys, nested mappings and free text."""
    out: EventDict = {}
    for key, value in event_dict.items():
        out[key] = _redact_value(key, value, parent=event_dict)
    return out


def redact(value: Any) -> Any:
    """Redacted copy of ``value`` (mappings, sequences and strings), for tests and for code
    that must render a payload somewhere other than a log."""
    return _redact_value("", value, parent=None)


def _redact_value(key: str, value: Any, parent: Mapping[str, Any] | None) -> Any:
    if key and _SENSITIVE_KEY.match(key):
        return REDACTED
    if key in _SECRET_PAYLOAD_KEYS and (
        key != "data" or (parent is not None and parent.get("kind") == "Secret")
    ):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v, parent=value) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value("", v, parent=None) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, BaseException):
        return redact_text(str(value))
    kind = getattr(value, "kind", None)
    if kind == "Secret" and hasattr(value, "data"):
        # A kubernetes.client V1Secret model: never render its payload.
        meta = getattr(value, "metadata", None)
        name = getattr(meta, "name", None)
        namespace = getattr(meta, "namespace", None)
        return f"Secret({namespace}/{name}, data={REDACTED})"
    return value


def redact_text(text: str) -> str:
    """Scrub ``Authorization`` headers, bearer tokens and ``password=...`` pairs from text."""
    for pattern in _INLINE_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text
