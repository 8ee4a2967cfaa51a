"""The one JSON decoder for text a user controls: annotations, manifests, admission bodies.

Python's ``json`` recurses once per nesting level (a few thousand ``[`` raise
``RecursionError``, which no ``except ValueError`` catches) and refuses integers of more than
``sys.get_int_max_str_digits()`` digits with a bare ``ValueError``; either, in an annotation
read on every reconcile, broke every pass of that host for good. Go's ``encoding/json``
stops at 10000 levels (``scanner.go maxNestingDepth``) and the API server turns numbers into
``int64``/``float64``, so no value bmo must accept comes near these limits:

* :data:`MAX_DEPTH` levels of nesting - a BareMetalHost document is about ten deep;
* :data:`MAX_ANNOTATION_BYTES` for an annotation - the API server's limit on all of an
  object's annotations together (``apimachinery`` ``TotalAnnotationSizeLimitB``);
* :data:`MAX_INTEGER_DIGITS` digits in an integer - ``float64`` tops out at 309.

Every failure is a :class:`JSONLimitError` (a :class:`~bmo.api.errors.DecodeError`, so a
``ValueError``) naming *what* was being decoded, never quoting the value.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from bmo.api.errors import DecodeError

__all__ = [
    "MAX_ANNOTATION_BYTES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_INTEGER_DIGITS",
    "JSONLimitError",
    "check_limits",
    "loads",
]

MAX_DEPTH: Final = 100
MAX_ANNOTATION_BYTES: Final = 256 * 1024
MAX_DOCUMENT_BYTES: Final = 8 * 1024 * 1024
"""Above the API server's 3 MiB request limit with room for an AdmissionReview's two copies."""
MAX_INTEGER_DIGITS: Final = 400

_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET: Final = re.compile(r"[\[\]{}]")
_LONG_INTEGER: Final = re.compile(rf"\d{{{MAX_INTEGER_DIGITS + 1},}}")


class JSONLimitError(DecodeError):
    """JSON that is not decoded because it is too big, too deep or not text.

    ``path`` is what was being decoded (an annotation's name, ``request body``, a file).
    """


def check_limits(
    text: str,
    *,
    what: str,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    max_depth: int = MAX_DEPTH,
) -> None:
    """Raise :class:`JSONLimitError` when ``text`` is too long, nests too deep or holds an
    integer with too many digits; costs one regular-expression pass, never recursion."""
    if len(text) > max_bytes:
        raise JSONLimitError(
            what,
            f"{len(text)} characters of JSON exceed the limit of {max_bytes}; shorten the value",
        )
    outside_strings = _STRING.sub('""', text)
    depth = 0
    for bracket in _BRACKET.findall(outside_strings):
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise JSONLimitError(
                    what,
                    f"JSON nested deeper than {max_depth} levels; flatten the value",
                )
        else:
            depth -= 1
    if _LONG_INTEGER.search(outside_strings):
        raise JSONLimitError(
            what,
            f"JSON number with more than {MAX_INTEGER_DIGITS} digits; "
            "no field accepts such a number",
        )


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"invalid literal {name}", name, 0)


def loads(
    text: str | bytes,
    *,
    what: str,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """``json.loads`` within the limits above, ``NaN``/``Infinity`` refused (not JSON).

    Raises :class:`JSONLimitError` for a limit or bytes that are not UTF-8, and
    ``json.JSONDecodeError`` (with its position) for a syntax error; both are
    ``ValueError``.
    """
    if isinstance(text, bytes | bytearray):
        if len(text) > max_bytes:
            raise JSONLimitError(what, f"{len(text)} bytes of JSON exceed the limit of {max_bytes}")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONLimitError(
                what, f"not UTF-8 text (invalid byte at offset {exc.start})"
            ) from None
    check_limits(text, what=what, max_bytes=max_bytes, max_depth=max_depth)
    return json.loads(text, parse_constant=_reject_constant)
