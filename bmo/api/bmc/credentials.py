"""BMC credentials: a value that can be passed around and logged without leaking the password."""

from __future__ import annotations

from dataclasses import dataclass

from bmo.api.bmc.errors import CredentialsError

__all__ = ["Credentials"]

# Go's unicode.IsSpace set, which strings.TrimSpace strips; str.strip() would also strip
# U+001C..U+001F, so the set is spelled out to trim exactly what the Go operator trims.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True, repr=False)
class Credentials:
    """Username and password for a BMC, as read from the host's credentials Secret.

    Surrounding whitespace is trimmed on construction (Secrets written with ``echo`` carry a
    newline; the operator trims too). ``repr``/``str`` never show the password.
    """

    username: str
    password: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "username", self.username.strip(_GO_SPACE))
        object.__setattr__(self, "password", self.password.strip(_GO_SPACE))

    def __repr__(self) -> str:
        shown = "<redacted>" if self.password else "<empty>"
        return f"Credentials(username={self.username!r}, password={shown})"

    def validate(self) -> None:
        """Raise ``CredentialsError`` with the operator's message if a value is missing."""
        if not self.username:
            raise CredentialsError("Missing BMC connection detail 'username' in credentials")
        if not self.password:
            raise CredentialsError("Missing BMC connection details 'password' in credentials")
