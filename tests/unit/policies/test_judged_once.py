"""The checks in ``TIMELESS`` are judged once per Input and shared with its copies at
other times (``gather.at``): their verdicts must not depend on ``now``, and a copy that
changed anything else (``dataclasses.replace``) judges afresh."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from certmgr.controllers.certificates.gather import at
from certmgr.policies.chains import (
    DEFAULT_TRIGGER_CHAIN,
    READINESS_CHAIN,
    evaluate,
    readiness,
)
from certmgr.policies.checks import TIMELESS

from .conftest import NOW, REQUIREMENTS, World

YEARS = timedelta(days=3650)


def _inputs(world: World) -> dict[str, dict[str, Any]]:
    """Inputs that violate each timeless check, and a healthy one."""
    return {
        "healthy": {},
        "manual": {"manually_triggered": True},
        "owned-by-another": {"secret_owner": "other"},
        "no-secret": {"secret": None},
        "other-key": {"secret": world.secret(key=world.keys(1))},
        "annotations": {"secret": world.secret(annotations={})},
        "request-changed": {
            "current_request": world.request(
                requirements=replace(REQUIREMENTS, common_name="other.example.com")
            )
        },
        "request-other-key": {"current_request": world.request(key=world.keys(2))},
    }


@pytest.mark.parametrize("shift", [-YEARS, YEARS], ids=["years-before", "years-after"])
def test_a_timeless_check_reads_no_time(world: World, shift: timedelta) -> None:
    for name, changes in _inputs(world).items():
        input = world.input(**changes)
        for check in TIMELESS:
            assert check(input) == check(replace(input, now=NOW + shift)), (name, check)


def test_a_copy_at_another_time_shares_the_verdicts(world: World) -> None:
    input = world.input(current_request=world.request(key=world.keys(2)))
    first = evaluate(input)
    assert first is not None
    later = at(input, NOW + timedelta(minutes=5))
    assert later.judged is input.judged
    assert evaluate(later) == first
    assert readiness(later) == readiness(world.input(**{"current_request": input.current_request}))


def test_a_changed_copy_judges_afresh(world: World) -> None:
    input = world.input(current_request=world.request(key=world.keys(2)))
    assert evaluate(input) is not None
    fixed = replace(input, current_request=world.request())
    assert fixed.judged is not input.judged
    assert evaluate(fixed) is None
    assert readiness(fixed).status


def test_every_chain_check_before_the_time_checks_is_timeless() -> None:
    # The checks that compare with ``now`` come last in both chains; everything before
    # them is judged once (a new check there must be marked @timeless or placed after).
    for chain in (DEFAULT_TRIGGER_CHAIN, READINESS_CHAIN):
        flags = [check in TIMELESS for check in chain]
        assert flags == sorted(flags, reverse=True)
        assert sum(flags) >= len(chain) - 4
