"""What a node must hold before ``active``: ``instance_info``, deploy interface, deploy steps.

Mirrors upstream ``pkg/provisioner/ironic/ironic.go`` ``getInstanceUpdateOpts``,
``setDirectDeployUpdateOptsForNode``, ``setLiveIsoUpdateOptsForNode``,
``setCustomDeployUpdateOptsForNode``, ``getCustomDeploySteps`` and ``ironicHasSameImage``.
Three deploy shapes exist:

* **direct** (a disk image): ``image_source`` + a checksum. An untyped (or ``auto``)
  checksum goes to ``image_checksum``; a typed one to ``image_os_hash_algo/value`` with
  ``image_checksum`` removed — Ironic prefers the legacy field if both are there. OCI images
  carry their own digests and may have no checksum at all.
* **live ISO**: ``boot_iso`` and the ``ramdisk`` deploy interface; no config drive.
* **custom deploy**: the ``custom-agent`` deploy interface and a deploy step named by the
  user; an image is optional.

Every builder works on :class:`NodeUpdateBuilder`, so values already on the node are not
sent again and fields of another shape are removed when the shape changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bmo.api.constants import BootMode
from bmo.api.host import CustomDeploy, Image
from bmo.ironic.config import IronicConfig
from bmo.ironic.updates import NodeUpdateBuilder
from bmo.ironic.views import NodeView

__all__ = [
    "CUSTOM_DEPLOY_INTERFACE",
    "CUSTOM_DEPLOY_STEP_PRIORITY",
    "LIVE_ISO_DEPLOY_INTERFACE",
    "apply_image",
    "build_provision_update",
    "checksum_fields",
    "deploy_steps",
    "has_same_image",
    "instance_capabilities",
]

LIVE_ISO_DEPLOY_INTERFACE = "ramdisk"
CUSTOM_DEPLOY_INTERFACE = "custom-agent"
CUSTOM_DEPLOY_STEP_PRIORITY = 80

_IMAGE_KEYS = (
    "image_source",
    "image_checksum",
    "image_os_hash_algo",
    "image_os_hash_value",
    "image_disk_format",
)


def instance_capabilities(boot_mode: str) -> dict[str, str]:
    """``instance_info.capabilities``: only secure boot is expressed per instance."""
    return {"secure_boot": "true"} if boot_mode == BootMode.UEFI_SECURE_BOOT else {}


def checksum_fields(image: Image) -> dict[str, str | None]:
    """The three checksum keys for ``image``; ``None`` marks a key to remove.

    Raises :class:`bmo.api.host.ChecksumError` for inconsistent checksum fields.
    """
    checksum, checksum_type = image.checksum_info()
    if not checksum:
        return {"image_checksum": None, "image_os_hash_algo": None, "image_os_hash_value": None}
    if not checksum_type:
        return {"image_checksum": checksum, "image_os_hash_algo": None, "image_os_hash_value": None}
    return {
        "image_checksum": None,
        "image_os_hash_algo": checksum_type,
        "image_os_hash_value": checksum,
    }


def _direct(builder: NodeUpdateBuilder, node: NodeView, image: Image, config: IronicConfig) -> None:
    info: dict[str, Any] = {"boot_iso": None, "image_source": image.url}
    info.update(checksum_fields(image))
    info["image_disk_format"] = image.format or None
    builder.set_instance_info(info)
    if node.deploy_interface in (LIVE_ISO_DEPLOY_INTERFACE, CUSTOM_DEPLOY_INTERFACE):
        builder.set_top_level("deploy_interface", None)
    builder.set_driver_info(
        {"force_persistent_boot_device": config.direct_deploy_force_persistent_boot_device.value}
    )


def _live_iso(builder: NodeUpdateBuilder, image: Image, config: IronicConfig) -> None:
    builder.set_instance_info(
        {
            "boot_iso": image.url,
            "image_source": None,
            "image_checksum": None,
            "image_os_hash_algo": None,
            "image_os_hash_value": None,
        }
    )
    builder.set_top_level("deploy_interface", LIVE_ISO_DEPLOY_INTERFACE)
    builder.set_driver_info(
        {"force_persistent_boot_device": config.live_iso_force_persistent_boot_device.value}
    )


def _custom(builder: NodeUpdateBuilder, image: Image | None) -> None:
    info: dict[str, Any] = {"boot_iso": None}
    if image is not None and image.url:
        info["image_source"] = image.url
        if image.checksum:
            info.update(checksum_fields(image))
        info["image_disk_format"] = image.format or None
    else:
        info.update(dict.fromkeys(_IMAGE_KEYS))
    builder.set_instance_info(info)
    builder.set_top_level("deploy_interface", CUSTOM_DEPLOY_INTERFACE)


def apply_image(
    builder: NodeUpdateBuilder,
    node: NodeView,
    image: Image | None,
    *,
    custom_deploy: bool,
    config: IronicConfig,
    pull_secret: str | None = "",
) -> None:
    """Add the image/deploy-interface ops for one deploy shape (also used when adopting).

    ``pull_secret`` ``None`` leaves ``image_pull_secret`` as it is (registration does not
    know it); ``""`` removes it.
    """
    if custom_deploy:
        _custom(builder, image)
    elif image is None or not image.url:
        return
    elif image.is_live_iso():
        _live_iso(builder, image, config)
        return
    else:
        _direct(builder, node, image, config)
    if pull_secret is not None:
        builder.set_instance_info({"image_pull_secret": pull_secret or None})


def build_provision_update(
    node: NodeView,
    *,
    image: Image,
    custom_deploy: CustomDeploy | None,
    boot_mode: str,
    root_device: Mapping[str, str],
    instance_uuid: str,
    config: IronicConfig,
    pull_secret: str = "",
) -> NodeUpdateBuilder:
    """Every op that makes ``node`` ready to deploy ``image`` (Go's ``getUpdateOptsForNode``)."""
    builder = NodeUpdateBuilder(node.as_patch_base())
    if instance_uuid:
        builder.set_top_level("instance_uuid", instance_uuid)
    builder.set_instance_info(
        {
            "capabilities": instance_capabilities(boot_mode),
            "root_device": dict(root_device) or None,
        }
    )
    apply_image(
        builder,
        node,
        image,
        custom_deploy=custom_deploy is not None and bool(custom_deploy.method),
        config=config,
        pull_secret=pull_secret,
    )
    return builder


def deploy_steps(custom_deploy: CustomDeploy | None) -> list[dict[str, Any]] | None:
    """The user's custom deploy step, or ``None`` for a standard deploy."""
    if custom_deploy is None or not custom_deploy.method:
        return None
    return [
        {
            "interface": "deploy",
            "step": custom_deploy.method,
            "args": {},
            "priority": CUSTOM_DEPLOY_STEP_PRIORITY,
        }
    ]


def has_same_image(node: NodeView, image: Image) -> bool:
    """Whether Ironic already holds exactly this image (Go's ``ironicHasSameImage``).

    Used after a failed deploy: the same image failing again is reported, a different one
    is retried. Checksums count here (unlike the state machine's URL-only change check)
    because a corrected checksum is a reason to try again.
    """
    info = node.instance_info
    if image.is_live_iso():
        return bool(info.get("boot_iso") == image.url)
    if info.get("image_source") != image.url:
        return False
    try:
        checksum, checksum_type = image.checksum_info()
    except ValueError:
        return False
    if not checksum:
        return True
    if not checksum_type:
        return bool(info.get("image_checksum") == checksum)
    return bool(
        info.get("image_os_hash_algo") == checksum_type
        and info.get("image_os_hash_value") == checksum
    )
