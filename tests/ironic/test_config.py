"""IronicConfig.from_env: the Go operator's variables, files and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmo.ironic.config import (
    BasicAuth,
    ForcePersistentBootDevice,
    IronicConfig,
    IronicConfigError,
    parse_duration,
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A minimal environment whose file defaults all point into an empty tmp dir (the CA
    bundle is left unset: set, it must exist)."""
    return {
        "IRONIC_ENDPOINT": "http://127.0.0.1:6385/v1/",
        "METAL3_AUTH_ROOT_DIR": str(tmp_path / "auth"),
        "IRONIC_CLIENT_CERT_FILE": str(tmp_path / "certs/client.crt"),
        "IRONIC_CLIENT_PRIVATE_KEY_FILE": str(tmp_path / "certs/client.key"),
    }


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(env: dict[str, str]) -> None:
    config = IronicConfig.from_env(env)
    assert config.endpoint == "http://127.0.0.1:6385"
    assert config.api_url == "http://127.0.0.1:6385/v1/"
    assert config.auth is None
    assert config.tls.ca_file is None
    assert not config.tls.mutual
    assert (config.timeout, config.cache_ttl, config.provisioning_limit) == (30.0, 5.0, 20)
    assert config.deploy_kernel_url is None
    assert config.live_iso_force_persistent_boot_device is ForcePersistentBootDevice.DEFAULT
    assert config.provisioning_network_disabled is False


@pytest.mark.parametrize(
    ("raw", "endpoint"),
    [
        ("http://127.0.0.1:6385/v1/", "http://127.0.0.1:6385"),
        ("http://127.0.0.1:6385/v1", "http://127.0.0.1:6385"),
        ("http://127.0.0.1:6385/", "http://127.0.0.1:6385"),
        ("http://127.0.0.1:6385", "http://127.0.0.1:6385"),
        ("https://[::1]:6385/baremetal/v1/", "https://[::1]:6385/baremetal"),
        ("  https://ironic.example/  ", "https://ironic.example"),
    ],
)
def test_endpoint_normalised(env: dict[str, str], raw: str, endpoint: str) -> None:
    env["IRONIC_ENDPOINT"] = raw
    config = IronicConfig.from_env(env)
    assert config.endpoint == endpoint
    assert config.api_url == endpoint + "/v1/"


@pytest.mark.parametrize("raw", ["", "127.0.0.1:6385", "ftp://host/", "http:///v1"])
def test_bad_endpoint_names_the_variable(env: dict[str, str], raw: str) -> None:
    env["IRONIC_ENDPOINT"] = raw
    with pytest.raises(IronicConfigError, match="IRONIC_ENDPOINT"):
        IronicConfig.from_env(env)


def test_endpoint_with_credentials_is_rejected_without_echoing_them(env: dict[str, str]) -> None:
    env["IRONIC_ENDPOINT"] = "http://admin:hunter2@127.0.0.1:6385/v1/"
    with pytest.raises(IronicConfigError, match="IRONIC_ENDPOINT") as info:
        IronicConfig.from_env(env)
    assert "hunter2" not in str(info.value)


def test_auth_files_are_read_and_trimmed(env: dict[str, str]) -> None:
    root = Path(env["METAL3_AUTH_ROOT_DIR"])
    write(root / "ironic/username", "admin\n")
    write(root / "ironic/password", "  s3cret-value \n")
    config = IronicConfig.from_env(env)
    assert config.auth == BasicAuth("admin", "s3cret-value")
    assert "s3cret-value" not in repr(config)
    assert "s3cret-value" not in repr(config.auth)
    assert "admin" in repr(config.auth)


@pytest.mark.parametrize(
    ("files", "missing"),
    [
        ({"username": "admin"}, "password"),
        ({"password": "pw"}, "username"),
        ({"username": "admin", "password": "  \n"}, "password"),
        ({"username": "", "password": "pw"}, "username"),
        ({}, "username"),
    ],
)
def test_auth_dir_present_but_incomplete_is_an_error(
    env: dict[str, str], files: dict[str, str], missing: str
) -> None:
    directory = Path(env["METAL3_AUTH_ROOT_DIR"]) / "ironic"
    directory.mkdir(parents=True)
    for name, text in files.items():
        write(directory / name, text)
    with pytest.raises(IronicConfigError, match=f"{missing} file .* is missing or empty") as info:
        IronicConfig.from_env(env)
    assert "METAL3_AUTH_ROOT_DIR" in str(info.value)
    assert "pw" not in str(info.value).replace("password", "")


