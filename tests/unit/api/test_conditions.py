"""Condition lists are edited as cert-manager edits them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from certmgr.api.conditions import (
    Condition,
    Status,
    get_condition,
    remove_condition,
    set_condition,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
READY_FALSE = {
    "type": "Ready",
    "status": "False",
    "reason": "DoesNotExist",
    "message": "Issuing certificate as Secret does not exist",
    "lastTransitionTime": "2026-01-01T12:00:00Z",
    "observedGeneration": 1,
}
ISSUING = {"type": "Issuing", "status": "True", "reason": "DoesNotExist", "message": "m"}


@pytest.mark.parametrize(
    ("status", "reason", "expected_time"),
    [
        pytest.param("False", "MissingData", "2026-01-01T12:00:00Z", id="same-status-keeps-time"),
        pytest.param("True", "Ready", "2026-01-01T13:00:00Z", id="status-change-moves-time"),
        pytest.param(Status.UNKNOWN, "Pending", "2026-01-01T13:00:00Z", id="to-unknown"),
    ],
)
def test_set_existing_condition(status: str, reason: str, expected_time: str) -> None:
    out = set_condition(
        [ISSUING, READY_FALSE],
        type_="Ready",
        status=status,
        reason=reason,
        message="new",
        observed_generation=2,
        now=T1,
    )
    assert out == [
        ISSUING,
        {
            "type": "Ready",
            "status": str(status),
            "reason": reason,
            "message": "new",
            "lastTransitionTime": expected_time,
            "observedGeneration": 2,
        },
    ]


@pytest.mark.parametrize(
    ("existing", "generation", "expected_keys"),
    [
        pytest.param(None, 3, {"observedGeneration"}, id="none-with-generation"),
        pytest.param([], None, set(), id="empty-without-generation"),
    ],
)
def test_set_new_condition_appends(
    existing: list[dict[str, Any]] | None, generation: int | None, expected_keys: set[str]
) -> None:
    out = set_condition(
        existing,
        type_="Approved",
        status="True",
        reason="cert-manager.io",
        message="Certificate request has been approved by cert-manager.io",
        observed_generation=generation,
        now=T0,
    )
    (only,) = out
    assert only["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert (
        set(only) - {"type", "status", "reason", "message", "lastTransitionTime"} == expected_keys
    )


def test_set_does_not_mutate_its_input() -> None:
    before = [dict(READY_FALSE)]
    set_condition(
        before,
        type_="Ready",
        status="True",
        reason="Ready",
        message="",
        observed_generation=1,
        now=T1,
    )
    assert before == [READY_FALSE]


def test_set_rejects_a_status_that_is_not_true_false_unknown() -> None:
    with pytest.raises(ValueError, match="Yes"):
        set_condition(
            [], type_="Ready", status="Yes", reason="", message="", observed_generation=1, now=T0
        )


def test_get_condition_parses_the_matching_entry() -> None:
    assert get_condition([ISSUING, READY_FALSE], "Ready") == Condition(
        type="Ready",
        status=Status.FALSE,
        reason="DoesNotExist",
        message="Issuing certificate as Secret does not exist",
        last_transition_time=T0,
        observed_generation=1,
    )


@pytest.mark.parametrize("conditions", [None, [], [ISSUING]], ids=["none", "empty", "other-types"])
def test_get_condition_missing(conditions: list[dict[str, Any]] | None) -> None:
    assert get_condition(conditions, "Ready") is None


def test_remove_condition() -> None:
    assert remove_condition([ISSUING, READY_FALSE], "Issuing") == [READY_FALSE]
    assert remove_condition(None, "Issuing") == []


def test_same_status_without_a_transition_time_gets_now() -> None:
    untimed = {k: v for k, v in READY_FALSE.items() if k != "lastTransitionTime"}
    (out,) = set_condition(
        [untimed],
        type_="Ready",
        status="False",
        reason="MissingData",
        message="m",
        observed_generation=1,
        now=T1,
    )
    assert out["lastTransitionTime"] == "2026-01-01T13:00:00Z"
