"""The BareMetalHost API: types, validation and BMC address parsing (no I/O)."""