def test_auth_root_present_without_ironic_dir_means_no_auth(env: dict[str, str]) -> None:
    Path(env["METAL3_AUTH_ROOT_DIR"]).mkdir()
    assert IronicConfig.from_env(env).auth is None


def test_tls_files(env: dict[str, str], tmp_path: Path) -> None:
    env["IRONIC_CACERT_FILE"] = str(write(tmp_path / "certs/ca.crt", "ca"))
    config = IronicConfig.from_env(env)
    assert config.tls.ca_file == env["IRONIC_CACERT_FILE"]
    assert config.tls.client_cert_file is None

    write(Path(env["IRONIC_CLIENT_CERT_FILE"]), "cert")
    config = IronicConfig.from_env(env)
    assert not config.tls.mutual  # a certificate without its key is ignored
    assert config.tls.client_cert_file is None

    write(Path(env["IRONIC_CLIENT_PRIVATE_KEY_FILE"]), "key")
    config = IronicConfig.from_env(env)
    assert config.tls.mutual
    assert config.tls.client_cert_file == env["IRONIC_CLIENT_CERT_FILE"]
    assert config.tls.client_key_file == env["IRONIC_CLIENT_PRIVATE_KEY_FILE"]


def test_tls_flags(env: dict[str, str]) -> None:
    env["IRONIC_INSECURE"] = "TRUE"
    env["IRONIC_SKIP_CLIENT_SAN_VERIFY"] = "True"
    config = IronicConfig.from_env(env)
    assert config.tls.insecure
    assert config.tls.skip_client_san_verify
    env["IRONIC_INSECURE"] = "false"
    assert not IronicConfig.from_env(env).tls.insecure


