"""The HostFirmwareSettings controller: Ironic's BIOS settings and registry into
HostFirmwareSettings status and the shared FirmwareSchema objects."""
