"""Shared pytest configuration: fixtures live in tests/fixtures, one module per test bed."""

pytest_plugins = [
    "tests.fixtures.kube",
    "tests.fixtures.ironic",
]
