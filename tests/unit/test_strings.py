"""The string pool: equal strings shared, unused ones dropped, no call's work growing with
the pool (counted in entries, never timed)."""

from __future__ import annotations

import threading
from collections import deque

import pytest

from certmgr.strings import LOAD, PRUNE_EVERY, StringPool, share


def fresh(text: str) -> str:
    """An equal string that is a new object (not a code constant, not interned)."""
    return "".join(list(text))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("web-tls", id="name"),
        pytest.param("apps/web", id="key"),
        pytest.param("ünïcödé.example", id="non-ascii"),
        pytest.param("Q0EgY2VydGlmaWNhdGU=" * 200, id="long"),
    ],
)
def test_equal_strings_from_two_objects_are_one(text: str) -> None:
    pool = StringPool()
    first, second = fresh(text), fresh(text)
    assert first is not second

    assert pool.share(first) is first
    assert pool.share(second) is first
    assert share(fresh(text)) is share(fresh(text))


def test_many_strings_each_kept_once_and_found_again() -> None:
    pool = StringPool()
    kept = [pool.share(f"cert-{n}") for n in range(20_000)]

    assert len(pool) == 20_000
    assert all(pool.share(fresh(text)) is text for text in kept)
    assert len(pool) == 20_000


def test_the_pool_frees_what_nobody_uses() -> None:
    pool = StringPool()
    used = [pool.share(f"used-{n}") for n in range(1_000)]
    unused = [pool.share(f"gone-{n}") for n in range(1_000)]
    del unused

    assert pool.prune_all() == 1_000
    assert len(pool) == 1_000
    assert all(pool.share(fresh(text)) is text for text in used)


@pytest.mark.parametrize(
    "live", [pytest.param(1_000, id="1000-objects"), pytest.param(5_000, id="5000-objects")]
)
def test_objects_renamed_for_weeks_do_not_grow_the_pool(live: int) -> None:
    # Objects deleted and created under new names, one at a time, for 60 times as many
    # names as are alive at once; only the pool's own additions prune it (backed off
    # while the first names were all in use).
    pool = StringPool()
    names = deque(pool.share(f"cert-{n}") for n in range(live))
    largest = 0
    for n in range(live, 60 * live):
        names.popleft()
        names.append(pool.share(f"cert-{n}"))
        if n % 50 == 0:
            largest = max(largest, len(pool))

    assert largest <= 2 * live
    assert len(pool.shard_sizes()) <= 2 * live // LOAD + 1
    assert all(pool.share(fresh(text)) is text for text in names)


def test_no_call_looks_at_more_strings_as_the_pool_grows() -> None:
    # A split and a prune each look at one shard; shards stay near LOAD strings (up to
    # 2 x LOAD on average before their split) however many strings there are.
    pool = StringPool()
    kept: list[str] = []
    most_split = most_pruned = 0
    for n in range(200_000):
        kept.append(pool.share(f"cert-{n:07d}.namespace-{n % 10}.svc"))
        most_split = max(most_split, pool.last_split)
        most_pruned = max(most_pruned, pool.last_prune)

    sizes = pool.shard_sizes()
    assert len(sizes) >= 200_000 // LOAD
    assert max(sizes) <= 6 * LOAD
    assert most_split <= 6 * LOAD
    assert most_pruned <= 6 * LOAD


def test_prunes_back_off_while_every_string_is_in_use() -> None:
    # A start: every string added stays in use, so prunes find nothing and space out
    # (up to PRUNE_BACKOFF x PRUNE_EVERY additions apart); the first dead ones bring
    # them back to every PRUNE_EVERY additions.
    pool = StringPool()
    kept = [pool.share(f"cert-{n}") for n in range(100_000)]
    assert pool.pruned_seen <= 100_000 // 8

    del kept
    seen = pool.pruned_seen
    later = [pool.share(f"later-{n}") for n in range(20_000)]
    assert pool.pruned_seen - seen >= 20_000 // PRUNE_EVERY * LOAD // 2
    assert len(pool) < 100_000
    assert all(pool.share(fresh(text)) is text for text in later)


def test_threads_sharing_at_once_get_equal_strings_and_a_consistent_pool() -> None:
    # PKI parsing in worker threads shares names while the loop's thread does.
    pool = StringPool(load=4, prune_every=2)  # splits and prunes as often as can be
    texts = [f"cert-{n}" for n in range(20_000)]
    results: dict[int, list[str]] = {}

    def work(worker: int) -> None:
        results[worker] = [pool.share(fresh(text)) for text in texts]

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(results[worker] == texts for worker in range(4))
    kept = [pool.share(text) for text in texts]
    assert all(pool.share(fresh(text)) is text for text in kept)
