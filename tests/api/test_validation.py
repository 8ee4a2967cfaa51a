"""The webhook rules (``internal/webhooks/metal3.io/v1alpha1/baremetalhost_validation.go``):
each accepted and rejected with its exact message, as ``baremetalhost_validation_test.go`` has them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bmo.api.host import (
    BareMetalHost,
    BareMetalHostSpec,
    BareMetalHostStatus,
    BMCDetails,
    FirmwareConfig,
    HardwareRAIDVolume,
    HostNetworkAttachmentRef,
    Image,
    NetworkInterface,
    ProvisionStatus,
    RAIDConfig,
    RootDeviceHints,
    SoftwareRAIDVolume,
)
from bmo.api.meta import ObjectMeta, SecretReference
from bmo.api.validation import validate_create, validate_update

HWD = (
    '{"systemVendor":{"manufacturer":"QEMU"},"ramMebibytes":4096,'
    '"nics":[{"name":"eth0","mac":"00:b7:8b:bb:3d:f6","pxe":true}],'
    '"cpu":{"arch":"x86_64","clockMegahertz":2494.224,"count":4},"hostname":"h0"}'
)


def host(
    name: str = "test", annotations: dict[str, str] | None = None, **spec: Any
) -> BareMetalHost:
    return BareMetalHost(
        metadata=ObjectMeta(name=name, namespace="test-namespace", annotations=annotations or {}),
        spec=BareMetalHostSpec(**spec),
    )


def bmc(address: str) -> BMCDetails:
    return BMCDetails(address=address, credentials_name="creds")


HW_VOLUME = HardwareRAIDVolume(level="1")
SW_ROOT = SoftwareRAIDVolume(level="1", root_volume=True)

# (case id, host, expected message or None for "valid")
CREATE_CASES: list[tuple[str, BareMetalHost, str | None]] = [
    ("valid-empty", host(), None),
    ("valid-externally-provisioned", host(externally_provisioned=True), None),
    (
        "name-chars",
        host(name="test~"),
        "BareMetalHost resource name cannot contain characters other than [A-Za-z0-9._-]",
    ),
    (
        "name-uuid",
        host(name="07564256-96ae-4315-ab03-8d34ece60fbb"),
        "BareMetalHost resource name cannot be a UUID",
    ),
    ("name-dots-ok", host(name="rack-1.node_2"), None),
    (
        "unknown-bmc-type",
        host(bmc=bmc("test:127.0.1.1")),
        "Unknown BMC type 'test' for address test:127.0.1.1",
    ),
    (
        "removed-driver-irmc",
        host(bmc=bmc("irmc://127.0.1.1"), boot_mac_address="01:02:03:04:05:06"),
        "Unknown BMC type 'irmc' for address irmc://127.0.1.1",
    ),
    (
        "bad-hostname",
        host(bmc=bmc("ipmi://-host.example.com.org")),
        "failed to parse BMC address information: BMC address hostname/IP : "
        "[-host.example.com.org] is invalid",
    ),
    ("dns-ok", host(bmc=bmc("ipmi://host-0.example.com.org:6223")), None),
    ("ipv6-ok", host(bmc=bmc("ipmi://[fe80::fc33:62ff:fe83:8a76]:6233")), None),
    (
        "firmware",
        host(firmware=FirmwareConfig(virtualization_enabled=True)),
        "the Firmware field is no longer supported, use HostFirmwareSettings resource instead",
    ),
    (
        "cross-namespace-user-data",
        host(user_data=SecretReference(name="s", namespace="other")),
        'baremetalhosts.metal3.io "test" is forbidden: userData: '
        "cross-namespace Secret references are not allowed",
    ),
    (
        "cross-namespace-network-data",
        host(network_data=SecretReference(name="s", namespace="other")),
        'baremetalhosts.metal3.io "test" is forbidden: networkData: '
        "cross-namespace Secret references are not allowed",
    ),
    (
        "cross-namespace-meta-data",
        host(meta_data=SecretReference(name="s", namespace="other")),
        'baremetalhosts.metal3.io "test" is forbidden: metaData: '
        "cross-namespace Secret references are not allowed",
    ),
    ("same-namespace-secret", host(user_data=SecretReference("s", "test-namespace")), None),
    (
        "hw-and-sw-raid",
        host(
            raid=RAIDConfig(
                hardware_raid_volumes=(HW_VOLUME,),
                software_raid_volumes=(SoftwareRAIDVolume(level="1"),),
            )
        ),
        "hardwareRAIDVolumes and softwareRAIDVolumes can not be set at the same time",
    ),
    (
        "physical-disks-without-controller",
        host(
            raid=RAIDConfig(
                hardware_raid_volumes=(
                    HardwareRAIDVolume(level="1", physical_disks=("Disk-1", "Disk-2")),
                )
            )
        ),
        "'physicalDisks' specified without 'controller' in hardware RAID volume 0",
    ),
    (
        "number-of-physical-disks-mismatch",
        host(
            raid=RAIDConfig(
                hardware_raid_volumes=(
                    HardwareRAIDVolume(
                        level="1",
                        controller="c",
                        physical_disks=("Disk-1", "Disk-2"),
                        number_of_physical_disks=3,
                    ),
                )
            )
        ),
        "the 'numberOfPhysicalDisks'[3] and number of 'physicalDisks'[2] is not same for volume 0",
    ),
    (
        "two-root-volumes",
        host(raid=RAIDConfig(software_raid_volumes=(SW_ROOT, SW_ROOT))),
        "softwareRAIDVolumes[*].rootVolume can only be set once",
    ),
    (
        "root-volume-and-hints",
        host(
            raid=RAIDConfig(software_raid_volumes=(SW_ROOT,)),
            root_device_hints=RootDeviceHints(device_name="/dev/sda"),
        ),
        "softwareRAIDVolumes[*].rootVolume and rootDeviceHints can not be set at the same time",
    ),
    (
        "root-volume-not-raid1",
        host(
            raid=RAIDConfig(
                software_raid_volumes=(
                    SoftwareRAIDVolume(level="1"),
                    SoftwareRAIDVolume(level="0", root_volume=True),
                )
            )
        ),
        "softwareRAIDVolumes[1] with rootVolume set must use RAID level 1",
    ),
    ("root-volume-ok", host(raid=RAIDConfig(software_raid_volumes=(SW_ROOT,))), None),
    (
        "hw-raid-on-ipmi",
        host(bmc=bmc("ipmi://127.0.1.1"), raid=RAIDConfig(hardware_raid_volumes=(HW_VOLUME,))),
        "BMC driver ipmi does not support configuring RAID",
    ),
    (
        "hw-raid-on-redfish",
        host(bmc=bmc("redfish://127.0.0.1"), raid=RAIDConfig(hardware_raid_volumes=(HW_VOLUME,))),
        None,
    ),
    (
        "empty-hw-raid-on-ipmi",
        host(bmc=bmc("ipmi://127.0.1.1"), raid=RAIDConfig(hardware_raid_volumes=())),
        None,
    ),
    (
        "libvirt-needs-mac",
        host(bmc=bmc("libvirt://127.0.1.1")),
        "BMC driver libvirt requires a BootMACAddress value",
    ),
    (
        "inspection-disabled-needs-mac",
        host(bmc=bmc("redfish-virtualmedia+https://127.0.1.1"), inspection_mode="disabled"),
        "BMC driver redfish-virtualmedia+https requires a BootMACAddress value",
    ),
    (
        "inspection-disabled-annotation-needs-mac",
        host(
            annotations={"inspect.metal3.io": "disabled"},
            bmc=bmc("redfish://127.0.1.1"),
        ),
        "BMC driver redfish requires a BootMACAddress value",
    ),
    ("redfish-mac-optional", host(bmc=bmc("redfish://127.0.1.1")), None),
    (
        "libvirt-with-mac",
        host(bmc=bmc("libvirt://127.0.1.1"), boot_mac_address="00:00:00:00:00:00"),
        None,
    ),
    (
        "bad-mac",
        host(bmc=bmc("redfish://127.0.1.1"), boot_mac_address="00:00:00:00:00"),
        "address 00:00:00:00:00: invalid MAC address",
    ),
    (
        "secure-boot-libvirt",
        host(
            bmc=bmc("libvirt://127.0.1.1"),
            boot_mac_address="00:00:00:00:00:00",
            boot_mode="UEFISecureBoot",
        ),
        "BMC driver libvirt does not support secure boot",
    ),
    (
        "secure-boot-redfish",
        host(bmc=bmc("redfish://127.0.1.1"), boot_mode="UEFISecureBoot"),
        None,
    ),
    (
        "fast-inspection-ipmi",
        host(bmc=bmc("ipmi://127.0.1.1"), inspection_mode="fast"),
        "BMC driver ipmi does not support fast (out-of-band) inspection",
    ),
    ("fast-inspection-redfish", host(bmc=bmc("redfish://127.0.1.1"), inspection_mode="fast"), None),
    ("hint-ok", host(root_device_hints=RootDeviceHints(device_name="/dev/sda")), None),
    (
        "hint-by-path-ok",
        host(
            root_device_hints=RootDeviceHints(
                device_name="/dev/disk/by-path/pci-0000:01:00.0-scsi-0:2:0:0"
            )
        ),
        None,
    ),
    (
        "hint-by-uuid",
        host(root_device_hints=RootDeviceHints(device_name="/dev/disk/by-uuid/cdaacd50")),
        "device name of root device hint must be path in /dev/ or /dev/disk/by-path/, "
        'not "/dev/disk/by-uuid/cdaacd50"',
    ),
    (
        "hint-no-dev",
        host(root_device_hints=RootDeviceHints(device_name="sda")),
        'device name of root device hint must be a /dev/ path, not "sda"',
    ),
    ("image-ok", host(image=Image(url="https://example.com/image", checksum="abc")), None),
    ("image-ftp-ok", host(image=Image(url="ftp://example.com/image", checksum="abc")), None),
    ("image-live-iso-ok", host(image=Image(url="https://e.com/x.iso", format="live-iso")), None),
    ("image-oci-ok", host(image=Image(url="oci://quay.io/org/image:tag")), None),
    (
        "image-url-not-request-uri",
        host(image=Image(url="test1", checksum="abc")),
        'image URL test1 is invalid: parse "test1": invalid URI for request',
    ),
    (
        "image-url-empty",
        host(image=Image(url="", checksum="abc")),
        'image URL  is invalid: parse "": empty url',
    ),
    (
        "image-url-scheme",
        host(image=Image(url="file:///images/x.qcow2", checksum="abc")),
        'image URL file:///images/x.qcow2 is invalid: invalid scheme in URL, "file" not allowed',
    ),
    (
        "image-url-bad-host",
        host(image=Image(url="http://a b/x", checksum="abc")),
        'image URL http://a b/x is invalid: parse "http://a b/x": invalid character " " in '
        "host name",
    ),
    (
        "image-no-checksum",
        host(image=Image(url="https://example.com/image")),
        "checksum is required for normal images",
    ),
    (
        "image-bad-checksum-type",
        host(image=Image(url="https://example.com/image", checksum="abc", checksum_type="SHA42")),
        "unknown checksumType SHA42, supported are auto, md5, sha256, sha512",
    ),
    (
        "image-oci-with-checksum",
        host(image=Image(url="oci://quay.io/org/image:tag", checksum="abc")),
        "spec.image.checksum must be empty for OCI images (oci:// images have embedded checksums)",
    ),
    (
        "status-annotation-ok",
        host(annotations={"baremetalhost.metal3.io/status": '{"operationalStatus": "OK"}'}),
        None,
    ),
    (
        "status-annotation-unknown-field",
        host(annotations={"baremetalhost.metal3.io/status": '{"InvalidField":"NotOK"}'}),
        'error decoding status annotation: json: unknown field "InvalidField"',
    ),
    (
        "status-annotation-opstatus",
        host(annotations={"baremetalhost.metal3.io/status": '{"operationalStatus":"NotOK"}'}),
        "invalid operationalStatus 'NotOK' in the baremetalhost.metal3.io/status annotation",
    ),
    (
        "status-annotation-errortype",
        host(annotations={"baremetalhost.metal3.io/status": '{"errorType":"No Error"}'}),
        "invalid errorType 'No Error' in the baremetalhost.metal3.io/status annotation",
    ),
    (
        "status-annotation-truncated",
        host(annotations={"baremetalhost.metal3.io/status": '{"operationalStatus":"OK"'}),
        "error decoding status annotation: unexpected EOF",
    ),
    (
        "reboot-annotation-mode",
        host(annotations={"reboot.metal3.io": '{"mode":"medium"}'}),
        'invalid mode in the reboot.metal3.io annotation, allowed are "hard", "soft" or ""',
    ),
    (
        "reboot-annotation-suffixed-mode",
        host(annotations={"reboot.metal3.io/my-key": '{"mode":"medium"}'}),
        'invalid mode in the reboot.metal3.io annotation, allowed are "hard", "soft" or ""',
    ),
    (
        "reboot-annotation-bad-json",
        host(annotations={"reboot.metal3.io": "{mode: hard}"}),
        "failed to unmarshal the data from the reboot.metal3.io annotation: invalid character "
        "'m' looking for beginning of object key string",
    ),
    ("reboot-annotation-empty", host(annotations={"reboot.metal3.io": ""}), None),
    ("reboot-annotation-ok", host(annotations={"reboot.metal3.io": '{"force": true}'}), None),
    (
        "inspect-annotation-value",
        host(annotations={"inspect.metal3.io": "enabled"}),
        'invalid value for the inspect.metal3.io annotation, allowed are "disabled" or ""',
    ),
    (
        "hwd-annotation-needs-disabled-inspection",
        host(annotations={"inspect.metal3.io/hardwaredetails": HWD}),
        "when hardware details are provided, inspection must be disabled (either via "
        "inspect.metal3.io annotation or inspectionMode field)",
    ),
    (
        "hwd-annotation-ok-with-annotation",
        host(
            annotations={
                "inspect.metal3.io": "disabled",
                "inspect.metal3.io/hardwaredetails": HWD,
            }
        ),
        None,
    ),
    (
        "hwd-annotation-ok-with-mode",
        host(annotations={"inspect.metal3.io/hardwaredetails": HWD}, inspection_mode="disabled"),
        None,
    ),
    (
        "hwd-annotation-unknown-field",
        host(
            annotations={
                "inspect.metal3.io": "disabled",
                "inspect.metal3.io/hardwaredetails": '{"INVALIDField":{}}',
            }
        ),
        "error decoding the inspect.metal3.io/hardwaredetails annotation: json: unknown field "
        '"INVALIDField"',
    ),
    (
        "hwd-annotation-truncated",
        host(
            annotations={
                "inspect.metal3.io": "disabled",
                "inspect.metal3.io/hardwaredetails": HWD[:-1],
            }
        ),
        "error decoding the inspect.metal3.io/hardwaredetails annotation: unexpected EOF",
    ),
    (
        "inspect-contradiction",
        host(annotations={"inspect.metal3.io": "disabled"}, inspection_mode="agent"),
        "inspect.metal3.io annotation and inspectionMode field have contradicting values",
    ),
    (
        "inspection-mode-invalid",
        host(inspection_mode="sometimes"),
        "invalid inspectionMode value: sometimes, allowed values are 'disabled', 'agent', "
        "or 'fast'",
    ),
    ("disable-power-off-ok", host(disable_power_off=True, online=True), None),
    (
        "disable-power-off-offline",
        host(disable_power_off=True, online=False),
        "node can't simultaneously have online set to false and have power off disabled",
    ),
    (
        "nic-neither",
        host(network_interfaces=(NetworkInterface(),)),
        "networkInterfaces[0]: must specify either name or macAddress",
    ),
    (
        "nic-both",
        host(network_interfaces=(NetworkInterface(name="eth0", mac_address="00:11:22:33:44:55"),)),
        "networkInterfaces[0]: name and macAddress are mutually exclusive",
    ),
    (
        "nic-duplicate-mac-case-insensitive",
        host(
            network_interfaces=(
                NetworkInterface(mac_address="AA:11:22:33:44:55"),
                NetworkInterface(mac_address="aa:11:22:33:44:55"),
            )
        ),
        'networkInterfaces[1]: duplicate interface selector for "aa:11:22:33:44:55"',
    ),
    (
        "nics-ok",
        host(
            network_interfaces=(
                NetworkInterface(
                    name="eth0", host_network_attachment=HostNetworkAttachmentRef(name="prov")
                ),
                NetworkInterface(mac_address="aa:11:22:33:44:55"),
            )
        ),
        None,
    ),
]


@pytest.mark.parametrize(
    ("new", "expected"), [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES]
)
def test_create_rule(new: BareMetalHost, expected: str | None) -> None:
    messages = [p.message for p in validate_create(new)]
    if expected is None:
        assert messages == []
    else:
        assert expected in messages


def test_every_problem_is_reported_with_its_field() -> None:
    bad = host(
        name="bad~name",
        annotations={"inspect.metal3.io": "enabled"},
        bmc=bmc("libvirt://127.0.0.1"),
        boot_mode="UEFISecureBoot",
        image=Image(url="test1"),
        disable_power_off=True,
    )
    problems = {(p.field, p.message.split(" ")[0]) for p in validate_create(bad)}
    assert problems == {
        ("spec.bootMACAddress", "BMC"),
        ("spec.bootMode", "BMC"),
        ("metadata.name", "BareMetalHost"),
        ("spec.image.url", "image"),
        ("spec.image.checksum", "checksum"),
        ("metadata.annotations[inspect.metal3.io]", "invalid"),
        ("spec.disablePowerOff", "node"),
    }


def test_parse_error_reported_once() -> None:
    problems = validate_create(host(bmc=bmc("ipmi://-host.example.com.org")))
    assert len(problems) == 1
    assert problems[0].field == "spec.bmc.address"


def test_fake_driver_needs_development_flag() -> None:
    fake = host(bmc=bmc("fake://127.0.0.1"), boot_mac_address="00:11:22:33:44:55")
    assert validate_create(fake) != []
    assert validate_create(fake, allow_development=True) == []


# --- update rules --------------------------------------------------------------------------


def with_state(h: BareMetalHost, state: str = "", operational: str = "") -> BareMetalHost:
    return dataclasses.replace(
        h,
        status=BareMetalHostStatus(
            operational_status=operational, provisioning=ProvisionStatus(state=state)
        ),
    )


ADDRESS_ERROR = (
    "BMC address can not be changed if the BMH is not in the Registering state, "
    "or if the BMH is not detached"
)
OLD = host(bmc=bmc("ipmi://192.0.2.1"))
NEW = host(bmc=bmc("ipmi://192.0.2.2"))

UPDATE_CASES: list[tuple[str, BareMetalHost, BareMetalHost, str | None]] = [
    ("address-change", with_state(OLD, "available"), with_state(NEW, "available"), ADDRESS_ERROR),
    ("address-registering", with_state(OLD, "registering"), with_state(NEW, "registering"), None),
    (
        "address-old-registering",
        with_state(OLD, "registering"),
        with_state(NEW, "inspecting"),
        None,
    ),
    (
        "address-detached",
        with_state(OLD, "provisioned"),
        with_state(NEW, "provisioned", "detached"),
        None,
    ),
    ("address-set-first-time", host(), NEW, None),
    (
        "mac-change",
        host(boot_mac_address="00:11:22:33:44:55"),
        host(boot_mac_address="00:11:22:33:44:66"),
        "bootMACAddress can not be changed once it is set",
    ),
    (
        "mac-case-only",
        host(boot_mac_address="aa:11:22:33:44:55"),
        host(boot_mac_address="AA:11:22:33:44:55"),
        None,
    ),
    ("mac-set-first-time", host(), host(boot_mac_address="00:11:22:33:44:55"), None),
    (
        "externally-provisioned-enabled-late",
        with_state(host(), "provisioning"),
        with_state(host(externally_provisioned=True), "provisioning"),
        "externallyProvisioned can only be enabled when in Available state, currently in "
        "provisioning",
    ),
    (
        "externally-provisioned-from-available",
        with_state(host(), "available"),
        with_state(host(externally_provisioned=True), "available"),
        None,
    ),
    (
        "externally-provisioned-disabled",
        with_state(host(externally_provisioned=True), "externally provisioned"),
        with_state(host(), "externally provisioned"),
        None,
    ),
    (
        "update-reruns-create-rules",
        host(),
        host(firmware=FirmwareConfig()),
        "the Firmware field is no longer supported, use HostFirmwareSettings resource instead",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES]
)
def test_update_rule(old: BareMetalHost, new: BareMetalHost, expected: str | None) -> None:
    messages = [p.message for p in validate_update(old, new)]
    if expected is None:
        assert messages == []
    else:
        assert expected in messages
