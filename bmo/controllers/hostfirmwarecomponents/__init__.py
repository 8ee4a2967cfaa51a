"""The HostFirmwareComponents controller: Ironic's firmware components into
HostFirmwareComponents status, and ``spec.updates`` checked."""
