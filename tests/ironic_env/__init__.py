"""Tests against a real Ironic and sushy-tools emulator (testenv/ironic/)."""
