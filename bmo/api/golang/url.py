"""Go's ``net/url`` (``net/url/url.go``): ``Parse``, ``ParseRequestURI``, ``ParseQuery``.

The Go operator's BMC address rules are the behaviour of ``url.Parse`` plus a few fix-ups
(``pkg/hardwareutils/bmc/access.go GetParsedURL``), and its webhook checks image URLs with
``url.ParseRequestURI`` (``internal/webhooks/metal3.io/v1alpha1/baremetalhost_validation.go
validateImage``). Matching it means matching ``net/url``: which strings are opaque
(``ipmi:1.2.3.4``), which fail (``1.2.3.4:623``: "first path segment in URL cannot contain
colon"), what ``Hostname()`` and ``Port()`` return, and the error texts users see in webhook
responses. ``urllib.parse`` differs on all of these (it accepts ``host:port`` as scheme+path,
never rejects a bad port and does not unescape), so it is not used.

Go strings are bytes; Python strings are code points. Every delimiter involved is ASCII, so
walking code points gives the same splits; %-decoding works on UTF-8 bytes and decodes the
result with U+FFFD for invalid sequences, which is what Go's ``encoding/json`` would send to
Ironic for the same bytes.

The bracketed-host rules follow Go before 1.25.2 (no IP check inside ``[...]`` at parse time);
``bmo.api.bmc.address`` rejects non-IPv6 bracket contents itself, with the operator's own
message.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from bmo.api.golang.strconv import go_quote

__all__ = [
    "GoURL",
    "GoURLError",
    "parse",
    "parse_query",
    "parse_request_uri",
    "split_host_port",
    "userinfo_of",
]


class GoURLError(Exception):
    """A parse failure; ``str()`` is Go's ``(*url.Error).Error()`` text."""


class _Err(Exception):
    """An inner net/url error before it is wrapped as ``parse "<url>": <err>``."""


class _Mode(enum.Enum):
    PATH = enum.auto()
    HOST = enum.auto()
    ZONE = enum.auto()
    USER_PASSWORD = enum.auto()
    QUERY_COMPONENT = enum.auto()
    FRAGMENT = enum.auto()


@dataclass(frozen=True)
class GoURL:
    """The fields of Go's ``url.URL`` that BMC parsing reads.

    ``host`` is Go's ``URL.Host`` (``name[:port]``, IPv6 in brackets). The userinfo password
    is deliberately not kept: only whether one was given.
    """

    scheme: str = ""
    opaque: str = ""
    username: str | None = None
    has_password: bool = False
    host: str = ""
    path: str = ""
    force_query: bool = False
    raw_query: str = ""
    fragment: str = ""

    @property
    def hostname(self) -> str:
        """Go's ``URL.Hostname()``."""
        return split_host_port(self.host)[0]

    @property
    def port(self) -> str:
        """Go's ``URL.Port()`` ("" when absent)."""
        return split_host_port(self.host)[1]


def _quote_bytes(raw: bytes) -> str:
    return go_quote(raw.decode("utf-8", "surrogateescape"))


# --- %-unescaping ----------------------------------------------------------------------------

