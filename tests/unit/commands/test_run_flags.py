"""``certmgr run``'s flags reach the controllers' Settings, and bad values are refused."""

from __future__ import annotations

import argparse

import pytest

from certmgr.app import configure, settings_from
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
