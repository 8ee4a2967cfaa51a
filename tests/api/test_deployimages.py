"""Per-architecture deploy images: upstream's default image provider, case for case
(``pkg/imageprovider/default_test.go``)."""

from __future__ import annotations

import pytest

from bmo.api.deployimages import (
    DeployImages,
    DeployImageSettings,
    GeneratedImage,
    ImageBuildInvalid,
    lookup_by_arch,
)

BASE = {
    "DEPLOY_KERNEL_URL": "http://example.com/kernel",
    "DEPLOY_RAMDISK_URL": "http://example.com/ramdisk",
}


@pytest.mark.parametrize(
    ("arch", "env", "kernel", "ramdisk"),
    [
        pytest.param("x86_64", {}, "kernel", "ramdisk", id="default-arch-uses-base"),
        pytest.param(
            "aarch64",
            {
                "DEPLOY_KERNEL_URL_AARCH64": "http://example.com/kernel-aarch64",
                "DEPLOY_RAMDISK_URL_AARCH64": "http://example.com/ramdisk-aarch64",
            },
            "kernel-aarch64",
            "ramdisk-aarch64",
            id="per-arch-variables",
        ),
        pytest.param("aarch64", {}, "kernel", "ramdisk", id="falls-back-to-base"),
        pytest.param("", {}, "kernel", "ramdisk", id="empty-arch-uses-base"),
        pytest.param(
            "aarch64",
            {"DEPLOY_KERNEL_URL_AARCH64": "http://example.com/kernel-aarch64"},
            "kernel-aarch64",
            "ramdisk",
            id="only-kernel-per-arch",
        ),
        pytest.param(
            "aarch64",
            {
                "DEPLOY_KERNEL_BY_ARCH": "x86_64:http://example.com/kernel-x86,"
                "aarch64:http://example.com/kernel-aarch64",
                "DEPLOY_RAMDISK_BY_ARCH": "x86_64:http://example.com/ramdisk-x86,"
                "aarch64:http://example.com/ramdisk-aarch64",
            },
            "kernel-aarch64",
            "ramdisk-aarch64",
            id="by-arch-variables",
        ),
        pytest.param(
            "aarch64",
            {
                "DEPLOY_KERNEL_URL_AARCH64": "http://example.com/kernel-per-arch",
                "DEPLOY_KERNEL_BY_ARCH": "aarch64:http://example.com/kernel-by-arch",
                "DEPLOY_RAMDISK_URL_AARCH64": "http://example.com/ramdisk-per-arch",
                "DEPLOY_RAMDISK_BY_ARCH": "aarch64:http://example.com/ramdisk-by-arch",
            },
            "kernel-per-arch",
            "ramdisk-per-arch",
            id="per-arch-beats-by-arch",
        ),
        pytest.param(
            "ppc64le",
            {"DEPLOY_KERNEL_BY_ARCH": "x86_64:http://example.com/k-x86,aarch64:http://e/k"},
            "kernel",
            "ramdisk",
            id="by-arch-without-this-arch",
        ),
        pytest.param(
            "aarch64",
            {"DEPLOY_KERNEL_URL_AARCH64": "", "DEPLOY_KERNEL_BY_ARCH": "aarch64:http://e/k-by"},
            "k-by",
            "ramdisk",
            id="empty-per-arch-counts-as-unset",
        ),
    ],
)
def test_initrd_image_per_architecture(
    arch: str, env: dict[str, str], kernel: str, ramdisk: str
) -> None:
    settings = DeployImageSettings.from_environ({**BASE, **env})
    image = settings.build_image("initrd", arch)
    assert image.kernel_url.rsplit("/", 1)[1] == kernel
    assert image.image_url.rsplit("/", 1)[1] == ramdisk
    assert image.extra_kernel_params == ""


