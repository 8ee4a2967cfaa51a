"""Settings: flags and the Go operator's environment variables, validated at start."""

from __future__ import annotations

import pytest

from bmo.settings import Address, Settings, SettingsError, load, resolve_concurrency

IRONIC = {"IRONIC_ENDPOINT": "http://127.0.0.1:6385/v1/"}
"""The one variable ``--provisioner ironic`` (the default) cannot do without."""


def test_defaults_follow_the_go_operator() -> None:
    s = load([], IRONIC, cpu_count=4)
    assert s.manager.namespaces == ()
    assert s.manager.health_addr == Address("", 9440)
    assert s.manager.metrics_addr == Address("", 8443)
    assert s.manager.metrics_secure
    assert s.webhook is not None and s.webhook.port == 9443
    assert s.provisioner.name == "ironic"
    assert s.provisioner.ironic is not None
    assert s.provisioner.ironic.endpoint == "http://127.0.0.1:6385"
    assert s.provisioner.ironic.provisioning_limit == 20
    assert s.controller.max_provisioning_retries == 5
    assert (s.kube.qps, s.kube.burst) == (20.0, 30)
    assert s.kube.request_timeout == 60.0
    le = s.leader_election
    assert (le.enabled, le.lease_name) == (False, "baremetal-operator")
    assert (le.lease_duration, le.renew_deadline, le.retry_period) == (15.0, 10.0, 2.0)
    assert s.controller.concurrency == 4
    assert s.controller.development_drivers is False
    assert (s.logging.dev, s.logging.level) == (False, "info")


def test_the_defaults_of_a_bare_settings_value_are_the_loaded_defaults() -> None:
    """Each default is defined once: constructing the groups directly gives what loading no
    flags gives (apart from what depends on the machine or the environment)."""
    loaded = load(["--provisioner", "fixture"], {}, cpu_count=2)
    bare = Settings()
    assert bare.kube == loaded.kube
    assert bare.manager == loaded.manager
    assert bare.leader_election == loaded.leader_election
    assert bare.controller == loaded.controller
    assert bare.webhook == loaded.webhook
    assert bare.logging == loaded.logging


def test_settings_are_frozen() -> None:
    s = load(["--provisioner", "fixture"], {}, cpu_count=2)
    with pytest.raises(AttributeError):
        s.controller.concurrency = 9  # type: ignore[misc]
    with pytest.raises(AttributeError):
        s.controller = s.controller  # type: ignore[misc]


def test_fixture_provisioner_reads_no_ironic_settings_and_ironic_reports_them() -> None:
    s = load(["--provisioner", "fixture"], {}, cpu_count=2)
    assert s.provisioner.ironic is None
    with pytest.raises(SettingsError, match="IRONIC_ENDPOINT is not set"):
        load([], {}, cpu_count=2)
    with pytest.raises(SettingsError, match="PROVISIONING_LIMIT"):
        load([], {**IRONIC, "PROVISIONING_LIMIT": "none"}, cpu_count=2)


def test_webhook_flags_are_validated_with_the_rest_and_port_0_disables_it() -> None:
    s = load(["--provisioner", "fixture", "--webhook-port", "0", "--tls-min-version", "TLS13"], {})
    assert s.webhook is None
    s = load(
        ["--provisioner", "fixture", "--development-drivers", "--tls-min-version", "TLS13"], {}
    )
    assert s.webhook is not None and s.webhook.allow_development
    with pytest.raises(SettingsError, match="--tls-max-version"):
        load(["--provisioner", "fixture", "--tls-max-version", "SSL3"], {})


def test_pod_identity_comes_from_the_downward_api() -> None:
    s = load(["--provisioner", "fixture"], {"POD_NAME": "bmo-7f", "POD_NAMESPACE": "ops"})
    assert (s.pod.name, s.pod.namespace) == ("bmo-7f", "ops")


