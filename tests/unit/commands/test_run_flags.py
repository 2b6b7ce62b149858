"""``certmgr run``'s flags reach the controllers' Settings, and bad values are refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from certmgr import __version__, cli, foreignflags, runflags
from certmgr.app import configure, settings_from
from certmgr.controllerflags import CERTMGR_CONTROLLERS
from certmgr.controllers.context import Settings
from certmgr.errors import UsageError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_the_settings_defaults() -> None:
    settings = settings_from(parse())
    assert settings.renewal_rate_qps == Settings().renewal_rate_qps
    assert settings.renewal_rate_burst == Settings().renewal_rate_burst
    assert settings.detailed_events is False
    assert settings.workers == Settings().workers


def test_renewal_pace_flags_reach_the_settings() -> None:
    settings = settings_from(parse("--renewal-rate-qps=2.5", "--renewal-rate-burst=7"))
    assert (settings.renewal_rate_qps, settings.renewal_rate_burst) == (2.5, 7)


@pytest.mark.parametrize(
    "argv",
    [["--renewal-rate-qps=0"], ["--renewal-rate-qps=-1"], ["--renewal-rate-burst=0"]],
    ids=["zero-qps", "negative-qps", "zero-burst"],
)
def test_a_pace_that_never_renews_is_refused(argv: list[str]) -> None:
    with pytest.raises(UsageError, match="renewal-rate"):
        settings_from(parse(*argv))


@pytest.mark.parametrize(
    ("argv", "owned"),
    [
        ([], False),
        (["--enable-certificate-owner-ref"], True),
        (["--no-enable-certificate-owner-ref"], False),
    ],
)
def test_certificate_owner_ref_flag_reaches_the_settings(argv: list[str], owned: bool) -> None:
    assert settings_from(parse(*argv)).enable_certificate_owner_ref is owned


def main_exit(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``certmgr ARGV`` in-process up to argument parsing: exit code and stderr."""
    with pytest.raises(SystemExit) as stopped:
        cli.build_parser(argv).parse_args(list(argv))
    return int(stopped.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["--leader-elect=false"], "leader_elect", False),
        (["--leader-elect=true"], "leader_elect", True),
        (["--leader-elect"], "leader_elect", True),
        (["--leader-elect", "false"], "leader_elect", False),
        (["--leader-elect=0"], "leader_elect", False),
        (["--no-leader-elect"], "leader_elect", False),
        (["--enable-certificate-owner-ref=true"], "enable_certificate_owner_ref", True),
        (["--enable-certificate-owner-ref=False"], "enable_certificate_owner_ref", False),
        (
            ["--acme-http01-solver-image=quay.io/jetstack/x:1"],
            "http01_solver_image",
            "quay.io/jetstack/x:1",
        ),
        (["--acme-http01-solver-image", "img:2"], "http01_solver_image", "img:2"),
        (["--logging-format=text"], "log_format", "console"),
        (["--logging-format=json"], "log_format", "json"),
        (["--log-format=console"], "log_format", "console"),
        (["--leader-election-namespace=kube-system"], "leader_election_namespace", "kube-system"),
        (["--leader-election-lease-duration=60s"], "leader_election_lease_duration", 60.0),
        (["--leader-election-renew-deadline=1m30s"], "leader_election_renew_deadline", 90.0),
        (["--leader-election-retry-period=250ms"], "leader_election_retry_period", 0.25),
        (["--leader-election-retry-period=3"], "leader_election_retry_period", 3.0),
        (
            ["--cluster-resource-namespace=cert-manager"],
            "cluster_resource_namespace",
            "cert-manager",
        ),
        (["--max-concurrent-challenges=5"], "max_concurrent_challenges", 5),
        (["--concurrent-workers=3"], "workers", 3),
        (["--metrics-listen-address=0.0.0.0:9402"], "metrics_address", "0.0.0.0:9402"),
        (["--internal-healthz-listen-address=:9403"], "health_address", ":9403"),
        (
            ["--acme-http01-solver-nameservers=10.0.0.10:53"],
            "http01_self_check_nameserver",
            "10.0.0.10:53",
        ),
        (["--dns01-check-retry-period=10s"], "http01_self_check_interval", 10.0),
        (
            ["--dns01-recursive-nameservers=10.0.0.1:53,[::1]:5353"],
            "dns01_recursive_nameservers",
            ["10.0.0.1:53", "[::1]:5353"],
        ),
        (["--dns01-recursive-nameservers-only"], "dns01_recursive_nameservers_only", True),
        (["--issuer-ambient-credentials"], "issuer_ambient_credentials", True),
        (
            ["--cluster-issuer-ambient-credentials=false"],
            "cluster_issuer_ambient_credentials",
            False,
        ),
        (["--certificate-request-minimum-backoff-duration=2h"], "issuance_backoff_base", 7200.0),
        (["--certificate-request-maximum-backoff-duration=32h"], "issuance_backoff_cap", 115200.0),
        (["--default-issuer-name=le"], "default_issuer_name", "le"),
        (["--default-issuer-kind=ClusterIssuer"], "default_issuer_kind", "ClusterIssuer"),
        (
            ["--auto-certificate-annotations=kubernetes.io/tls-acme"],
            "auto_certificate_annotations",
            "kubernetes.io/tls-acme",
        ),
        (["--controllers=*,-gateway-shim"], "controllers", "*,-gateway-shim"),
        (["--kubeconfig", "/k"], "kubeconfig", "/k"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_cert_manager_spellings_are_accepted(argv: list[str], dest: str, value: object) -> None:
    assert getattr(parse(*argv), dest) == value


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        ([], "info"),
        (["--v=2"], "info"),
        (["-v", "4"], "debug"),
        (["-v=1"], "warning"),
        (["--v", "0"], "error"),
        (["--v=5", "--log-level=info"], "info"),
    ],
    ids=["default", "v2", "v4", "v1", "v0", "log-level-wins"],
)
def test_verbosity_maps_to_a_log_level(argv: list[str], level: str) -> None:
    assert runflags.log_level(parse(*argv)) == level


