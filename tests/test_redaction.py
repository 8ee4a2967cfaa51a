"""``bmo.redaction``: secrets hidden by key, by shape and by value, and a module every layer
may import."""

from __future__ import annotations

import ast
import json
import string
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bmo.redaction
from bmo.redaction import (
    MIN_SECRET_LENGTH,
    REDACTED,
    SecretScrubber,
    is_secret_key,
    redact,
    redact_text,
    scrub_userinfo,
    secret_forms,
)

# --- by key ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["password", "bmc_password", "BMC-Password", "passwd", "token", "bearer_token",
     "Authorization", "secret_key", "apikey", "private_key", "cookie", "Set-Cookie",
     "credentials_data"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["username", "passwords_allowed", "tokens", "data", "host", ""])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_walks_mappings_and_sequences() -> None:
    assert redact({"ipmi_password": "x", "list": [{"token": "y"}]}) == {
        "ipmi_password": REDACTED,
        "list": [{"token": REDACTED}],
    }
    assert redact(("a", {"password": "p"})) == ("a", {"password": REDACTED})
    assert redact(42) == 42


def test_redact_hides_secret_payloads_only() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "bmc"}, "data": {"password": "aHVudGVy"}}
    assert redact(secret) == {"kind": "Secret", "metadata": {"name": "bmc"}, "data": REDACTED}
    assert redact({"stringData": {"user": "admin"}}) == {"stringData": REDACTED}
    assert redact({"kind": "ConfigMap", "data": {"a": "1"}}) == {
        "kind": "ConfigMap",
        "data": {"a": "1"},
    }


def test_redact_scrubs_strings_and_exceptions() -> None:
    assert redact("login password=hunter2") == f"login password={REDACTED}"
    assert redact(RuntimeError("token: abc")) == f"token: {REDACTED}"


def test_redact_shows_a_client_secret_model_without_its_data() -> None:
    model = SimpleNamespace(
        kind="Secret",
        data={"password": "aHVudGVy"},
        metadata=SimpleNamespace(name="bmc", namespace="metal3"),
    )
    assert redact(model) == f"Secret(metal3/bmc, data={REDACTED})"


# --- by shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: {REDACTED}"),
        ("headers={'Authorization': 'Bearer a.b.c'}", f"headers={{'Authorization': '{REDACTED}'}}"),
        ("sent bearer abc.def", f"sent bearer {REDACTED}"),
        ("password=hunter2&user=admin", f"password={REDACTED}&user=admin"),
        ('{"bmc_password": "s3cret"}', f'{{"bmc_password": "{REDACTED}"}}'),
        ("nothing secret here", "nothing secret here"),
        # Case folds the patterns match (long s, Kelvin sign, dotted I) pass the quick check.
        ("PA\u017f\u017fWORD=hunter2", f"PA\u017f\u017fWORD={REDACTED}"),
        ("api_to\u212aen: abc", f"api_to\u212aen: {REDACTED}"),
        ("AUTHOR\u0130ZAT\u0130ON: Basic abc", f"AUTHOR\u0130ZAT\u0130ON: {REDACTED}"),
    ],
)
def test_redact_text(text: str, want: str) -> None:
    assert redact_text(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "Image provisioning started for https://user:s3cret@example.com/img.qcow2",
            "Image provisioning started for https://***@example.com/img.qcow2",
        ),
        ("oci://robot:tok@quay.io/x", "oci://***@quay.io/x"),
        ("redfish+https://u:p@192.0.2.1/x and http://v:q@h", "redfish+https://***@192.0.2.1/x "
         "and http://***@h"),
        ("no url here", "no url here"),
        ("mail me at a@b.c", "mail me at a@b.c"),
        ("https://example.com/path?who=a@b.c", "https://example.com/path?who=a@b.c"),
    ],
)  # fmt: skip
def test_scrub_userinfo(text: str, want: str) -> None:
    assert scrub_userinfo(text) == want


# --- by value --------------------------------------------------------------------------------


def test_secret_forms_cover_json_and_url_spellings() -> None:
    forms = secret_forms('p@ss "wörd"/+;')
    assert 'p@ss "wörd"/+;' in forms
    assert json.dumps('p@ss "wörd"/+;')[1:-1] in forms  # p@ss \"w\u00f6rd\"/+;
    assert 'p@ss \\"wörd\\"/+;' in forms
    assert quote('p@ss "wörd"/+;', safe="") in forms
    assert quote_plus('p@ss "wörd"/+;', safe="") in forms
    assert "p%40ss%20%22w%C3%B6rd%22%2F+;" in forms  # Go's URL user-info escaping


@pytest.mark.parametrize(
    "shown",
    [
        "s3cr=t/pa ss",  # raw
        json.dumps("s3cr=t/pa ss")[1:-1],
        quote("s3cr=t/pa ss", safe=""),
        quote_plus("s3cr=t/pa ss", safe=""),
    ],
)
def test_scrubber_replaces_every_spelling(shown: str) -> None:
    scrub = SecretScrubber(["s3cr=t/pa ss"])
    text = f"driver_info {{'ipmi_password': '{shown}'}} rejected"
    assert scrub(text) == f"driver_info {{'ipmi_password': '{REDACTED}'}} rejected"


def test_scrubber_json_escaped_quotes_and_unicode() -> None:
    secret = 'pä"ss\\wd'
    scrub = SecretScrubber([secret])
    body = json.dumps({"password": secret})
    assert secret not in scrub(body)
    assert scrub(body) == f'{{"password": "{REDACTED}"}}'
    assert scrub(json.dumps({"password": secret}, ensure_ascii=False)) == (
        f'{{"password": "{REDACTED}"}}'
    )


def test_scrubber_prefers_the_longest_secret() -> None:
    scrub = SecretScrubber(["admin", "admin-password"], marker="<redacted>")
    assert scrub("user admin, password admin-password") == "user <redacted>, password <redacted>"


def test_scrubber_ignores_short_and_empty_secrets() -> None:
    short = "x" * (MIN_SECRET_LENGTH - 1)
    scrub = SecretScrubber(["", short])
    assert not scrub
    assert scrub(f"value {short}") == f"value {short}"
    assert SecretScrubber(["x" * MIN_SECRET_LENGTH])


def test_scrubber_treats_secrets_as_literals() -> None:
    scrub = SecretScrubber(["a.*b"])
    assert scrub("a.*b and aXXb") == f"{REDACTED} and aXXb"


_TEXT = string.ascii_lowercase + string.digits + " :/=&%+\"\\'{},@"


@given(
    secret=st.text(alphabet=_TEXT, min_size=MIN_SECRET_LENGTH, max_size=20),
    before=st.text(alphabet=_TEXT, max_size=20),
    after=st.text(alphabet=_TEXT, max_size=20),
    form=st.integers(min_value=0, max_value=10),
)
def test_no_spelling_of_the_secret_survives(
    secret: str, before: str, after: str, form: int
) -> None:
    spellings = sorted(secret_forms(secret))
    shown = spellings[form % len(spellings)]
    scrubbed = SecretScrubber([secret])(before + shown + after)
    for spelling in spellings:
        assert spelling not in scrubbed


# --- layering --------------------------------------------------------------------------------


def test_redaction_imports_nothing_from_bmo() -> None:
    """Every layer (api, runtime, hoststate, ironic, controllers) may use it."""
    tree = ast.parse(Path(bmo.redaction.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add(node.module or "")
    assert imported
    assert not [name for name in imported if name == "bmo" or name.startswith("bmo.")]
