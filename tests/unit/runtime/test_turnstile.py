"""Turnstile: at most ``per_turn`` reconciles start per turn of the loop, in order."""

from __future__ import annotations

import asyncio

import pytest

from certmgr.runtime.turnstile import Turnstile, for_loop


async def turns_until_all_pass(workers: int, per_turn: int, *, try_first: bool) -> list[list[int]]:
    """Which workers passed in each turn of the loop (a turn: one ``_run_once``);
    ``try_first``: as the controller's workers do, ``try_pass`` before ``enter``."""
    loop = asyncio.get_running_loop()
    gate = Turnstile(loop, per_turn=per_turn)
    passed: list[int] = []
    by_turn: list[list[int]] = []

    async def worker(n: int) -> None:
        if not (try_first and gate.try_pass()):
            await gate.enter()
        passed.append(n)

    tasks = [asyncio.create_task(worker(n)) for n in range(workers)]
    while not all(t.done() for t in tasks):
        before = len(passed)
        await asyncio.sleep(0)  # one turn
        by_turn.append(passed[before:])
    return [turn for turn in by_turn if turn]


@pytest.mark.parametrize("try_first", [False, True], ids=["enter", "try-pass-first"])
@pytest.mark.parametrize(
    ("workers", "per_turn"),
    [
        pytest.param(3, 8, id="fewer-than-a-turn"),
        pytest.param(20, 8, id="three-turns"),
        pytest.param(100, 8, id="many"),
    ],
)
async def test_no_turn_lets_more_than_its_share_through_and_all_pass_in_order(
    workers: int, per_turn: int, try_first: bool
) -> None:
    turns = await turns_until_all_pass(workers, per_turn, try_first=try_first)
    assert [n for turn in turns for n in turn] == list(range(workers))
    assert max(len(turn) for turn in turns) <= per_turn


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    gate = Turnstile(asyncio.get_running_loop(), per_turn=1)
    first, waiting, after = (asyncio.create_task(gate.enter()) for _ in range(3))
    await asyncio.sleep(0)  # first passes; the other two wait for later turns
    assert first.done() and not waiting.done() and not after.done()
    waiting.cancel()
    await asyncio.wait_for(after, timeout=5)
    assert waiting.cancelled()


async def test_try_pass_refuses_once_the_turn_is_full_until_the_next_turn() -> None:
    gate = Turnstile(asyncio.get_running_loop(), per_turn=2)
    assert [gate.try_pass(), gate.try_pass(), gate.try_pass()] == [True, True, False]
    await asyncio.sleep(0)  # the next turn
    assert gate.try_pass() is True


async def test_one_turnstile_per_loop() -> None:
    assert for_loop() is for_loop()
