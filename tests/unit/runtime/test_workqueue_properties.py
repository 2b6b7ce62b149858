"""Property test: under any interleaving of adds, delays, gets and dones, the work queue
never hands one key to two workers, never loses an add, and never hands out a key twice
for one add.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from certmgr.runtime.workqueue import WorkQueue
from certmgr.testing.clock import FakeClock, settle

KEYS = st.sampled_from(["a", "b", "c"])
WORKERS = st.integers(min_value=0, max_value=2)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS),
        st.tuples(st.just("add_after"), KEYS, st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("add_rate_limited"), KEYS),
        st.tuples(st.just("get"), WORKERS),
        st.tuples(st.just("done"), WORKERS),
        st.tuples(st.just("advance"), st.integers(min_value=1, max_value=3)),
    ),
    max_size=60,
)


async def run_ops(ops: list[tuple[object, ...]]) -> None:
    clock = FakeClock()
    queue = WorkQueue[str]("property", clock=clock)
    held: dict[int, str] = {}  # worker -> key it holds
    owed: set[str] = set()  # keys added (now) since they were last handed out
    delayed: set[str] = set()  # keys with a delayed add that may still fire

    async def get(worker: int) -> None:
        key = await queue.get()
        assert key not in held.values(), f"{key} handed to two workers at once"
        held[worker] = key
        owed.discard(key)

    for op in ops:
        match op:
            case ("add", str(key)):
                queue.add(key)
                owed.add(key)
            case ("add_after", str(key), int(delay)):
                queue.add_after(key, delay)
                (owed if delay == 0 else delayed).add(key)
            case ("add_rate_limited", str(key)):
                queue.add_rate_limited(key)
                delayed.add(key)
            case ("get", int(worker)) if worker not in held and len(queue):
                await get(worker)
            case ("done", int(worker)) if worker in held:
                queue.done(held.pop(worker))
            case ("advance", int(seconds)):
                await clock.run_for(seconds)

    for worker in list(held):
        queue.done(held.pop(worker))
    # Fire every pending delay (backoff here is at most 0.005 * 2**60 s, capped at 300 s).
    await clock.run_for(400)
    await settle()
    handed_out: list[str] = []
    while len(queue):
        key = await queue.get()
        handed_out.append(key)
        queue.done(key)
    assert len(handed_out) == len(set(handed_out)), "a key was queued twice (adds not merged)"
    assert owed <= set(handed_out), "an add was lost"
    assert set(handed_out) <= owed | delayed, "a key was handed out that nobody added"
    queue.shutdown()


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_interleavings_keep_the_queue_promises(ops: list[tuple[object, ...]]) -> None:
    asyncio.run(run_ops(ops))
