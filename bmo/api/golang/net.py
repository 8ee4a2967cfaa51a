"""Go's ``net.ParseMAC`` (``net/mac.go ParseMAC``) and ``net.SplitHostPort``
(``net/ipsock.go SplitHostPort``), as far as bmo needs them.

The webhook reports ``net.ParseMAC``'s error text for a bad ``bootMACAddress``
(``internal/webhooks/metal3.io/v1alpha1/baremetalhost_validation.go validateBMCAccess``), and
BMC address parsing accepts ``host:port`` exactly when ``net.SplitHostPort`` does
(``pkg/hardwareutils/bmc/access.go GetParsedURL``).
"""

from __future__ import annotations

__all__ = ["net_split_host_port_ok", "parse_mac_error"]

_HEX_BYTES = b"0123456789abcdefABCDEF"


def _xtoi2(s: bytes, sep: int) -> bool:
    """Go's ``xtoi2``: two hex digits, followed by ``sep`` unless at the end."""
    if len(s) > 2 and s[2] != sep:
        return False
    return len(s) >= 2 and all(c in _HEX_BYTES for c in s[:2])


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


def net_split_host_port_ok(hostport: str) -> bool:
    """Whether Go's ``net.SplitHostPort`` accepts ``hostport`` (its results are not needed)."""
    last_colon = hostport.rfind(":")
    if last_colon < 0:
        return False
    start, end_search = 0, 0
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0 or close + 1 != last_colon:
            return False
        start, end_search = 1, close + 1
    elif ":" in hostport[:last_colon]:
        return False
    return "[" not in hostport[start:] and "]" not in hostport[end_search:]
