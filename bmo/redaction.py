"""Secret scrubbing: the one place that knows how a secret can leak into text, and hides it.

Logs, events, status messages and ``bmo explain`` all show text that may have passed near a
credential, so every layer needs this; it therefore imports nothing from bmo. A secret
reaches text in one of three ways, and there is one tool for each:

* **under a known key** - ``password``, ``bmc_password``, ``token``, ``Authorization``, a
  Kubernetes Secret's ``data``/``stringData``: :func:`is_secret_key` and :func:`redact`
  (which walks mappings and sequences and also applies :func:`redact_text` to strings);
* **in a recognisable shape** in free text - ``Authorization: Bearer ...``,
  ``password=...`` (:func:`redact_text`) and URL user-info, ``https://user:pass@host``
  (:func:`scrub_userinfo`, the ``https://***@host`` form Events and ``bmo explain`` show);
* **by value** - a caller that holds the secret (the BMC password from the credentials
  Secret) replaces every copy of it, raw, JSON-escaped or URL-encoded, in text a backend
  produced (:class:`SecretScrubber`): a backend's error message may quote what it was sent,
  and those messages reach status and events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "USERINFO_MASK",
    "SecretScrubber",
    "is_secret_key",
    "redact",
    "redact_text",
    "scrub_userinfo",
    "secret_forms",
]

REDACTED: Final = "[REDACTED]"
"""What a redacted value becomes in logs (and, by default, in scrubbed text)."""

USERINFO_MASK: Final = "***"
"""What URL user-info becomes: ``https://***@host`` still says *which* host was meant."""

MIN_SECRET_LENGTH: Final = 3
"""Shorter values are not scrubbed by value: replacing every ``a`` would garble the text and,
by the pattern of replacements, tell the secret anyway."""

_SENSITIVE_KEY: Final = re.compile(
    r"^(?:.*[_-])?(?:password|passwd|token|secret_?key|api_?key|private_?key|authorization|"
    r"cookie|set[_-]cookie|credentials_?data)$",
    re.IGNORECASE,
)
"""Keys whose value is a secret wherever they appear: ``password``, ``bmc_password``,
``token``, ``bearer_token``, ``Authorization``, ..."""

_SECRET_PAYLOAD_KEYS: Final = frozenset({"data", "stringData", "string_data"})
"""The payload of a Kubernetes Secret; redacted when the enclosing mapping is a Secret, and
``stringData`` always (nothing else uses that name)."""

_INLINE_PATTERNS: Final = (
    # "Authorization: Bearer abc", "authorization': 'Basic abc"
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:bearer|basic)?\s*[^\s'\",}]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"),
    # password=..., "password": "..."
    re.compile(r"(?i)([\w-]*(?:password|passwd|token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"),
)
"""Free text (library messages, exception strings) can carry credentials inline."""

_INLINE_HINT: Final = re.compile(r"(?i)authorization|bearer|password|passwd|token")
"""A word every one of :data:`_INLINE_PATTERNS` needs (same flags, so the same case
folding): text without one is returned as it is after one search instead of three
substitutions. Every log line's every string goes through :func:`redact_text`."""

_USERINFO: Final = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@")
"""``scheme://`` followed by user-info up to the ``@`` (no ``/`` or space in between, so an
e-mail address later in the text is not mistaken for it)."""

_USERINFO_SAFE: Final = "$&+,;="
"""Reserved characters Go leaves unescaped in URL user-info (``net/url`` ``shouldEscape`` for
``encodeUserPassword``), so a password in a URL Go or bmo built is spelled this way."""


# --- by key ------------------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    """Whether a value stored under ``key`` is a secret wherever it appears."""
    return bool(_SENSITIVE_KEY.match(key))


def redact(value: Any) -> Any:
    """Redacted copy of ``value``: mappings and sequences walked (secret keys' values and
    Secret payloads replaced by :data:`REDACTED`), strings and exceptions through
    :func:`redact_text`, a Kubernetes client ``V1Secret`` shown without its data."""
    return _redact_value("", value, parent=None)


def _redact_value(key: str, value: Any, parent: Mapping[str, Any] | None) -> Any:
    if key and is_secret_key(key):
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
        # A kubernetes.client V1Secret model (duck-typed: no client import here).
        meta = getattr(value, "metadata", None)
        name = getattr(meta, "name", None)
        namespace = getattr(meta, "namespace", None)
        return f"Secret({namespace}/{name}, data={REDACTED})"
    return value


# --- by shape ----------------------------------------------------------------------------------


def redact_text(text: str) -> str:
    """Scrub ``Authorization`` headers, bearer tokens and ``password=...`` pairs from text."""
    if _INLINE_HINT.search(text) is None:
        return text
    for pattern in _INLINE_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def scrub_userinfo(text: str) -> str:
    """Mask URL user-info: ``https://user:pass@host/x`` becomes ``https://***@host/x``."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{USERINFO_MASK}@", text)


# --- by value ----------------------------------------------------------------------------------


def secret_forms(secret: str) -> frozenset[str]:
    """The spellings ``secret`` takes in text a backend produced: as is, JSON-escaped (ASCII
    and not), percent-encoded as a path segment, a query value or Go URL user-info."""
    return frozenset(
        {
            secret,
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            quote(secret, safe=""),
            quote_plus(secret, safe=""),
            quote(secret, safe=_USERINFO_SAFE),
        }
    )


class SecretScrubber:
    """Replaces known secret values, in every spelling :func:`secret_forms` lists, by
    ``marker``; values shorter than :data:`MIN_SECRET_LENGTH` are left alone.

    Built once per set of secrets (one regular expression, longest spelling first so a
    secret containing another is replaced whole) and then called on each text.
    """

    def __init__(self, secrets: Iterable[str], *, marker: str = REDACTED) -> None:
        self._marker = marker
        forms = {
            form
            for secret in secrets
            if len(secret) >= MIN_SECRET_LENGTH
            for form in secret_forms(secret)
        }
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        """Whether there is anything to scrub."""
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda _: self._marker, text)