@pytest.mark.parametrize(
    ("arch", "env", "expected"),
    [
        ("x86_64", {}, "http://example.com/image.iso"),
        (
            "aarch64",
            {"DEPLOY_ISO_URL_AARCH64": "http://example.com/image-aarch64.iso"},
            "http://example.com/image-aarch64.iso",
        ),
        ("aarch64", {}, "http://example.com/image.iso"),
        (
            "AArch64",
            {"DEPLOY_ISO_BY_ARCH": "aarch64:http://example.com/by-arch.iso"},
            "http://example.com/by-arch.iso",
        ),
    ],
)
def test_iso_image_per_architecture(arch: str, env: dict[str, str], expected: str) -> None:
    settings = DeployImageSettings.from_environ({"DEPLOY_ISO_URL": "http://example.com/image.iso"})
    settings = DeployImageSettings.from_environ({**settings.variables, **env})
    assert settings.build_image("iso", arch) == GeneratedImage(image_url=expected)


@pytest.mark.parametrize(
    ("value", "arch", "expected"),
    [
        ("x86_64:http://e/kernel-x86,aarch64:http://e/kernel-arm", "x86_64", "http://e/kernel-x86"),
        (
            "x86_64:http://e/kernel-x86,aarch64:http://e/kernel-arm",
            "aarch64",
            "http://e/kernel-arm",
        ),
        ("x86_64:http://e/kernel-x86,aarch64:http://e/kernel-arm", "ppc64le", ""),
        ("", "x86_64", ""),
        ("x86_64:http://e/kernel-x86", "", ""),
        ("aarch64:http://e/kernel-arm", "aarch64", "http://e/kernel-arm"),
        (
            "x86_64:file:///shared/html/images/ipa_x86.kernel,"
            "aarch64:file:///shared/html/images/ipa_arm64.kernel",
            "aarch64",
            "file:///shared/html/images/ipa_arm64.kernel",
        ),
        ("AARCH64:http://e/kernel-arm", "aarch64", "http://e/kernel-arm"),
        # Nothing is trimmed, as upstream: a space before the arch is part of it.
        ("x86_64:http://e/a, aarch64:http://e/b", "aarch64", ""),
        ("aarch64", "aarch64", ""),
    ],
)
def test_lookup_by_arch(value: str, arch: str, expected: str) -> None:
    assert lookup_by_arch(value, arch) == expected


def test_for_architecture_gives_all_three() -> None:
    settings = DeployImageSettings.from_environ(
        {
            **BASE,
            "DEPLOY_ISO_URL": "http://example.com/iso",
            "DEPLOY_ISO_URL_AARCH64": "http://example.com/iso-arm",
            "PATH": "/usr/bin",
            "IRONIC_PASSWORD": "not-kept",
        }
    )
    assert settings.for_architecture("aarch64") == DeployImages(
        kernel="http://example.com/kernel",
        ramdisk="http://example.com/ramdisk",
        iso="http://example.com/iso-arm",
    )
    assert set(settings.variables) == {
        "DEPLOY_KERNEL_URL",
        "DEPLOY_RAMDISK_URL",
        "DEPLOY_ISO_URL",
        "DEPLOY_ISO_URL_AARCH64",
    }
    assert DeployImageSettings().for_architecture("x86_64") == DeployImages()


def test_supported_formats_depend_on_the_base_variables_only() -> None:
    assert DeployImageSettings.from_environ(BASE).supports_format("initrd")
    only_ramdisk = DeployImageSettings.from_environ({"DEPLOY_RAMDISK_URL": "http://e/r"})
    assert not only_ramdisk.supports_format("initrd")
    per_arch_only = DeployImageSettings.from_environ({"DEPLOY_ISO_URL_AARCH64": "http://e/i"})
    assert not per_arch_only.supports_format("iso")
    assert not per_arch_only.supports_any_format()
    iso = DeployImageSettings.from_environ({"DEPLOY_ISO_URL": "http://e/i"})
    assert iso.supports_format("iso") and not iso.supports_format("initrd")
    assert iso.supports_any_format()
    assert not iso.supports_format("qcow2")


def test_unknown_format_is_an_invalid_build() -> None:
    with pytest.raises(ImageBuildInvalid) as info:
        DeployImageSettings.from_environ(BASE).build_image("qcow2", "x86_64")
    assert str(info.value) == 'unsupported image format "qcow2"'
