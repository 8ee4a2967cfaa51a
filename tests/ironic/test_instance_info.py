"""instance_info patches, the same-image check and the config drive (``ironic.go
getInstanceUpdateOpts``, ``ironicHasSameImage``, ``getConfigDrive``)."""

from __future__ import annotations

from typing import Any

import pytest

from bmo.api.host import ChecksumError, CustomDeploy, Image
from bmo.ironic.config import ForcePersistentBootDevice, IronicConfig
from bmo.ironic.configdrive import ConfigDriveError, build_config_drive
from bmo.ironic.instance_info import (
    build_provision_update,
    checksum_fields,
    deploy_steps,
    has_same_image,
    instance_capabilities,
)
from bmo.ironic.views import NodeView

CONFIG = IronicConfig(
    endpoint="http://127.0.0.1:6385",
    live_iso_force_persistent_boot_device=ForcePersistentBootDevice.NEVER,
)
UID = "0d8c0b6e-6d2a-4f9c-8f6e-2b1e4f0b9a11"


def node(**fields: Any) -> NodeView:
    return NodeView.from_json({"uuid": "n1", **fields})


def ops_of(
    current: NodeView,
    image: Image,
    *,
    custom: CustomDeploy | None = None,
    boot_mode: str = "UEFI",
    root: dict[str, str] | None = None,
    pull_secret: str = "",
) -> dict[str, Any]:
    """``path -> value`` (``None`` for removals) of the provisioning patch."""
    builder = build_provision_update(
        current,
        image=image,
        custom_deploy=custom,
        boot_mode=boot_mode,
        root_device=root if root is not None else {"name": "s== /dev/sda"},
        instance_uuid=UID,
        config=CONFIG,
        pull_secret=pull_secret,
    )
    return {op.path: op.value if op.op == "add" else None for op in builder.ops}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (
            Image(url="u", checksum="abc"),
            {"image_checksum": "abc", "image_os_hash_algo": None, "image_os_hash_value": None},
        ),
        (
            Image(url="u", checksum="abc", checksum_type="auto"),
            {"image_checksum": "abc", "image_os_hash_algo": None, "image_os_hash_value": None},
        ),
        (
            Image(url="u", checksum="abc", checksum_type="sha256"),
            {"image_checksum": None, "image_os_hash_algo": "sha256", "image_os_hash_value": "abc"},
        ),
        (
            Image(url="oci://registry/img:1"),
            {"image_checksum": None, "image_os_hash_algo": None, "image_os_hash_value": None},
        ),
    ],
)
def test_checksum_mapping(image: Image, expected: dict[str, str | None]) -> None:
    assert checksum_fields(image) == expected


@pytest.mark.parametrize(
    "image",
    [
        Image(url="u"),
        Image(url="u", checksum="a", checksum_type="crc32"),
        Image(url="oci://r/i", checksum="a"),
    ],
)
def test_bad_checksums_raise(image: Image) -> None:
    with pytest.raises(ChecksumError):
        checksum_fields(image)


def test_direct_deploy_patch_on_a_fresh_node() -> None:
    image = Image(url="http://x/img.qcow2", checksum="abc", checksum_type="sha512", format="qcow2")
    ops = ops_of(node(), image, pull_secret="b64creds")
    assert ops == {
        "/instance_uuid": UID,
        "/instance_info/capabilities": {},
        "/instance_info/root_device": {"name": "s== /dev/sda"},
        "/instance_info/image_source": "http://x/img.qcow2",
        "/instance_info/image_os_hash_algo": "sha512",
        "/instance_info/image_os_hash_value": "abc",
        "/instance_info/image_disk_format": "qcow2",
        "/instance_info/image_pull_secret": "b64creds",
        "/driver_info/force_persistent_boot_device": "Default",
    }


def test_direct_deploy_replaces_another_shape() -> None:
    current = node(
        deploy_interface="ramdisk",
        instance_info={"boot_iso": "http://x/old.iso", "image_checksum": "old"},
    )
    ops = ops_of(current, Image(url="http://x/i.raw", checksum="c", checksum_type="md5"))
    assert ops["/instance_info/boot_iso"] is None
    assert ops["/instance_info/image_checksum"] is None
    assert ops["/deploy_interface"] is None
    assert ops["/instance_info/image_os_hash_algo"] == "md5"


def test_unchanged_node_produces_no_ops() -> None:
    image = Image(url="http://x/i.raw", checksum="c")
    current = node(
        instance_uuid=UID,
        instance_info={
            "capabilities": {},
            "root_device": {"name": "s== /dev/sda"},
            "image_source": image.url,
            "image_checksum": "c",
        },
        driver_info={"force_persistent_boot_device": "Default"},
    )
    assert ops_of(current, image) == {}


def test_live_iso() -> None:
    current = node(instance_info={"image_source": "http://x/old", "image_checksum": "c"})
    ops = ops_of(current, Image(url="http://x/live.iso", format="live-iso"))
    assert ops["/instance_info/boot_iso"] == "http://x/live.iso"
    assert ops["/instance_info/image_source"] is None
    assert ops["/instance_info/image_checksum"] is None
    assert ops["/deploy_interface"] == "ramdisk"
    assert ops["/driver_info/force_persistent_boot_device"] == "Never"
    assert "/instance_info/image_pull_secret" not in ops


