"""Why is this BareMetalHost where it is? The pure core of ``bmo explain``.

"Why is my host stuck inspecting / deleting / registering?" is the question users ask most.
The answer is spread over the host's status, its annotations and finalizers, the Ironic
node's own state and ``last_error``, the host's Events and the operator's requeue rules.

* :mod:`~bmo.explain.model`: the facts gathered and the :class:`Explanation`, as data;
* :mod:`~bmo.explain.diagnosis`: :func:`explain`, the reasoning from facts to a diagnosis and
  the next retry;
* :mod:`~bmo.explain.rendering`: :func:`render_text` and :func:`to_json`.

Nothing here does I/O, so every situation is a table row in the tests; the command module
(:mod:`bmo.commands.explain`) does the reading. Never shown: Secret contents, BMC passwords,
Ironic ``driver_info``; free text from elsewhere has URL user-info masked before it is stored.
"""

from __future__ import annotations

from bmo.explain.diagnosis import explain
from bmo.explain.model import (
    MAX_EVENTS,
    AnnotationNote,
    ConditionNote,
    EventSummary,
    ExplainError,
    Explanation,
    FinalizerNote,
    HostDecodeError,
    IronicLookup,
    LookupStatus,
    NextRetry,
    NodeFacts,
    RetryKind,
    SecretPresence,
    node_lookup_keys,
    scrub,
    summarize_event,
)
from bmo.explain.rendering import render_text, to_json
from bmo.explain.retry import backoff_window

__all__ = [
    "MAX_EVENTS",
    "AnnotationNote",
    "ConditionNote",
    "EventSummary",
    "ExplainError",
    "Explanation",
    "FinalizerNote",
    "HostDecodeError",
    "IronicLookup",
    "LookupStatus",
    "NextRetry",
    "NodeFacts",
    "RetryKind",
    "SecretPresence",
    "backoff_window",
    "explain",
    "node_lookup_keys",
    "render_text",
    "scrub",
    "summarize_event",
    "to_json",
]
