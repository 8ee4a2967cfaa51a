"""Tests of bmo.ironic: config, errors, retries, update ops, the client (mocked and real)."""
