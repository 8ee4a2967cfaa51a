"""Logging, configured once at start: structlog for bmo, with the standard library routed
through the same processors so kubernetes, urllib3 and openstacksdk lines share one format.

JSON lines in a cluster (one object per line, machine-parsable); a console renderer with
``--dev``. Reconcile workers bind ``host`` and ``reconcile_id`` through contextvars, so every
line a reconcile emits, including from libraries, can be traced back to it.

Secrets must never reach a log line, so a redaction processor (:mod:`bmo.redaction`) runs
last before rendering, on bmo's and the libraries' lines alike.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from bmo.redaction import redact

__all__ = ["configure_logging", "redact_processor"]


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
    """structlog processor: :func:`bmo.redaction.redact` over the whole event, so secret keys,
    Secret payloads and credentials inline in messages and tracebacks never get rendered."""
    redacted: EventDict = redact(event_dict)
    return redacted
