"""The test tooling's throwaway CA: its validity window, from the wall clock or a given start."""

from __future__ import annotations

import datetime

from certmgr.testing.throwaway_ca import ThrowawayCA

UTC = datetime.UTC


def test_a_given_start_is_the_validity_window() -> None:
    start = datetime.datetime(2040, 1, 1, tzinfo=UTC)
    ca = ThrowawayCA.create("r", validity=datetime.timedelta(days=10), not_before=start)
    assert ca.certificate.not_valid_before_utc == start
    assert ca.certificate.not_valid_after_utc == start + datetime.timedelta(days=10)


def test_without_a_start_it_is_valid_now() -> None:
    ca = ThrowawayCA.create("r", validity=datetime.timedelta(days=1))
    now = datetime.datetime.now(UTC)
    assert ca.certificate.not_valid_before_utc < now < ca.certificate.not_valid_after_utc