@pytest.mark.parametrize(
    "argv",
    [
        ["--feature-gates=AdditionalCertificateOutputFormats=true"],
        ["--copied-annotation-prefixes", "a,b"],
        ["--acme-http01-solver-resource-request-cpu=10m"],
        ["--max-certificate-size=8192"],
    ],
    ids=["feature-gates", "space-value", "solver-resources", "pem-size"],
)
def test_harmless_cert_manager_flags_are_accepted_and_reported(argv: list[str]) -> None:
    ignored = parse(*argv).ignored_flags
    assert len(ignored) == 1
    assert ignored[0].startswith(argv[0].partition("=")[0] + ":")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["run", "--workers", "0"], "--workers"),
        (["run", "--workers=many"], "--workers"),
        (["run", "--max-concurrent-challenges=0"], "--max-concurrent-challenges"),
        (["run", "--leader-elect=maybe"], "--leader-elect"),
        (["run", "--no-leader-elect=false"], "--no-leader-elect"),
        (["run", "--leader-election-lease-duration=soon"], "--leader-election-lease-duration"),
        (["run", "--leader-election-retry-period=0s"], "--leader-election-retry-period"),
        (["run", "--http01-self-check-port=70000"], "--http01-self-check-port"),
        (["run", "--logging-format=xml"], "--logging-format"),
        (["run", "-v=-1"], "-v"),
        (["run", "--kube-api-qps=fast"], "--kube-api-qps"),
        (["run", "--controllers=certificates-tigger"], "--controllers"),
        (["run", "--controllers="], "--controllers"),
        (["run", "--auto-certificate-annotations=example.com/tls"], "--auto-certificate"),
        (["run", "--master=https://10.0.0.1"], "--master"),
        (["run", "--config=/etc/cm.yaml"], "--config"),
        (["run", "--enable-gateway-api=maybe"], "--enable-gateway-api"),
        (["run", "--enable-gateway-api-listenerset"], "--enable-gateway-api-listenerset"),
        (["run", "--acme-http01-solver-run-as-non-root=false"], "--acme-http01-solver-run"),
        (["run", "--metrics-tls-cert-file=/tls.crt"], "--metrics-tls-cert-file"),
        (["run", "--log-level=loud"], "--log-level"),
    ],
    ids=lambda value: value[1] if isinstance(value, list) else None,
)
def test_a_bad_value_is_one_usage_line_and_exit_2(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = main_exit(*argv, capsys=capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("certmgr run: error:")
    assert named in err


def test_an_unknown_flag_is_named_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "--no-such-flag=1"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "certmgr run: error: unknown flag --no-such-flag (see certmgr run --help)\n"
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"certmgr {__version__}\n"


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in (
        "(default: 0.0.0.0:9402)",
        "(default: 0.0.0.0:9403)",
        "(default: True)",
        f"(default: {Settings().workers})",
        f"(default: {Settings().solver_image})",
        "(default: shared)",
    ):
        assert shown in text


def test_every_cert_manager_flag_without_counterpart_is_documented() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "flags.md").read_text()
    for flag in foreignflags.FOREIGN_FLAGS:
        assert f"`--{flag.name}`" in text, flag.name


def test_the_args_of_cert_managers_helm_chart_start_certmgr() -> None:
    # deploy/charts/cert-manager/templates/deployment.yaml with its default values (the
    # kubelet has expanded $(POD_NAMESPACE)), plus the optional ones for owner references.
    args = parse(
        "--v=2",
        "--cluster-resource-namespace=cert-manager",
        "--leader-election-namespace=kube-system",
        "--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.20.3",
        "--max-concurrent-challenges=60",
        "--enable-certificate-owner-ref=true",
    )
    settings = settings_from(args)
    assert args.ignored_flags == []
    assert runflags.log_level(args) == "info"
    assert args.leader_election_namespace == "kube-system"
    assert settings.cluster_resource_namespace == "cert-manager"
    assert settings.solver_image == "quay.io/jetstack/cert-manager-acmesolver:v1.20.3"
    assert settings.max_concurrent_challenges == 60
    assert settings.enable_certificate_owner_ref is True


@pytest.mark.parametrize(
    ("value", "off"),
    [
        ("*", set()),
        ("*,-certificaterequests-approver", {"certificaterequests-approver"}),
        ("-certificaterequests-approver", {"certificaterequests-approver"}),  # "*" implied
        ("*,-gateway-shim", set()),  # one certmgr does not have
        (
            "certificates-trigger,certificates-issuing,-certificates-issuing",
            CERTMGR_CONTROLLERS - {"certificates-trigger"},
        ),
    ],
    ids=["all", "approver-off", "star-implied", "absent-off", "only-named"],
)
def test_controllers_turns_controllers_off(value: str, off: set[str]) -> None:
    # The chart's disableAutoApproval is "*,-certificaterequests-approver".
    settings = settings_from(parse(f"--controllers={value}"))
    assert settings.disabled_controllers == off
    assert settings.runs("certificaterequests-approver") is (
        "certificaterequests-approver" not in off
    )


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        ([], None),
        (
            [
                "--leader-election-lease-duration=60s",
                "--leader-election-renew-deadline=40s",
                "--leader-election-retry-period=15s",
            ],
            None,
        ),
        (["--leader-election-renew-deadline=20"], "renew-deadline"),
        (["--leader-election-retry-period=10"], "retry-period"),
        (["--leader-election-lease-duration=15.5"], "whole seconds"),
        (["--leader-elect=false", "--leader-election-renew-deadline=20"], None),
    ],
    ids=[
        "defaults",
        "cert-managers-defaults",
        "renew-beyond-lease",
        "retry-not-below-renew",
        "fractional-lease",
        "not-electing",
    ],
)
def test_leader_election_timings_must_nest(argv: list[str], problem: str | None) -> None:
    found = runflags.leader_election_problem(parse(*argv))
    assert (found is None) == (problem is None)
    if problem is not None:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("argv", "enabled"),
    [
        pytest.param((), True, id="on-by-default"),
        pytest.param(("--acme-renewal-info=false",), False, id="off"),
        pytest.param(("--acme-renewal-info",), True, id="bare"),
        # cert-manager's gate for the same thing is the same flag, the later one winning.
        pytest.param(("--feature-gates=ACMEUseARI=false",), False, id="gate-off"),
        pytest.param(("--feature-gates", "ACMEUseARI=true"), True, id="gate-on"),
        pytest.param(
            ("--feature-gates=ACMEUseARI=false", "--acme-renewal-info"), True, id="later-flag-wins"
        ),
        pytest.param(
            ("--acme-renewal-info=true", "--feature-gates=Other=true, ACMEUseARI=F"),
            False,
            id="later-gate-wins",
        ),
    ],
)
def test_acme_renewal_info_flag(argv: tuple[str, ...], enabled: bool) -> None:
    assert settings_from(parse(*argv)).acme_renewal_info is enabled


