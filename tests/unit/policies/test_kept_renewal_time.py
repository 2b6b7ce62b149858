"""An Input keeps the scheduled renewal time it was asked for (``now`` does not enter it),
and whatever it was asked for is the time computed afresh: for the Input itself, for a
copy at another ``now`` (``gather.at``), and for an Input changed in any field it is
computed from (``dataclasses.replace`` keeps nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certmgr.controllers.certificates.gather import at
from certmgr.policies.checks import issued_leaf, scheduled_renewal_time
from certmgr.policies.inputs import Input

from .conftest import NOW, World

D = timedelta(days=1)
ARI_START = datetime(2026, 4, 1, tzinfo=UTC)


def _fresh(input: Input) -> datetime | None:
    """The time computed on a copy that keeps nothing."""
    copy = replace(input)
    assert copy.renewal_kept is None
    leaf = issued_leaf(copy)
    assert leaf is not None
    return scheduled_renewal_time(copy, leaf)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"renew_before": 10 * D},
        {"renew_before_percentage": 50},
        {"renewal_jitter_seconds": 300},
        {"recorded_renewal_time": NOW + 58 * D},
        {"renewal_disabled": True},
        {"ari_window": (ARI_START, ARI_START + D)},
    ],
    ids=[
        "default",
        "renew-before",
        "renew-before-percentage",
        "jitter",
        "recorded",
        "disabled",
        "ari-window",
    ],
)
def test_the_kept_time_is_the_fresh_one(world: World, changes: dict[str, Any]) -> None:
    plain = world.input()
    leaf = issued_leaf(plain)
    assert leaf is not None
    first = scheduled_renewal_time(plain, leaf)  # kept on ``plain`` now

    changed = replace(plain, **changes)
    assert changed.renewal_kept is None
    assert scheduled_renewal_time(changed, leaf) == _fresh(changed)
    assert scheduled_renewal_time(plain, leaf) == first == _fresh(plain)

    later = at(changed, NOW + 30 * D)
    assert later.renewal_kept == changed.renewal_kept  # carried to the new ``now``
    assert scheduled_renewal_time(later, leaf) == _fresh(changed)


def test_another_leaf_is_not_answered_from_the_kept_time(world: World) -> None:
    input = world.input()
    leaf = issued_leaf(input)
    other = issued_leaf(
        world.input(secret=world.secret(certificate=world.certificate(lifetime=30 * D)))
    )
    assert leaf is not None and other is not None
    scheduled_renewal_time(input, leaf)

    assert scheduled_renewal_time(input, other) == _fresh(
        world.input(secret=world.secret(certificate=world.certificate(lifetime=30 * D)))
    )
