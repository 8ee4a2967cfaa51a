"""``uuid.Parse`` from ``github.com/google/uuid`` (``uuid.go Parse``), as a yes/no check.

The Go operator's webhook refuses host names that parse as a UUID
(``internal/webhooks/metal3.io/v1alpha1/baremetalhost_validation.go validateBMHName``), so
bmo must recognise exactly the spellings ``uuid.Parse`` accepts.
"""

from __future__ import annotations

__all__ = ["is_uuid"]

_HEX = frozenset("0123456789abcdefABCDEF")
_DASHES = (8, 13, 18, 23)


def is_uuid(text: str) -> bool:
    """Whether ``uuid.Parse`` accepts ``text`` (all four of its accepted spellings)."""
    if len(text) == 36 + 9:
        if text[:9].lower() != "urn:uuid:":
            return False
        text = text[9:]
    elif len(text) == 36 + 2:
        if text[0] != "{" or text[-1] != "}":
            return False
        text = text[1:-1]
    elif len(text) == 32:
        return all(c in _HEX for c in text)
    if len(text) != 36:
        return False
    if any(text[i] != "-" for i in _DASHES):
        return False
    return all(c in _HEX for i, c in enumerate(text) if i not in _DASHES)
