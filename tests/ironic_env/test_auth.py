"""HTTP basic auth is really enforced, the way Metal3 deploys Ironic."""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.ironic import IronicFixture

pytestmark = pytest.mark.ironic

HEADERS = {"X-OpenStack-Ironic-API-Version": "1.110"}


def test_nodes_need_the_right_credentials(ironic: IronicFixture) -> None:
    assert ironic.credentials is not None
    username, password = ironic.credentials
    url = f"{ironic.url}/v1/nodes"

    assert requests.get(url, headers=HEADERS, timeout=10).status_code == 401
    wrong = requests.get(url, headers=HEADERS, auth=(username, password + "x"), timeout=10)
    assert wrong.status_code == 401
    right = requests.get(url, headers=HEADERS, auth=(username, password), timeout=10)
    assert right.status_code == 200
    assert "nodes" in right.json()


def test_version_document_stays_public(ironic: IronicFixture) -> None:
    """Microversion negotiation happens before credentials are sent."""
    root = requests.get(f"{ironic.url}/", timeout=10)
    assert root.status_code == 200
    version = root.json()["default_version"]
    assert version["version"] >= "1.110"


def test_htpasswd_holds_a_bcrypt_hash_not_the_password(ironic: IronicFixture) -> None:
    assert ironic.credentials is not None
    line = (ironic.state_dir / "htpasswd").read_text().strip()
    user, hashed = line.split(":", 1)
    assert user == ironic.credentials[0]
    assert hashed.startswith(("$2a$", "$2b$", "$2y$"))
    assert ironic.credentials[1] not in line
    assert ironic.credentials[1] not in repr(ironic)
