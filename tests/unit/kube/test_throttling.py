from __future__ import annotations

import asyncio

import pytest

from certmgr.kube.throttling import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.mark.parametrize(
    ("qps", "burst", "calls", "expected_waits"),
    [
        (10.0, 3, 3, [0.0, 0.0, 0.0]),
        (10.0, 2, 4, [0.0, 0.0, 0.1, 0.2]),
        (2.0, 1, 3, [0.0, 0.5, 1.0]),
        (0.0, 0, 5, [0.0] * 5),
    ],
    ids=["within-burst", "beyond-burst-queues", "slow-rate", "unlimited"],
)
async def test_waits_for_its_share(
    qps: float, burst: int, calls: int, expected_waits: list[float]
) -> None:
    time = FakeTime()
    bucket = TokenBucket(qps, burst, monotonic=time.monotonic, sleep=time.sleep)
    waits = [await bucket.acquire() for _ in range(calls)]
    assert waits == pytest.approx(expected_waits)


async def test_tokens_refill_with_time_up_to_burst() -> None:
    time = FakeTime()
    bucket = TokenBucket(10.0, 2, monotonic=time.monotonic, sleep=time.sleep)
    for _ in range(2):
        await bucket.acquire()
    time.now += 10.0  # long idle: refills to burst (2), not 100
    waits = [await bucket.acquire() for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.0, 0.1])


async def test_cancelled_waiter_returns_its_token() -> None:
    time = FakeTime()
    blocked = asyncio.Event()

    async def never(seconds: float) -> None:
        blocked.set()
        await asyncio.Event().wait()

    bucket = TokenBucket(1.0, 1, monotonic=time.monotonic, sleep=never)
    await bucket.acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await blocked.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    time.now += 1.0  # one token refilled; the cancelled reservation must not eat it
    bucket._sleep = time.sleep
    assert await bucket.acquire() == 0.0
