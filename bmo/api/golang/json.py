"""Go's ``encoding/json`` decoding, failing where and as Go's decoder fails.

The webhook decodes the status and hardware-details annotations with
``json.NewDecoder(...).Decode`` and ``DisallowUnknownFields``, and the reboot annotation with
``json.Unmarshal`` (``internal/webhooks/metal3.io/v1alpha1/baremetalhost_validation.go
validateStatusAnnotation``, ``validateHwdDetailsAnnotation``, ``validateRebootAnnotation``),
and the controller decodes HardwareData the same way; users see the decoder's error text.
The scanner messages are ``encoding/json/scanner.go``'s, the type-mismatch and unknown-field
messages ``encoding/json/decode.go``'s (``UnmarshalTypeError.Error``, ``decodeState.object``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bmo.api.codec import Kind, fields_of
from bmo.api.golang.strconv import go_quote
from bmo.api.safejson import JSONLimitError, check_limits

__all__ = ["GoJSONError", "go_json_decode", "go_type_name"]

_HEX = frozenset("0123456789abcdefABCDEF")


class GoJSONError(ValueError):
    """A decode failure whose ``str()`` is ``encoding/json``'s message."""


def _quote_char(c: str) -> str:
    """``encoding/json/scanner.go quoteChar``: how syntax errors show the offending byte."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + go_quote(c)[1:-1] + "'"


class _Syntax(Exception):
    pass


class _EOF(Exception):
    pass


class _Scanner:
    """Validates one JSON value with Go's scanner messages."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self) -> str:
        if self.i >= len(self.s):
            raise _EOF
        return self.s[self.i]

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def err(self, what: str) -> _Syntax:
        return _Syntax(f"invalid character {_quote_char(self.s[self.i])} {what}")

    def value(self) -> None:
        self.ws()
        c = self.peek()
        if c == "{":
            self.i += 1
            self.ws()
            if self.peek() == "}":
                self.i += 1
                return
            while True:
                self.ws()
                if self.peek() != '"':
                    raise self.err("looking for beginning of object key string")
                self.string()
                self.ws()
                if self.peek() != ":":
                    raise self.err("after object key")
                self.i += 1
                self.value()
                self.ws()
                c = self.peek()
                if c == ",":
                    self.i += 1
                    continue
                if c == "}":
                    self.i += 1
                    return
                raise self.err("after object key:value pair")
        if c == "[":
            self.i += 1
            self.ws()
            if self.peek() == "]":
                self.i += 1
                return
            while True:
                self.value()
                self.ws()
                c = self.peek()
                if c == ",":
                    self.i += 1
                    continue
                if c == "]":
                    self.i += 1
                    return
                raise self.err("after array element")
        if c == '"':
            self.string()
            return
        if c == "-" or _digit(c):
            self.number()
            return
        for word in ("true", "false", "null"):
            if c == word[0]:
                for expected in word[1:]:
                    self.i += 1
                    if self.peek() != expected:
                        raise self.err(f"in literal {word} (expecting {_quote_char(expected)})")
                self.i += 1
                return
        raise self.err("looking for beginning of value")

    def string(self) -> None:
        self.i += 1
        while True:
            c = self.peek()
            if c == '"':
                self.i += 1
                return
            if c == "\\":
                self.i += 1
                e = self.peek()
                if e == "u":
                    for _ in range(4):
                        self.i += 1
                        if self.peek() not in _HEX:
                            raise self.err("in \\u hexadecimal character escape")
                elif e not in '"\\/bfnrt':
                    raise self.err("in string escape code")
            elif ord(c) < 0x20:
                raise self.err("in string literal")
            self.i += 1

    def number(self) -> None:
        if self.peek() == "-":
            self.i += 1
            if not _digit(self.peek()):
                raise self.err("in numeric literal")
        if self.peek() == "0":
            self.i += 1
        else:
            while self.i < len(self.s) and _digit(self.s[self.i]):
                self.i += 1
        if self.i < len(self.s) and self.s[self.i] == ".":
            self.i += 1
            if not _digit(self.peek()):
                raise self.err("after decimal point in numeric literal")
            while self.i < len(self.s) and _digit(self.s[self.i]):
                self.i += 1
        if self.i < len(self.s) and self.s[self.i] in "eE":
            self.i += 1
            if self.peek() in "+-":
                self.i += 1
            if not _digit(self.peek()):
                raise self.err("in exponent of numeric literal")
            while self.i < len(self.s) and _digit(self.s[self.i]):
                self.i += 1


def _digit(c: str) -> bool:
    """An ASCII digit, as Go's scanner reads them (``encoding/json/scanner.go``): ``str.isdigit``
    also accepts other scripts' digits and superscripts ("¹"), which Python's decoder then
    refuses with an error the callers do not expect."""
    return "0" <= c <= "9" and len(c) == 1