def test_environment_supplies_values_and_flags_win() -> None:
    env = {
        "WATCH_NAMESPACE": "a,b, a",
        "POD_NAMESPACE": "ops",
        "BMO_CONCURRENCY": "3",
        "LEASE_DURATION_SECONDS": "30",
        "RENEW_DEADLINE_SECONDS": "20",
        "RETRY_PERIOD_SECONDS": "4",
        "BMO_DEVELOPMENT_DRIVERS": "true",
        **IRONIC,
    }
    s = load(["--enable-leader-election"], env)
    assert s.manager.namespaces == ("a", "b")
    assert s.controller.concurrency == 3
    assert s.controller.development_drivers is True
    assert s.leader_election.namespace == "ops"
    assert (s.leader_election.lease_duration, s.leader_election.retry_period) == (30.0, 4.0)

    s = load(
        ["--namespace", "c", "--controller-concurrency", "7", "--lease-duration-seconds", "25"],
        env,
    )
    assert s.manager.namespaces == ("c",)
    assert s.controller.concurrency == 7
    assert s.leader_election.lease_duration == 25.0


@pytest.mark.parametrize(
    ("flag", "env", "cpus", "expected"),
    [
        (5, {"BMO_CONCURRENCY": "3"}, 4, 5),
        (0, {"BMO_CONCURRENCY": "3"}, 4, 3),
        (0, {}, 1, 2),
        (0, {}, 32, 8),
        (None, {}, 6, 6),
    ],
)
def test_concurrency_rule(flag: int | None, env: dict[str, str], cpus: int, expected: int) -> None:
    assert resolve_concurrency(flag, env, cpu_count=cpus) == expected


def test_leader_election_namespace_falls_back_to_the_single_watch_namespace() -> None:
    s = load(["--enable-leader-election", "--namespace", "metal"], IRONIC)
    assert s.leader_election.namespace == "metal"


def test_addresses_and_disabling_metrics() -> None:
    s = load(["--health-addr", "127.0.0.1:0", "--metrics-addr", "0"], IRONIC)
    assert s.manager.health_addr == Address("127.0.0.1", 0)
    assert s.manager.metrics_addr is None
    s = load(["--metrics-addr", "[::1]:9000"], IRONIC)
    assert s.manager.metrics_addr == Address("::1", 9000)
    assert str(s.manager.metrics_addr) == "[::1]:9000"