@pytest.mark.parametrize("name", ["IRONIC_INSECURE", "PROVISIONING_NETWORK_DISABLED"])
def test_bad_boolean_names_the_variable(env: dict[str, str], name: str) -> None:
    env[name] = "yes please"
    with pytest.raises(IronicConfigError, match=f'{name}=.*use "true" or "false"'):
        IronicConfig.from_env(env)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("2h45m", 9900.0),
        ("100us", 0.0001),
        ("0", 0.0),
        ("0s", 0.0),
        ("45", 45.0),
        ("2.5", 2.5),
        ("+10s", 10.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "10x", "1m30", "-5s", "-1", "ten seconds", "inf"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_from_env(env: dict[str, str]) -> None:
    env["IRONIC_CLIENT_TIMEOUT"] = "1m"
    env["IRONIC_CLIENT_CACHE_TTL"] = "0"
    config = IronicConfig.from_env(env)
    assert config.timeout == 60.0
    assert config.cache_ttl == 0.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IRONIC_CLIENT_TIMEOUT", "soon"),
        ("IRONIC_CLIENT_TIMEOUT", "0s"),
        ("IRONIC_CLIENT_CACHE_TTL", "5 s"),
        ("PROVISIONING_LIMIT", "0"),
        ("PROVISIONING_LIMIT", "twenty"),
        ("LIVE_ISO_FORCE_PERSISTENT_BOOT_DEVICE", "Sometimes"),
        ("DIRECT_DEPLOY_FORCE_PERSISTENT_BOOT_DEVICE", "yes"),
        ("DEPLOY_ISO_URL", "not a url"),
        ("IRONIC_EXTERNAL_URL_V6", "[fd00::1]:8080"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str, value: str) -> None:
    env[name] = value
    with pytest.raises(IronicConfigError, match=name):
        IronicConfig.from_env(env)


def test_other_settings(env: dict[str, str]) -> None:
    env.update(
        PROVISIONING_LIMIT="5",
        DEPLOY_KERNEL_URL="http://127.0.0.1/ipa.kernel",
        DEPLOY_RAMDISK_URL="http://127.0.0.1/ipa.initramfs",
        DEPLOY_ISO_URL="http://127.0.0.1/ipa.iso",
        LIVE_ISO_FORCE_PERSISTENT_BOOT_DEVICE="Never",
        DIRECT_DEPLOY_FORCE_PERSISTENT_BOOT_DEVICE="always",
        IRONIC_EXTERNAL_URL_V6="http://[fd00::1]:6180",
        PROVISIONING_NETWORK_DISABLED="true",
    )
    config = IronicConfig.from_env(env)
    assert config.provisioning_limit == 5
    assert config.deploy_kernel_url == "http://127.0.0.1/ipa.kernel"
    assert config.deploy_ramdisk_url == "http://127.0.0.1/ipa.initramfs"
    assert config.deploy_iso_url == "http://127.0.0.1/ipa.iso"
    assert config.live_iso_force_persistent_boot_device is ForcePersistentBootDevice.NEVER
    assert config.direct_deploy_force_persistent_boot_device is ForcePersistentBootDevice.ALWAYS
    assert config.external_url_v6 == "http://[fd00::1]:6180"
    assert config.provisioning_network_disabled


def test_ramdisk_without_kernel_is_an_error(env: dict[str, str]) -> None:
    env["DEPLOY_RAMDISK_URL"] = "http://127.0.0.1/ipa.initramfs"
    with pytest.raises(IronicConfigError, match="DEPLOY_KERNEL_URL"):
        IronicConfig.from_env(env)
    with pytest.raises(IronicConfigError, match="DEPLOY_KERNEL_URL"):
        IronicConfig.from_env(env, preprov_image_builder=True)


def test_kernel_without_ramdisk_needs_the_image_builder(env: dict[str, str]) -> None:
    env["DEPLOY_KERNEL_URL"] = "http://127.0.0.1/ipa.kernel"
    with pytest.raises(IronicConfigError, match="DEPLOY_RAMDISK_URL"):
        IronicConfig.from_env(env)
    config = IronicConfig.from_env(env, preprov_image_builder=True)
    assert config.deploy_kernel_url == "http://127.0.0.1/ipa.kernel"
    assert config.deploy_ramdisk_url is None


def test_config_is_frozen(env: dict[str, str]) -> None:
    config = IronicConfig.from_env(env)
    with pytest.raises(AttributeError):
        config.timeout = 1.0  # type: ignore[misc]


def test_a_cacert_file_that_is_set_must_exist(env: dict[str, str], tmp_path: Path) -> None:
    """A typo in IRONIC_CACERT_FILE used to mean "trust the system CAs" without a word."""
    env["IRONIC_CACERT_FILE"] = str(tmp_path / "certs/typo.crt")
    with pytest.raises(IronicConfigError, match=r"IRONIC_CACERT_FILE=.*typo\.crt.*does not exist"):
        IronicConfig.from_env(env)


def test_basic_auth_over_http_warns_once(env: dict[str, str], tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    from bmo.ironic.config import plaintext_credentials_warning
    from bmo.ironic.connection import build_connection

    write(tmp_path / "auth/ironic/username", "bmo")
    write(tmp_path / "auth/ironic/password", "hunter2-secret")
    env["IRONIC_ENDPOINT"] = "http://127.0.0.9:16385/v1/"
    config = IronicConfig.from_env(env)
    message = plaintext_credentials_warning(config)
    assert message is not None and "unencrypted" in message and "hunter2" not in message
    with capture_logs() as logs:
        build_connection(config)
        build_connection(config)
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1 and "unencrypted" in warnings[0]["event"]
    assert "hunter2" not in str(logs)


@pytest.mark.parametrize("endpoint", ["https://127.0.0.1:6385/v1/", "http://127.0.0.1:6385/v1/"])
def test_no_warning_over_https_or_without_credentials(
    env: dict[str, str], tmp_path: Path, endpoint: str
) -> None:
    from bmo.ironic.config import plaintext_credentials_warning

    env["IRONIC_ENDPOINT"] = endpoint
    if endpoint.startswith("https"):
        write(tmp_path / "auth/ironic/username", "bmo")
        write(tmp_path / "auth/ironic/password", "pw")
    assert plaintext_credentials_warning(IronicConfig.from_env(env)) is None
