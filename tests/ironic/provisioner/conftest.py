"""The event recorder every IronicProvisioner test hands to the factory."""

from __future__ import annotations

import pytest

from tests.ironic.provisioner.helpers import Events


@pytest.fixture
def events() -> Events:
    return Events()