def test_custom_deploy_with_and_without_image() -> None:
    custom = CustomDeploy("install_coreos")
    ops = ops_of(node(), Image(), custom=custom)
    assert ops["/deploy_interface"] == "custom-agent"
    assert "/instance_info/image_source" not in ops  # nothing there to remove
    ops = ops_of(node(), Image(url="http://x/i.raw"), custom=custom)
    assert ops["/instance_info/image_source"] == "http://x/i.raw"
    assert "/instance_info/image_checksum" not in ops
    ops = ops_of(node(instance_info={"image_source": "old"}), Image(), custom=custom)
    assert ops["/instance_info/image_source"] is None
    assert deploy_steps(custom) == [
        {"interface": "deploy", "step": "install_coreos", "args": {}, "priority": 80}
    ]
    assert deploy_steps(None) is None


@pytest.mark.parametrize(
    ("boot_mode", "expected"),
    [("UEFI", {}), ("legacy", {}), ("UEFISecureBoot", {"secure_boot": "true"})],
)
def test_secure_boot_capability(boot_mode: str, expected: dict[str, str]) -> None:
    assert instance_capabilities(boot_mode) == expected
    ops = ops_of(node(), Image(url="u", checksum="c"), boot_mode=boot_mode)
    assert ops["/instance_info/capabilities"] == expected


def test_no_hints_removes_root_device() -> None:
    ops = ops_of(
        node(instance_info={"root_device": {"name": "s== /dev/sdb"}}),
        Image(url="u", checksum="c"),
        root={},
    )
    assert "/instance_info/root_device" in ops and ops["/instance_info/root_device"] is None


@pytest.mark.parametrize(
    ("info", "image", "same"),
    [
        ({"image_source": "u", "image_checksum": "c"}, Image(url="u", checksum="c"), True),
        ({"image_source": "u", "image_checksum": "c"}, Image(url="u", checksum="d"), False),
        ({"image_source": "v", "image_checksum": "c"}, Image(url="u", checksum="c"), False),
        (
            {"image_source": "u", "image_os_hash_algo": "sha256", "image_os_hash_value": "c"},
            Image(url="u", checksum="c", checksum_type="sha256"),
            True,
        ),
        (
            {"image_source": "u", "image_os_hash_algo": "md5", "image_os_hash_value": "c"},
            Image(url="u", checksum="c", checksum_type="sha256"),
            False,
        ),
        ({"image_source": "oci://r/i"}, Image(url="oci://r/i"), True),
        ({"boot_iso": "http://x/l.iso"}, Image(url="http://x/l.iso", format="live-iso"), True),
        ({"image_source": "http://x/l.iso"}, Image(url="http://x/l.iso", format="live-iso"), False),
    ],
)
def test_same_image(info: dict[str, str], image: Image, same: bool) -> None:
    assert has_same_image(node(instance_info=info), image) is same


class HostConfig:
    def __init__(
        self, user: str | None = None, network: str | None = None, meta: str | None = None
    ):
        self.values = (user, network, meta)

    def user_data(self) -> str | None:
        return self.values[0]

    def network_data(self) -> str | None:
        return self.values[1]

    def meta_data(self) -> str | None:
        return self.values[2]


def test_config_drive_defaults() -> None:
    drive = build_config_drive(None, "ns", "host-1", UID)
    assert drive.as_json() == {
        "meta_data": {
            "uuid": UID,
            "metal3-namespace": "ns",
            "metal3-name": "host-1",
            "local-hostname": "host-1",
            "local_hostname": "host-1",
            "name": "host-1",
        }
    }


def test_config_drive_merges_meta_data_and_parses_network_data() -> None:
    config = HostConfig(
        user="#cloud-config\nssh_pwauth: false\n",
        network='{"links": [{"id": "eth0", "type": "phy"}]}',
        meta="local-hostname: custom\nrole: worker\n",
    )
    drive = build_config_drive(config, "ns", "host-1", UID)
    body = drive.as_json()
    assert body["user_data"] == "#cloud-config\nssh_pwauth: false\n"
    assert body["network_data"] == {"links": [{"id": "eth0", "type": "phy"}]}
    assert body["meta_data"]["local-hostname"] == "custom"
    assert body["meta_data"]["local_hostname"] == "host-1"
    assert body["meta_data"]["role"] == "worker"
    assert "ssh_pwauth" not in repr(drive)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (HostConfig(network="- a\n- b\n"), "networkData must be a YAML/JSON mapping"),
        (HostConfig(meta="a: [unclosed"), "metaData is not valid YAML or JSON"),
    ],
)
def test_config_drive_rejects_non_mappings(config: HostConfig, message: str) -> None:
    with pytest.raises(ConfigDriveError, match=message):
        build_config_drive(config, "ns", "h", UID)
