"""The Go operator's command line still starts bmo (drop-in image swaps)."""

from __future__ import annotations

import pytest

from bmo.compat import translate


@pytest.mark.parametrize(
    ("go_args", "bmo_args"),
    [
        (["-enable-leader-election"], ["--enable-leader-election"]),
        (["--enable-leader-election"], ["--enable-leader-election"]),
        (["-enable-leader-election=true"], ["--enable-leader-election"]),
        (["-enable-leader-election=false"], []),
        (["-namespace", "a,b"], ["--namespace", "a,b"]),
        (["-namespace=a"], ["--namespace=a"]),
        (["-metrics-addr=:8443", "-health-addr", ":9440"], ["--metrics-addr=:8443",
                                                            "--health-addr", ":9440"]),
        (["-webhook-port=0", "-dev"], ["--webhook-port=0", "--dev"]),
        (["-controller-concurrency", "4"], ["--controller-concurrency", "4"]),
    ],
)  # fmt: skip
def test_go_flags_become_bmo_flags(go_args: list[str], bmo_args: list[str]) -> None:
    assert translate(go_args) == (bmo_args, [])


def test_unsupported_upstream_flags_are_dropped_with_a_warning() -> None:
    args, warnings = translate(["-enable-leader-election", "-hostclaims", "-zap-devel"])
    assert args == ["--enable-leader-election"]
    assert [w.split(":")[1].strip() for w in warnings] == [
        "ignoring -hostclaims",
        "ignoring -zap-devel",
    ]


def test_tls_flags_are_passed_on_never_silently_ignored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """-tls-cipher-suites / -tls-curve-preferences are honoured by bmo run, or refused."""
    args, warnings = translate(["-tls-cipher-suites", "X,Y", "-tls-curve-preferences=CurveP256"])
    assert args == ["--tls-cipher-suites", "X,Y", "--tls-curve-preferences=CurveP256"]
    assert warnings == []
    from bmo.compat import main

    assert main(["-tls-cipher-suites", "TLS_RSA_WITH_RC4_128_SHA", "-webhook-port=0"]) == 2
    assert "--tls-cipher-suites" in capsys.readouterr().err


def test_bad_boolean_value_is_left_for_the_parser_to_reject() -> None:
    assert translate(["-dev=maybe"]) == (["-dev=maybe"], [])


def test_unknown_flag_still_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    from bmo.compat import main

    with pytest.raises(SystemExit) as exc:
        main(["-no-such-flag"])
    assert exc.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err
