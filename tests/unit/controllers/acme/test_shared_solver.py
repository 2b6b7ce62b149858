"""The shared solver answers a Challenge's token until the Challenge is final."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.controllers.acme.shared_solver import is_not_final
from certmgr.runtime.cache import Cache
from solvers import ChallengeCacheSource


def challenge(state: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "c", "namespace": "default", "resourceVersion": "1"},
        "spec": {"type": "HTTP-01", "token": "tok", "key": "tok.thumb", "dnsName": "a.example"},
    }
    if state is not None:
        obj["status"] = {"state": state}
    return obj


@pytest.mark.parametrize(
    ("state", "answered"),
    [(None, True), ("pending", True), ("processing", True), ("valid", False), ("invalid", False)],
    ids=["no-status", "pending", "processing", "valid", "invalid"],
)
def test_final_challenges_are_not_answered(state: str | None, answered: bool) -> None:
    cache = Cache()
    cache.apply("ADDED", challenge(state))
    source = ChallengeCacheSource(cache, answers=is_not_final)
    assert source.lookup("a.example", "tok") == ("tok.thumb" if answered else None)
