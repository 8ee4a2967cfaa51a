"""BMC address parsing with the Metal3 operator's rules (its ``GetParsedURL``).

Users write BMC addresses in many shapes (``192.168.1.1``, ``1.2.3.4:623``, ``ipmi:1.2.3.4``,
``redfish+http://[fe80::1]:8000/redfish/v1/Systems/1``); the operator accepts exactly what Go's
``url.Parse`` plus three fix-ups accepts, and its error texts reach users through the webhook.
bmo must accept and reject the same strings with the same words, so this follows the Go code
step by step on top of ``bmo.api.golang.url``.

Two deliberate differences, both only for input the operator mishandles:

* A bracketed host must be an IPv6 address (``[1.2.3.4]`` and ``[host]`` are rejected with the
  usual "hostname/IP ... is invalid" message); Go since 1.25.2 rejects these in ``url.Parse``.
* A password written into the address (``redfish://user:pw@host``) is replaced by ``xxxxx`` in
  error messages. Drivers ignore userinfo; credentials belong in the Secret.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bmo.api.bmc.errors import BMCAddressError
from bmo.api.golang import url as go_url
from bmo.api.golang.net import net_split_host_port_ok
from bmo.api.golang.strconv import go_quote

__all__ = ["ParsedAddress", "parse_address", "redact_address"]

_PREFIX = "failed to parse BMC address information: "

# The operator's DNS check: dot-separated labels of 1-63 alphanumerics with inner hyphens.
_DNS_NAME = re.compile(
    r"(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])\.)*"
    r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]{0,61}[A-Za-z0-9])"
)


@dataclass(frozen=True)
class ParsedAddress:
    """A BMC address as the Go operator sees it after ``GetParsedURL``.

    ``host`` is Go's ``URL.Host`` (``name[:port]``, IPv6 bracketed) and ``hostname`` its
    ``Hostname()`` (no port, no brackets); ``path`` is %-decoded like Go's ``URL.Path``.
    ``raw`` (the string as written) is left out of the repr because it may hold userinfo.
    """

    scheme: str
    host: str
    hostname: str
    port: str
    path: str
    raw_query: str = ""
    raw: str = field(default="", repr=False)

    @property
    def query(self) -> Mapping[str, tuple[str, ...]]:
        """Query parameters as Go's ``url.ParseQuery`` collects them (bad pairs skipped)."""
        values, _ = go_url.parse_query(self.raw_query)
        return MappingProxyType({key: tuple(vals) for key, vals in values.items()})


def parse_address(address: str) -> ParsedAddress:
    """Parse a BMC address; raise ``BMCAddressError`` with the operator's message.

    An empty string parses (scheme ``ipmi``, empty host) exactly as in Go; callers that need
    an address reject "" first (``access_details`` does).
    """
    try:
        url = go_url.parse(address)
    except go_url.GoURLError as err:
        # Go rejects "host:port" ("first path segment in URL cannot contain colon"); the
        # operator accepts whatever net.SplitHostPort accepts, as an IPMI host.
        if ":" in address and not net_split_host_port_ok(address):
            raise BMCAddressError(redact_address(_PREFIX + str(err), address)) from None
        url = go_url.GoURL(scheme="ipmi", host=address)
    else:
        if url.opaque:
            # "ipmi:1.2.3.4:623" is opaque to url.Parse; read it as "ipmi://1.2.3.4:623".
            url = _reparse(address.replace(":", "://", 1), address)
        if not url.scheme and not url.hostname:
            # A bare host ("192.168.1.1") parses as a path.
            url = _reparse("ipmi://" + address, address)
    _check_hostname(url, address)
    return ParsedAddress(
        scheme=url.scheme,
        host=url.host,
        hostname=url.hostname,
        port=url.port,
        path=url.path,
        raw_query=url.raw_query,
        raw=address,
    )


def _reparse(text: str, address: str) -> go_url.GoURL:
    try:
        return go_url.parse(text)
    except go_url.GoURLError as err:
        raise BMCAddressError(redact_address(_PREFIX + str(err), address)) from None


def _is_ip(text: str) -> bool:
    """Go's ``net.ParseIP(text) != nil``: IPv4 or IPv6, no zone."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_hostname(url: go_url.GoURL, address: str) -> None:
    hostname = url.hostname
    if not hostname:
        return  # the operator allows an empty host here
    valid = _is_ip(hostname) or _DNS_NAME.fullmatch(hostname) is not None
    if valid and url.host.startswith("["):
        valid = ":" in hostname and _is_ip(hostname)
    if not valid:
        # When url.Parse failed, the "hostname" is the whole address, userinfo included.
        message = f"{_PREFIX}BMC address hostname/IP : [{hostname}] is invalid"
        raise BMCAddressError(redact_address(message, address))


def redact_address(text: str, address: str) -> str:
    """``text`` with any userinfo password found in ``address`` replaced by ``xxxxx``."""
    # The parser may have read the address as written or after the opaque rewrite.
    for candidate in (address, address.replace(":", "://", 1)):
        userinfo = go_url.userinfo_of(candidate)
        if userinfo is None or not userinfo[1]:
            continue
        user, password = userinfo
        quoted_user, quoted_password = go_quote(user)[1:-1], go_quote(password)[1:-1]
        for u, p in ((user, password), (quoted_user, quoted_password)):
            text = text.replace(f"{u}:{p}@", f"{u}:xxxxx@")
    return text
