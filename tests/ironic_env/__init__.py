"""Tests against a real Ironic and sushy-tools emulator (hack/ironic_local.py)."""