def _check_syntax(text: str, *, stream: bool) -> None:
    scanner = _Scanner(text)
    scanner.ws()
    if scanner.i == len(text):
        raise GoJSONError("EOF" if stream else "unexpected end of JSON input")
    try:
        scanner.value()
    except _EOF:
        raise GoJSONError("unexpected EOF" if stream else "unexpected end of JSON input") from None
    except _Syntax as exc:
        raise GoJSONError(str(exc)) from None
    if not stream:
        scanner.ws()
        if scanner.i < len(text):
            raise GoJSONError(str(scanner.err("after top-level value")))


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_META_TYPES = {"SecretReference", "ObjectReference", "Condition", "Taint"}


def go_type_name(kind: Kind) -> str:
    """The Go type an API field has upstream, as ``UnmarshalTypeError`` names it."""
    tag = kind.tag
    if tag == "opt":
        assert kind.inner is not None
        return go_type_name(kind.inner)
    if tag == "seq":
        assert kind.inner is not None
        return "[]" + go_type_name(kind.inner)
    if tag == "map":
        return "map[string]string"
    if tag == "struct":
        assert kind.cls is not None
        name = kind.cls.__name__
        return f"v1.{name}" if name in _META_TYPES else f"v1alpha1.{name}"
    return {
        "str": "string",
        "int": "int",
        "bool": "bool",
        "float": "float64",
        "time": "v1.Time",
        "any": "interface {}",
    }[tag]


class _Decoder:
    def __init__(self, root: str, strict: bool) -> None:
        self.root = root
        self.strict = strict
        self.first: str | None = None

    def save(self, message: str) -> None:
        if self.first is None:
            self.first = message

    def mismatch(self, value: Any, kind: Kind, path: str) -> None:
        what = _json_kind(value)
        if what == "number" and kind.tag in ("int",) and not float(value).is_integer():
            what = f"number {json.dumps(value)}"
        where = f"Go struct field {self.root}.{path}" if path else "Go value"
        self.save(f"json: cannot unmarshal {what} into {where} of type {go_type_name(kind)}")

    def struct(self, cls: type, data: Mapping[str, Any], path: str) -> None:
        infos = [f for f in fields_of(cls) if not f.extra]
        for key, value in data.items():
            info = next((f for f in infos if f.json == key), None)
            if info is None:
                info = next((f for f in infos if f.json.lower() == key.lower()), None)
            if info is None:
                if self.strict:
                    self.save(f"json: unknown field {go_quote(key)}")
                continue
            self.value(info.kind, value, f"{path}.{info.json}" if path else info.json)

    def value(self, kind: Kind, value: Any, path: str) -> None:
        if value is None:
            return
        tag = kind.tag
        if tag == "opt":
            assert kind.inner is not None
            self.value(kind.inner, value, path)
        elif tag == "struct":
            assert kind.cls is not None
            if isinstance(value, dict):
                self.struct(kind.cls, value, path)
            else:
                self.mismatch(value, kind, path)
        elif tag == "seq":
            assert kind.inner is not None
            if isinstance(value, list):
                for item in value:
                    self.value(kind.inner, item, path)
            else:
                self.mismatch(value, kind, path)
        elif tag == "map":
            if isinstance(value, dict):
                for item in value.values():
                    if item is not None and not isinstance(item, str):
                        self.mismatch(item, Kind("str"), path)
            else:
                self.mismatch(value, kind, path)
        elif tag in ("str", "time"):
            if not isinstance(value, str):
                self.mismatch(value, kind, path)
        elif tag == "bool":
            if not isinstance(value, bool):
                self.mismatch(value, kind, path)
        elif tag == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
            if not ok:
                self.mismatch(value, kind, path)
        elif tag == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
            self.mismatch(value, kind, path)


def _parse_constant(name: str) -> float:
    raise ValueError(name)


def go_json_decode(text: str, cls: type, *, strict: bool, stream: bool) -> dict[str, Any]:
    """Decode ``text`` into ``cls``'s shape, failing exactly where Go's decoder would.

    ``stream=True`` mimics ``json.NewDecoder(...).Decode`` (trailing data ignored,
    ``unexpected EOF``), ``False`` mimics ``json.Unmarshal``; ``strict`` is
    ``DisallowUnknownFields``. Returns the parsed object (``{}`` for ``null``).

    Text beyond :mod:`bmo.api.safejson`'s limits (nesting, integer digits; the scanner here
    recurses per level) fails first, with that limit as the message.
    """
    try:
        check_limits(text, what="")
    except JSONLimitError as exc:
        raise GoJSONError(exc.message) from None
    _check_syntax(text, stream=stream)
    value = json.JSONDecoder(parse_constant=_parse_constant).raw_decode(text.lstrip(" \t\r\n"))[0]
    decoder = _Decoder(cls.__name__, strict)
    if value is None:
        return {}
    if not isinstance(value, dict):
        decoder.mismatch(value, Kind("struct", cls=cls), "")
    else:
        decoder.struct(cls, value, "")
    if decoder.first is not None:
        raise GoJSONError(decoder.first)
    assert isinstance(value, dict)
    return value
