"""Go's ``strconv.Quote`` (``strconv/quote.go Quote``), so quoted values in messages match Go's."""

from __future__ import annotations

__all__ = ["go_quote"]

_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """``strconv.Quote`` (the ``%q`` verb): double-quoted, Go escapes for non-printables.

    Lone surrogates stand for bytes that were not valid UTF-8 (``surrogateescape``) and are
    written as ``\\xNN`` like Go writes invalid bytes.
    """
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0xD800 <= code <= 0xDFFF:
            raw = (
                bytes([code - 0xDC00])
                if 0xDC80 <= code <= 0xDCFF
                else ch.encode("utf-8", "surrogatepass")
            )
            out.extend(f"\\x{b:02x}" for b in raw)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
