"""``BMO_BMC_CREDENTIALS_LABEL``: parsed once at start, refused with the fix when unusable."""

from __future__ import annotations

import argparse

import pytest

from bmo import settings as settings_mod
from bmo.api.secretpolicy import CredentialsSecretPolicy, PolicyError


def test_off_by_default_and_when_empty() -> None:
    assert not CredentialsSecretPolicy().enabled
    assert not CredentialsSecretPolicy.parse("  ").enabled
    assert CredentialsSecretPolicy().problem("ns", "s", None) is None


def test_key_value() -> None:
    policy = CredentialsSecretPolicy.parse("metal3.io/bmc-credentials = true")
    assert policy.label == ("metal3.io/bmc-credentials", "true")
    assert policy.selector == "metal3.io/bmc-credentials=true"
    assert policy.problem("ns", "s", {"metal3.io/bmc-credentials": "true"}) is None
    problem = policy.problem("ns", "s", {"metal3.io/bmc-credentials": "false"})
    assert problem is not None and "kubectl label secret -n ns s" in problem


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("justakey", "is not KEY=VALUE"),
        ("=v", "is not KEY=VALUE"),
        ("environment.metal3.io=baremetal", "bmo sets that label on every Secret"),
    ],
)
def test_unusable_values_are_refused(raw: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        CredentialsSecretPolicy.parse(raw)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    settings_mod.add_arguments(parser)
    return parser.parse_args(["--provisioner", "fixture"])


def test_settings_read_the_variable() -> None:
    loaded = settings_mod.from_args(
        _args(), {"BMO_BMC_CREDENTIALS_LABEL": "metal3.io/bmc-credentials=true"}
    )
    assert loaded.controller.credentials_policy.label == ("metal3.io/bmc-credentials", "true")
    with pytest.raises(settings_mod.SettingsError, match="BMO_BMC_CREDENTIALS_LABEL"):
        settings_mod.from_args(_args(), {"BMO_BMC_CREDENTIALS_LABEL": "nope"})
