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
    args, warnings = translate(
        ["-enable-leader-election", "-hostclaims", "-tls-cipher-suites", "X,Y", "-zap-devel"]
    )
    assert args == ["--enable-leader-election"]
    assert [w.split(":")[1].strip() for w in warnings] == [
        "ignoring -hostclaims",
        "ignoring -tls-cipher-suites",
        "ignoring -zap-devel",
    ]


def test_bad_boolean_value_is_left_for_the_parser_to_reject() -> None:
    assert translate(["-dev=maybe"]) == (["-dev=maybe"], [])


def test_unknown_flag_still_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    from bmo.compat import main

    with pytest.raises(SystemExit) as exc:
        main(["-no-such-flag"])
    assert exc.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err
