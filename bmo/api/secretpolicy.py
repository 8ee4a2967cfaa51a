"""Which Secrets a BareMetalHost may name as its BMC credentials (opt-in).

The threat: whoever may create BareMetalHosts in a namespace, but not read its Secrets, can
name *any* Secret there in ``spec.bmc.credentialsName`` - a database password, a token - and
a BMC address they control. bmo would then send that Secret's ``username``/``password`` to
their "BMC" (through Ironic), label it, own it and put a finalizer on it. Upstream has no
answer to this; bmo's is to require a label only Secret owners set on purpose.

The label must not be ``environment.metal3.io=baremetal``: bmo itself puts that one on every
Secret it uses, so it proves nothing. The webhook checks it at admission (through a lookup
``bmo run`` feeds from a Secret cache) and the controller before it claims a Secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bmo.api.constants import SECRET_ENVIRONMENT_LABEL
from bmo.api.errors import APIError

__all__ = ["CREDENTIALS_LABEL_ENV", "CredentialsSecretPolicy", "PolicyError"]

CREDENTIALS_LABEL_ENV: Final = "BMO_BMC_CREDENTIALS_LABEL"
"""The environment variable that turns the policy on: ``KEY=VALUE``, empty or unset = off."""


class PolicyError(APIError, ValueError):
    """The policy setting cannot be understood; the message names the variable."""


@dataclass(frozen=True)
class CredentialsSecretPolicy:
    """``label`` ``(key, value)`` every BMC credentials Secret must carry; ``None``: any."""

    label: tuple[str, str] | None = None

    @classmethod
    def parse(cls, raw: str, source: str = CREDENTIALS_LABEL_ENV) -> CredentialsSecretPolicy:
        raw = raw.strip()
        if not raw:
            return cls()
        key, sep, value = raw.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise PolicyError(
                f"{source}={raw!r} is not KEY=VALUE: set e.g. "
                f"{source}=metal3.io/bmc-credentials=true, or leave it empty to allow any Secret"
            )
        if key == SECRET_ENVIRONMENT_LABEL:
            raise PolicyError(
                f"{source} cannot use {SECRET_ENVIRONMENT_LABEL}: bmo sets that label on every "
                "Secret it uses; choose a label only Secret owners set, e.g. "
                "metal3.io/bmc-credentials=true"
            )
        return cls(label=(key, value))

    @property
    def enabled(self) -> bool:
        return self.label is not None

    @property
    def selector(self) -> str:
        """The label selector of the Secrets the policy admits (``""`` when off)."""
        return "" if self.label is None else f"{self.label[0]}={self.label[1]}"

    def problem(self, namespace: str, name: str, labels: Mapping[str, str] | None) -> str | None:
        """Why Secret ``namespace/name`` with ``labels`` may not be BMC credentials, or
        ``None`` when it may (or the policy is off)."""
        if self.label is None:
            return None
        key, value = self.label
        if (labels or {}).get(key) == value:
            return None
        return (
            f"BMC credentials Secret {namespace}/{name} lacks the label {key}={value} that "
            f"{CREDENTIALS_LABEL_ENV} requires: label the Secret (kubectl label secret -n "
            f"{namespace} {name} {key}={value}) or name one that has it"
        )