@pytest.mark.parametrize(
    ("argv", "env", "names"),
    [
        (["--controller-concurrency", "-1"], {}, "--controller-concurrency"),
        ([], {"BMO_CONCURRENCY": "lots"}, "BMO_CONCURRENCY"),
        ([], {"BMO_CONCURRENCY": "0"}, "BMO_CONCURRENCY"),
        (["--provisioner", "redfish"], {}, "--provisioner"),
        (["--webhook-port", "70000"], {}, "--webhook-port"),
        (["--health-addr", "9440"], {}, "--health-addr"),
        (["--health-addr", ":http"], {}, "--health-addr"),
        (["--namespace", "Bad_NS"], {}, "--namespace"),
        ([], {"LEASE_DURATION_SECONDS": "15s"}, "LEASE_DURATION_SECONDS"),
        (["--lease-duration-seconds", "70000"], {}, "--lease-duration-seconds"),
        (["--lease-duration-seconds", "10"], {}, "--renew-deadline-seconds"),
        (["--retry-period-seconds", "9"], {}, "--retry-period-seconds"),
        (["--enable-leader-election"], {}, "POD_NAMESPACE"),
        (["--enable-leader-election", "--namespace", "a,b"], {}, "POD_NAMESPACE"),
        (["--kube-api-qps", "0"], {}, "--kube-api-qps"),
        (["--kube-api-burst", "0"], {}, "--kube-api-burst"),
        (["--kube-api-timeout", "0"], {}, "--kube-api-timeout"),
        (["--metrics-insecure"], {}, "--metrics-insecure"),
        (["--metrics-insecure", "--metrics-addr", ":8080"], {}, "loopback"),
        (["--tls-cipher-suites", "TLS_RSA_WITH_RC4_128_SHA"], {}, "--tls-cipher-suites"),
        (["--tls-curve-preferences", "X25519"], {}, "--tls-curve-preferences"),
        (["--tls-curve-preferences", "CurveP256,CurveP384"], {}, "exactly one"),
        (["--max-provisioning-retries", "-2"], {}, "--max-provisioning-retries"),
        ([], {"BMO_DEVELOPMENT_DRIVERS": "maybe"}, "BMO_DEVELOPMENT_DRIVERS"),
        (["--controller-concurrency", "two"], {}, "--controller-concurrency"),
        (["--no-such-flag"], {}, "--no-such-flag"),
    ],
)
def test_invalid_values_name_the_flag_or_variable(
    argv: list[str], env: dict[str, str], names: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load(argv, env, cpu_count=2)
    assert names in str(info.value)


def test_bmo_run_reports_bad_settings_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from bmo.cli import main

    assert main(["run", "--controller-concurrency", "-3"]) == 2
    err = capsys.readouterr().err
    assert "--controller-concurrency" in err
    assert "positive" in err


def test_shards_select_hosts_by_label_and_get_their_own_lease() -> None:
    plain = load(["--provisioner", "fixture"], {})
    assert plain.controller.host_label_selector == ""
    assert plain.leader_election.lease_name == "baremetal-operator"

    shard_a = load(["--provisioner", "fixture", "--host-label-selector", "shard=a"], {})
    shard_b = load(["--provisioner", "fixture"], {"BMO_HOST_LABEL_SELECTOR": "shard in (b, c)"})
    assert shard_a.controller.host_label_selector == "shard=a"
    assert shard_b.controller.host_label_selector == "shard in (b, c)"
    names = {shard_a.leader_election.lease_name, shard_b.leader_election.lease_name}
    assert len(names) == 2 and all(n.startswith("baremetal-operator-") for n in names)
    # Stable across restarts: the same selector always elects through the same Lease.
    again = load(["--provisioner", "fixture", "--host-label-selector", "shard=a"], {})
    assert again.leader_election.lease_name == shard_a.leader_election.lease_name

    named = load(
        ["--provisioner", "fixture", "--host-label-selector", "shard=a"],
        {"BMO_LEADER_ELECTION_ID": "bmo-shard-a"},
    )
    assert named.leader_election.lease_name == "bmo-shard-a"


@pytest.mark.parametrize(
    ("argv", "env", "names"),
    [
        (["--host-label-selector", "shard=a=b"], {}, "--host-label-selector"),
        ([], {"BMO_HOST_LABEL_SELECTOR": "shard in (a"}, "BMO_HOST_LABEL_SELECTOR"),
        (["--leader-election-id", "Not_A_Name"], {}, "--leader-election-id"),
    ],
)
def test_bad_shard_settings_name_the_flag(argv: list[str], env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load(["--provisioner", "fixture", *argv], env)


def test_tls_cipher_suites_and_curve_are_parsed_into_one_policy() -> None:
    s = load(
        [
            "--tls-cipher-suites",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "--tls-curve-preferences",
            "CurveP384",
            "--metrics-insecure",
            "--metrics-addr",
            "127.0.0.1:8080",
        ],
        IRONIC,
    )
    assert s.manager.tls.cipher_suites == (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    )
    assert (
        s.manager.tls.openssl_ciphers == "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
    )
    assert s.manager.tls.curve_preferences == ("CurveP384",)
    assert not s.manager.metrics_secure


def test_build_preprov_image_flag_its_variable_and_the_go_spelling() -> None:
    from bmo.compat import translate

    assert load([], IRONIC).controller.build_preprov_image is False
    on = load(["--build-preprov-image"], IRONIC)
    assert on.controller.build_preprov_image is True
    assert load([], {**IRONIC, "BMO_BUILD_PREPROV_IMAGE": "true"}).controller.build_preprov_image
    # The Go operator's manifests pass -build-preprov-image; it is honoured, not dropped.
    assert translate(["-build-preprov-image"]) == (["--build-preprov-image"], [])
    assert translate(["-build-preprov-image=false"]) == ([], [])


def test_build_preprov_image_lets_the_kernel_come_without_a_ramdisk() -> None:
    """With an image builder the ramdisk comes from the built image (upstream
    ``pkg/provisioner/ironic`` config check), so ``DEPLOY_KERNEL_URL`` alone is fine."""
    env = {**IRONIC, "DEPLOY_KERNEL_URL": "http://127.0.0.1/ipa.kernel"}
    with pytest.raises(SettingsError, match="DEPLOY_RAMDISK_URL is not"):
        load([], env)
    s = load(["--build-preprov-image"], env)
    assert s.provisioner.ironic is not None
    assert s.provisioner.ironic.deploy_kernel_url == "http://127.0.0.1/ipa.kernel"