_HEX = b"0123456789abcdefABCDEF"
_HOST_EXTRA = frozenset(b"!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_EXTRA = frozenset("-._:~!$&'()*+,;=%@")


def _is_alnum(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _host_needs_escape(c: int) -> bool:
    """Go's ``shouldEscape(c, encodeHost)`` for ASCII bytes."""
    return not (_is_alnum(c) or c in _HOST_EXTRA)


def _unescape(text: str, mode: _Mode) -> str:
    """Go's ``url.unescape``: validate %-escapes (and host bytes), then decode."""
    raw = text.encode("utf-8", "surrogatepass")
    escapes = 0
    has_plus = False
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            escapes += 1
            if i + 2 >= len(raw) or raw[i + 1] not in _HEX or raw[i + 2] not in _HEX:
                raise _Err(f"invalid URL escape {_quote_bytes(raw[i : i + 3])}")
            triplet = raw[i : i + 3]
            value = int(triplet[1:], 16)
            if mode is _Mode.HOST and value < 0x80 and triplet != b"%25":
                raise _Err(f"invalid URL escape {_quote_bytes(triplet)}")
            if (
                mode is _Mode.ZONE
                and triplet != b"%25"
                and value != 0x20
                and (value >= 0x80 or _host_needs_escape(value))
            ):
                raise _Err(f"invalid URL escape {_quote_bytes(triplet)}")
            i += 3
        elif c == 0x2B:  # '+'
            has_plus = mode is _Mode.QUERY_COMPONENT
            i += 1
        else:
            if mode in (_Mode.HOST, _Mode.ZONE) and c < 0x80 and _host_needs_escape(c):
                raise _Err(f"invalid character {_quote_bytes(raw[i : i + 1])} in host name")
            i += 1
    if escapes == 0 and not has_plus:
        return text
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        if c == 0x2B and mode is _Mode.QUERY_COMPONENT:
            out.append(0x20)
        else:
            out.append(c)
        i += 1
    return out.decode("utf-8", "replace")


# --- url.Parse -------------------------------------------------------------------------------


def _valid_optional_port(colon_port: str) -> bool:
    if colon_port == "":
        return True
    return colon_port[0] == ":" and all("0" <= ch <= "9" for ch in colon_port[1:])


def split_host_port(host: str) -> tuple[str, str]:
    """Go's unexported ``url.splitHostPort``: lenient, never fails, port must be digits."""
    port = ""
    colon = host.rfind(":")
    if colon != -1 and _valid_optional_port(host[colon:]):
        host, port = host[:colon], host[colon + 1 :]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _get_scheme(raw: str) -> tuple[str, str]:
    for i, ch in enumerate(raw):
        if "a" <= ch <= "z" or "A" <= ch <= "Z":
            continue
        if "0" <= ch <= "9" or ch in "+-.":
            if i == 0:
                return "", raw
            continue
        if ch == ":":
            if i == 0:
                raise _Err("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return "", raw
    return "", raw


def _parse_host(host: str) -> str:
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise _Err("missing ']' in host")
        colon_port = host[close + 1 :]
        if not _valid_optional_port(colon_port):
            raise _Err(f"invalid port {go_quote(colon_port)} after host")
        zone = host[:close].find("%25")
        if zone >= 0:
            return (
                _unescape(host[:zone], _Mode.HOST)
                + _unescape(host[zone:close], _Mode.ZONE)
                + _unescape(host[close:], _Mode.HOST)
            )
    else:
        colon = host.rfind(":")
        if colon != -1 and not _valid_optional_port(host[colon:]):
            raise _Err(f"invalid port {go_quote(host[colon:])} after host")
    return _unescape(host, _Mode.HOST)


def _parse_authority(authority: str) -> tuple[str | None, bool, str]:
    at = authority.rfind("@")
    host = _parse_host(authority if at < 0 else authority[at + 1 :])
    if at < 0:
        return None, False, host
    userinfo = authority[:at]
    if not all(ch.isascii() and (ch.isalnum() or ch in _USERINFO_EXTRA) for ch in userinfo):
        raise _Err("net/url: invalid userinfo")
    username, colon, password = userinfo.partition(":")
    username = _unescape(username, _Mode.USER_PASSWORD)
    if colon:
        _unescape(password, _Mode.USER_PASSWORD)
    return username, bool(colon), host


def _has_ctl(text: str) -> bool:
    return any(ch < " " or ch == "\x7f" for ch in text)


def _parse(raw: str, *, via_request: bool) -> GoURL:
    """Go's unexported ``url.parse``; ``via_request`` is ``ParseRequestURI``'s stricter mode."""
    if _has_ctl(raw):
        raise _Err("net/url: invalid control character in URL")
    if raw == "" and via_request:
        raise _Err("empty url")
    if raw == "*":
        return GoURL(path="*")
    scheme, rest = _get_scheme(raw)
    scheme = scheme.lower()
    force_query = False
    raw_query = ""
    if rest.endswith("?") and rest.count("?") == 1:
        force_query, rest = True, rest[:-1]
    else:
        rest, _, raw_query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:
            # RFC 3986 rootless path: Go calls it opaque and stops here.
            return GoURL(scheme=scheme, opaque=rest, force_query=force_query, raw_query=raw_query)
        if via_request:
            raise _Err("invalid URI for request")
        if ":" in rest.partition("/")[0]:
            raise _Err("first path segment in URL cannot contain colon")
    username: str | None = None
    has_password = False
    host = ""
    if (scheme or (not via_request and not rest.startswith("///"))) and rest.startswith("//"):
        authority, rest = rest[2:], ""
        slash = authority.find("/")
        if slash >= 0:
            authority, rest = authority[:slash], authority[slash:]
        username, has_password, host = _parse_authority(authority)
    return GoURL(
        scheme=scheme,
        username=username,
        has_password=has_password,
        host=host,
        path=_unescape(rest, _Mode.PATH),
        force_query=force_query,
        raw_query=raw_query,
    )


def parse(raw_url: str) -> GoURL:
    """Go's ``url.Parse``; raises ``GoURLError`` with Go's message."""
    without_fragment, _, fragment = raw_url.partition("#")
    try:
        url = _parse(without_fragment, via_request=False)
    except _Err as err:
        raise GoURLError(f"parse {go_quote(without_fragment)}: {err}") from None
    if not fragment:
        return url
    try:
        decoded = _unescape(fragment, _Mode.FRAGMENT)
    except _Err as err:
        raise GoURLError(f"parse {go_quote(raw_url)}: {err}") from None
    return dataclasses.replace(url, fragment=decoded)


def parse_request_uri(raw_url: str) -> GoURL:
    """Go's ``url.ParseRequestURI``: an absolute URI or absolute path, no fragment split.

    Raises ``GoURLError`` with Go's message.
    """
    try:
        return _parse(raw_url, via_request=True)
    except _Err as err:
        raise GoURLError(f"parse {go_quote(raw_url)}: {err}") from None


def userinfo_of(raw_url: str) -> tuple[str, str] | None:
    """The raw ``(user, password)`` that ``parse`` would read from ``raw_url``'s authority.

    None when there is no authority, no ``@`` or no ``:`` in the userinfo. Nothing is
    validated or decoded: this only finds the text to keep out of messages.
    """
    rest = raw_url.partition("#")[0]
    try:
        scheme, rest = _get_scheme(rest)
    except _Err:
        return None
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest = rest.partition("?")[0]
    if not rest.startswith("//") or (not scheme and rest.startswith("///")):
        return None
    authority = rest[2:].partition("/")[0]
    at = authority.rfind("@")
    if at < 0:
        return None
    user, colon, password = authority[:at].partition(":")
    return (user, password) if colon else None


def parse_query(raw_query: str) -> tuple[dict[str, list[str]], bool]:
    """Go's ``url.ParseQuery``: the values it collects, and whether it reported an error.

    Go keeps parsing after an error and returns both; callers such as the IPMI privilege level
    lookup fall back to a default when there was any error, so the flag matters.
    """
    values: dict[str, list[str]] = {}
    failed = False
    rest = raw_query
    while rest:
        pair, _, rest = rest.partition("&")
        if ";" in pair:
            failed = True
            continue
        if not pair:
            continue
        key, _, value = pair.partition("=")
        try:
            key = _unescape(key, _Mode.QUERY_COMPONENT)
            value = _unescape(value, _Mode.QUERY_COMPONENT)
        except _Err:
            failed = True
            continue
        values.setdefault(key, []).append(value)
    return values, failed
