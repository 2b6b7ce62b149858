"""The two-generation memo: no size bound, entries not asked for within two periods go."""

from __future__ import annotations

import pytest

from certmgr.memo import Generations, Memo, every_memo, memo, pem_digest


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def counting(clock: Clock, *, idle_seconds: float = 10.0) -> tuple[Memo[[int], int], list[int]]:
    calls: list[int] = []

    def square(n: int) -> int:
        calls.append(n)
        return n * n

    return Memo(square, idle_seconds=idle_seconds, clock=clock), calls


def test_more_objects_than_any_old_bound_are_all_kept() -> None:
    squares, calls = counting(Clock())
    for _ in range(2):  # two passes over 20,000 objects: each computed once
        for n in range(20_000):
            assert squares(n) == n * n
    assert len(calls) == 20_000
    assert len(squares) == 20_000


@pytest.mark.parametrize(
    ("asked_at", "recomputed"),
    [
        pytest.param([], True, id="not-asked-for-two-periods-dropped"),
        pytest.param([9.0, 18.0], False, id="asked-every-period-kept"),
        pytest.param([18.0], False, id="asked-in-the-previous-period-kept"),
    ],
)
def test_entries_live_while_they_are_asked_for(asked_at: list[float], recomputed: bool) -> None:
    clock = Clock()
    squares, calls = counting(clock, idle_seconds=10.0)
    squares(7)
    # Other keys asked at 11 and 22 turn the generations (10 s periods).
    for at in sorted([*asked_at, 11.0, 22.0]):
        clock.now = at
        squares(7 if at in asked_at else int(at))
    calls.clear()
    squares(7)
    assert calls == ([7] if recomputed else [])


def test_exceptions_are_not_memoised() -> None:
    calls: list[str] = []

    @memo()
    def parse(text: str) -> int:
        calls.append(text)
        return int(text)

    for _ in range(2):
        with pytest.raises(ValueError):
            parse("x")
    assert calls == ["x", "x"]
    assert parse(text="3") == 3 and parse(text="3") == 3
    assert calls == ["x", "x", "3"]


def test_a_key_function_replaces_the_arguments_as_key() -> None:
    calls: list[bytes] = []

    @memo(key=pem_digest)
    def length(pem: bytes) -> int:
        calls.append(pem)
        return len(pem)

    assert length(b"-----BEGIN X-----") == length(b"-----BEGIN X-----")
    assert len(calls) == 1
    assert len(length) == 1
    length.clear()
    assert len(length) == 0


@pytest.mark.parametrize(
    ("asked_at", "peeked_at", "found"),
    [
        pytest.param(None, 0.0, None, id="never-computed-none"),
        pytest.param(0.0, 1.0, 49, id="current-generation-found"),
        pytest.param(0.0, 11.0, 49, id="previous-generation-found"),
        pytest.param(0.0, 22.0, None, id="dropped-after-two-periods-none"),
    ],
)
def test_peek_reads_an_entry_without_computing_or_keeping_one(
    asked_at: float | None, peeked_at: float, found: int | None
) -> None:
    clock = Clock()
    squares, calls = counting(clock, idle_seconds=10.0)
    if asked_at is not None:
        clock.now = asked_at
        squares(7)
    # Other keys asked at 11 and 22 turn the generations (10 s periods).
    for at in (11.0, 22.0):
        if at <= peeked_at:
            clock.now = at
            squares(int(at))
    clock.now = peeked_at
    calls.clear()
    size = len(squares)
    assert squares.peek(7) == found
    assert calls == []
    assert len(squares) == size  # nothing added


@pytest.mark.parametrize(
    ("read_at", "kept"),
    [
        pytest.param([], False, id="not-read-for-two-periods-dropped"),
        pytest.param([9.0, 18.0], True, id="read-every-period-kept"),
        pytest.param([18.0], True, id="read-in-the-previous-period-kept"),
        pytest.param([5.0], False, id="read-early-then-idle-dropped"),
    ],
)
def test_generations_keep_an_entry_while_it_is_read(read_at: list[float], kept: bool) -> None:
    clock = Clock()
    store: Generations[str, int] = Generations(idle_seconds=10.0, clock=clock)
    store.put("a", 1)
    for at in sorted([*read_at, 11.0, 22.0]):
        clock.now = at
        if at in read_at:
            assert store.get("a") == 1
        else:
            store.turn_if_due()  # the periodic turn (gcpolicy.release_memos_forever)
    assert ("a" in store) is kept
    assert store.get("a") == (1 if kept else None)


def test_generations_put_replaces_and_pop_removes_from_either_generation() -> None:
    clock = Clock()
    store: Generations[str, int] = Generations(idle_seconds=10.0, clock=clock)
    store.put("a", 1)
    clock.now = 11.0
    store.turn_if_due()  # "a" is now in the previous generation
    store.put("a", 2)
    assert len(store) == 1 and store.get("a") == 2
    store.put("b", 3)
    clock.now = 22.0
    store.turn_if_due()
    assert store.pop("b") == 3 and store.pop("b") is None
    assert store.pop("a") == 2 and len(store) == 0


def test_generations_are_turned_with_the_memos() -> None:
    store: Generations[str, int] = Generations()
    assert any(each is store for each in every_memo())
