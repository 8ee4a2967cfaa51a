"""The generated ``ironic.conf``: one Ironic process on loopback, every path in its state dir.

Rendering is a pure function of :class:`LocalIronicConfig`, so the tests check the file
without starting anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from testenv.ironic.errors import IronicLocalError

LOOPBACK = "127.0.0.1"
AUTH_STRATEGIES = ("noauth", "http_basic")

# Directories Ironic writes to. Each option defaults to somewhere under / ([pxe] tftp_root is
# /tftpboot, [deploy] http_root is /httpboot, [deploy] iso_master_path and [agent]
# certificates_path are under /var/lib/ironic), so every one is moved into the state dir.
STATE_SUBDIRS = (
    "tmp",
    "httpboot",
    "tftpboot",
    "tftpboot/master_images",
    "images",
    "master_images",
    "master_iso_images",
    "certificates",
    "locks",
)


@dataclass(frozen=True)
class LocalIronicConfig:
    """Everything ``ironic.conf`` depends on, so rendering it is a pure function."""

    state_dir: Path
    port: int
    auth: str = "http_basic"
    http_port: int | None = None
    ipmi: bool = False
    log_level: str = "WARNING"


def render_ironic_conf(cfg: LocalIronicConfig) -> str:
    """The configuration of one ``ironic`` process (API and conductor together), SQLite-backed.

    The options that are not obvious:

    * ``rpc_transport = none``: the single ``ironic`` command calls its conductor in-process.
    * ``[service_catalog] endpoint_override``: without it, whatever needs Ironic's own URL
      (agent cleaning, managed inspection) fails to find it in a Keystone catalog.
    * ``[inspector] require_managed_boot = false``: else agent inspection of a fake-boot node
      is refused ("does not support validate_inspection").
    * ``sqlite_synchronous = false``, ``node_history = false`` and WARNING logging: speed.
    * ``[ipmi] min_command_interval = 1``: the default 5 s makes every IPMI power action slow.
    * ``ipmi`` only when ``ipmitool`` exists: without it the conductor dies at start and is
      restarted in a loop, so the API never answers.
    """
    if cfg.auth not in AUTH_STRATEGIES:
        raise IronicLocalError(f"auth must be one of {AUTH_STRATEGIES}, not {cfg.auth!r}")
    s = cfg.state_dir
    url = f"http://{LOOPBACK}:{cfg.port}"
    level = cfg.log_level.upper()
    loggers = (
        "ironic",
        "ironic.api",
        "cotyledon",
        "sqlalchemy",
        "oslo_db",
        "stevedore",
        "urllib3",
        "sushy",
        "futurist",
    )
    hardware = ["fake-hardware", "redfish"] + (["ipmi"] if cfg.ipmi else [])
    management = "fake,redfish,noop" + (",ipmitool" if cfg.ipmi else "")
    power = "fake,redfish" + (",ipmitool" if cfg.ipmi else "")
    vendor = "fake,no-vendor,redfish" + (",ipmitool" if cfg.ipmi else "")
    lines = [
        "[DEFAULT]",
        "host = ironic-local",
        f"auth_strategy = {cfg.auth}",
    ]
    if cfg.auth == "http_basic":
        lines.append(f"http_basic_auth_user_file = {s / 'htpasswd'}")
    lines += [
        "rpc_transport = none",
        f"tempdir = {s / 'tmp'}",
        f"log_file = {s / 'ironic.log'}",
        "use_stderr = false",
        f"debug = {'true' if level == 'DEBUG' else 'false'}",
        "default_log_levels = " + ",".join(f"{name}={level}" for name in loggers),
        f"enabled_hardware_types = {','.join(hardware)}",
        "enabled_bios_interfaces = fake,no-bios,redfish",
        "enabled_boot_interfaces = fake,ipxe,pxe,redfish-virtual-media,redfish-https",
        "enabled_console_interfaces = fake,no-console",
        "enabled_deploy_interfaces = fake,direct,ramdisk,custom-agent",
        "enabled_firmware_interfaces = fake,no-firmware,redfish",
        "enabled_inspect_interfaces = fake,agent,redfish,no-inspect",
        f"enabled_management_interfaces = {management}",
        "enabled_network_interfaces = noop,flat",
        "default_network_interface = noop",
        f"enabled_power_interfaces = {power}",
        "enabled_raid_interfaces = fake,no-raid,agent,redfish",
        "enabled_rescue_interfaces = fake,no-rescue",
        "enabled_storage_interfaces = fake,noop",
        f"enabled_vendor_interfaces = {vendor}",
        "",
        "[api]",
        f"host_ip = {LOOPBACK}",
        f"port = {cfg.port}",
        f"public_endpoint = {url}",
        "",
        "[service_catalog]",
        f"endpoint_override = {url}",
        "",
        "[database]",
        f"connection = sqlite:///{s / 'ironic.sqlite'}",
        "sqlite_synchronous = false",
        "",
        "[conductor]",
        "automated_clean = true",
        "node_history = false",
        "sync_power_state_interval = 60",
        "check_provision_state_interval = 10",
        f"file_url_allowed_paths = {s}",
        "",
        "[deploy]",
        f"http_root = {s / 'httpboot'}",
    ]
    if cfg.http_port is not None:
        lines.append(f"http_url = http://{LOOPBACK}:{cfg.http_port}")
    lines += [
        f"iso_master_path = {s / 'master_iso_images'}",
        "",
        "[pxe]",
        f"tftp_root = {s / 'tftpboot'}",
        f"tftp_master_path = {s / 'tftpboot' / 'master_images'}",
        f"images_path = {s / 'images'}",
        f"instance_master_path = {s / 'master_images'}",
        "",
        "[agent]",
        f"certificates_path = {s / 'certificates'}",
        "",
        "[ipmi]",
        "min_command_interval = 1",
        "",
        "[inspector]",
        "require_managed_boot = false",
        "",
        # Redfish firmware updates poll every 5 s and reboot after 10 s instead of the
        # production minutes: a BIOS update on the emulator takes ~30 s, not ~90 s.
        "[redfish]",
        "firmware_update_status_interval = 5",
        "firmware_update_validation_interval = 0",
        "firmware_update_reboot_delay = 10",
        "",
        "[oslo_concurrency]",
        f"lock_path = {s / 'locks'}",
        "",
    ]
    return "\n".join(lines)