@pytest.mark.parametrize(
    ("argv", "gateway_api", "shim_runs"),
    [
        pytest.param([], False, False, id="off-by-default"),
        pytest.param(["--enable-gateway-api"], True, True, id="flag-turns-the-shim-on"),
        pytest.param(["--enable-gateway-api=true"], True, True, id="go-bool"),
        pytest.param(
            ["--enable-gateway-api", "--controllers=*,-gateway-shim"],
            True,
            False,
            id="the-solver-without-the-shim",
        ),
        pytest.param(
            ["--enable-gateway-api", "--controllers=-certificaterequests-approver"],
            True,
            True,
            id="star-implied-with-the-flag",
        ),
    ],
)
def test_enable_gateway_api(argv: list[str], gateway_api: bool, shim_runs: bool) -> None:
    settings = settings_from(parse(*argv))
    assert settings.enable_gateway_api is gateway_api
    assert (settings.enable_gateway_api and settings.runs("gateway-shim")) is shim_runs
    assert settings.runs("certificates-trigger")


def test_naming_the_gateway_shim_needs_the_flag() -> None:
    with pytest.raises(UsageError, match="gateway-shim runs only with --enable-gateway-api"):
        settings_from(parse("--controllers=*,gateway-shim"))
    assert settings_from(parse("--controllers=*,gateway-shim", "--enable-gateway-api")).runs(
        "gateway-shim"
    )


@pytest.mark.parametrize(
    ("argv", "ignored"),
    [
        pytest.param(("--feature-gates=ACMEUseARI=true",), [], id="ari-gate-is-not-ignored"),
        pytest.param(
            ("--feature-gates=ACMEUseARI=true,ExperimentalGatewayAPISupport=false",),
            ["--feature-gates: ExperimentalGatewayAPISupport: certmgr has no such feature gate"],
            id="only-the-others-are",
        ),
    ],
)
def test_feature_gates_warn_only_about_gates_without_a_setting(
    argv: tuple[str, ...], ignored: list[str]
) -> None:
    assert parse(*argv).ignored_flags == ignored


@pytest.mark.parametrize(
    "value", ["ACMEUseARI", "ACMEUseARI=yes"], ids=["missing-value", "not-a-bool"]
)
def test_a_malformed_feature_gate_is_a_usage_error(value: str) -> None:
    with pytest.raises(SystemExit):
        parse(f"--feature-gates={value}")
