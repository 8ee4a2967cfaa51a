"""Go standard-library behaviour the webhook's messages depend on.

Users compare bmo's rejections with the Go operator's, so the checks that upstream
delegates to Go (``net.ParseMAC``, ``url.ParseRequestURI``, ``uuid.Parse``,
``encoding/json``) are reproduced here together with their exact error texts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bmo.api.codec import Kind, fields_of

# --- strconv.Quote -------------------------------------------------------------------------

_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t"}
_ESCAPES["\v"] = r"\v"


def go_quote(text: str) -> str:
    """``strconv.Quote``: double-quoted, Go escapes for controls and non-printables."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable() and ord(ch) > 0x7F:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# --- net.ParseMAC --------------------------------------------------------------------------


def _xtoi2(s: bytes, sep: int) -> bool:
    if len(s) > 2 and s[2] != sep:
        return False
    return len(s) >= 2 and all(c in b"0123456789abcdefABCDEF" for c in s[:2])


def parse_mac_error(address: str) -> str | None:
    """``None`` when ``net.ParseMAC`` accepts ``address``, else Go's error text."""
    s = address.encode()
    error = f"address {address}: invalid MAC address"
    if len(s) < 14:
        return error
    if s[2] in b":-":
        if (len(s) + 1) % 3 != 0:
            return error
        n = (len(s) + 1) // 3
        if n not in (6, 8, 20):
            return error
        for i in range(n):
            if not _xtoi2(s[3 * i :], s[2]):
                return error
        return None
    if s[4] == ord("."):
        if (len(s) + 1) % 5 != 0:
            return error
        n = 2 * (len(s) + 1) // 5
        if n not in (6, 8, 20):
            return error
        for x in range(0, len(s), 5):
            if not _xtoi2(s[x : x + 2], 0) or not _xtoi2(s[x + 2 :], s[4]):
                return error
        return None
    return error


# --- github.com/google/uuid.Parse ----------------------------------------------------------

_HEX = set("0123456789abcdefABCDEF")


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
    if any(text[i] != "-" for i in (8, 13, 18, 23)):
        return False
    return all(c in _HEX for i, c in enumerate(text) if i not in (8, 13, 18, 23))


# --- net/url.ParseRequestURI ---------------------------------------------------------------


class _URLError(Exception):
    pass


def _should_escape_host(c: str) -> bool:
    if c.isascii() and c.isalnum():
        return False
    return c not in "-_.~!$&'()*+,;=:[]<>\""


def _unescape(text: str, host: bool) -> None:
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%":
            seq = text[i : i + 3]
            if len(seq) < 3 or seq[1] not in _HEX or seq[2] not in _HEX:
                raise _URLError(f"invalid URL escape {go_quote(text[i : i + 3])}")
            if host and int(seq[1], 16) < 8 and seq != "%25":
                raise _URLError(f"invalid URL escape {go_quote(seq)}")
            i += 3
            continue
        if host and ord(c) < 0x80 and _should_escape_host(c):
            raise _URLError(f"invalid character {go_quote(c)} in host name")
        i += 1


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    return port[0] == ":" and all(c in "0123456789" for c in port[1:])


_USERINFO_OK = set("-._:~!$&'()*+,;=%@")


def _parse_authority(authority: str) -> None:
    at = authority.rfind("@")
    host = authority if at < 0 else authority[at + 1 :]
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise _URLError("missing ']' in host")
        if not _valid_optional_port(host[close + 1 :]):
            raise _URLError(f"invalid port {go_quote(host[close + 1 :])} after host")
    else:
        colon = host.rfind(":")
        if colon >= 0 and not _valid_optional_port(host[colon:]):
            raise _URLError(f"invalid port {go_quote(host[colon:])} after host")
    _unescape(host, host=True)
    if at >= 0:
        userinfo = authority[:at]
        if any(not (c.isascii() and c.isalnum()) and c not in _USERINFO_OK for c in userinfo):
            raise _URLError("net/url: invalid userinfo")
        _unescape(userinfo, host=False)


def _scheme(raw: str) -> tuple[str, str]:
    for i, c in enumerate(raw):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-."):
            if i == 0:
                return "", raw
            continue
        if c == ":":
            if i == 0:
                raise _URLError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return "", raw
    return "", raw


def parse_request_uri(raw: str) -> str:
    """Go's ``url.ParseRequestURI``: the lower-cased scheme, or ``ValueError`` (Go's text)."""
    try:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
            raise _URLError("net/url: invalid control character in URL")
        if raw == "":
            raise _URLError("empty url")
        if raw == "*":
            return ""
        scheme, rest = _scheme(raw)
        scheme = scheme.lower()
        if rest.endswith("?") and rest.count("?") == 1:
            rest = rest[:-1]
        else:
            rest = rest.split("?", 1)[0]
        if not rest.startswith("/"):
            if scheme:
                return scheme  # opaque URL, e.g. "mailto:x"
            raise _URLError("invalid URI for request")
        if scheme and rest.startswith("//"):
            authority, slash, path = rest[2:].partition("/")
            _parse_authority(authority)
            rest = slash + path
        _unescape(rest, host=False)
    except _URLError as exc:
        raise ValueError(f"parse {go_quote(raw)}: {exc}") from None
    return scheme


# --- encoding/json -------------------------------------------------------------------------


class GoJSONError(ValueError):
    """A decode failure whose ``str()`` is ``encoding/json``'s message."""


def _quote_char(c: str) -> str:
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
        if c == "-" or c.isdigit():
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
            if not self.peek().isdigit():
                raise self.err("in numeric literal")
        if self.peek() == "0":
            self.i += 1
        else:
            while self.i < len(self.s) and self.s[self.i].isdigit():
                self.i += 1
        if self.i < len(self.s) and self.s[self.i] == ".":
            self.i += 1
            if not self.peek().isdigit():
                raise self.err("after decimal point in numeric literal")
            while self.i < len(self.s) and self.s[self.i].isdigit():
                self.i += 1
        if self.i < len(self.s) and self.s[self.i] in "eE":
            self.i += 1
            if self.peek() in "+-":
                self.i += 1
            if not self.peek().isdigit():
                raise self.err("in exponent of numeric literal")
            while self.i < len(self.s) and self.s[self.i].isdigit():
                self.i += 1


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
    """
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
