"""Controller runtime and the host state machine."""
