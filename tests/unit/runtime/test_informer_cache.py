"""The informer cache: storage, indexes, relist diffs, read-your-writes waits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from certmgr.runtime.cache import Cache, CacheStopped, object_key, split_key
from certmgr.strings import share
from certmgr.testing.clock import FakeClock


def obj(name: str, rv: str, *, ns: str = "ns", secret: str | None = None) -> dict[str, Any]:
    spec = {"secretName": secret} if secret else {}
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}, "spec": spec}


def by_secret(o: dict[str, Any]) -> list[str]:
    secret = o.get("spec", {}).get("secretName")
    return [f"{o['metadata']['namespace']}/{secret}"] if secret else []


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def test_apply_decides_added_or_modified_by_what_is_cached() -> None:
    cache = Cache()
    first = cache.apply("ADDED", obj("a", "1"))
    # A replayed ADDED for a cached object is an update.
    second = cache.apply("ADDED", obj("a", "2"))
    gone = cache.apply("DELETED", obj("a", "3"))
    again = cache.apply("DELETED", obj("a", "4"))
    assert first == ("ADDED", None, obj("a", "1"))
    assert second == ("MODIFIED", obj("a", "1"), obj("a", "2"))
    assert gone == ("DELETED", obj("a", "3"), None)
    assert again is None
    assert len(cache) == 0
    assert cache.resource_version == "4"


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([("ADDED", obj("c1", "1", secret="s"))], {"ns/s": ["c1"]}),
        (
            [("ADDED", obj("c1", "1", secret="s")), ("ADDED", obj("c2", "2", secret="s"))],
            {"ns/s": ["c1", "c2"]},
        ),
        (
            [("ADDED", obj("c1", "1", secret="s")), ("MODIFIED", obj("c1", "2", secret="t"))],
            {"ns/s": [], "ns/t": ["c1"]},
        ),
        (
            [("ADDED", obj("c1", "1", secret="s")), ("DELETED", obj("c1", "2", secret="s"))],
            {"ns/s": []},
        ),
        ([("ADDED", obj("c1", "1"))], {"ns/s": []}),
        (
            [
                ("ADDED", obj("c1", "1", secret="s")),
                ("ADDED", obj("c2", "2", secret="s")),
                ("ADDED", obj("c3", "3", secret="s")),
                ("DELETED", obj("c2", "4", secret="s")),
            ],
            {"ns/s": ["c1", "c3"]},
        ),
        (
            [
                ("ADDED", obj("c1", "1", secret="s")),
                ("ADDED", obj("c2", "2", secret="s")),
                ("MODIFIED", obj("c1", "3", secret="t")),
                ("ADDED", obj("c3", "4", secret="s")),
                ("DELETED", obj("c2", "5", secret="s")),
            ],
            {"ns/s": ["c3"], "ns/t": ["c1"]},
        ),
        (
            [
                ("ADDED", obj("c1", "1", secret="s")),
                ("ADDED", obj("c2", "2", secret="s")),
                ("DELETED", obj("c1", "3", secret="s")),
                ("DELETED", obj("c2", "4", secret="s")),
                ("ADDED", obj("c1", "5", secret="s")),
            ],
            {"ns/s": ["c1"]},
        ),
    ],
    ids=[
        "one",
        "two-share",
        "moved",
        "deleted",
        "unindexed",
        "three-share-one-leaves",
        "back-to-one-then-two",
        "all-leave-then-one-returns",
    ],
)
def test_index_follows_changes(
    events: list[tuple[str, dict[str, Any]]], expected: dict[str, list[str]]
) -> None:
    cache = Cache(indexes={"secret": by_secret})
    for event_type, o in events:
        cache.apply(event_type, o)
    assert {value: names(cache.by_index("secret", value)) for value in expected} == expected
    assert {
        value: sorted(name for _, name in cache.keys_by_index("secret", value))
        for value in expected
    } == expected


def test_an_object_filed_under_several_values_leaves_all_of_them() -> None:
    def both(o: dict[str, Any]) -> list[str]:
        return ["x", "y"]

    cache = Cache(indexes={"both": both})
    cache.apply("ADDED", obj("c1", "1"))
    cache.apply("ADDED", obj("c2", "2"))
    cache.apply("DELETED", obj("c1", "3"))
    assert [names(cache.by_index("both", v)) for v in "xy"] == [["c2"], ["c2"]]
    cache.apply("DELETED", obj("c2", "4"))
    assert [cache.keys_by_index("both", v) for v in "xy"] == [[], []]


def test_index_added_later_files_existing_objects() -> None:
    cache = Cache()
    cache.apply("ADDED", obj("c1", "1", secret="s"))
    cache.add_index("secret", by_secret)
    assert names(cache.by_index("secret", "ns/s")) == ["c1"]
    with pytest.raises(KeyError):
        cache.by_index("nope", "x")


def test_replace_converges_and_reports_only_real_differences() -> None:
    cache = Cache(indexes={"secret": by_secret})
    for o in (obj("keep", "1"), obj("change", "2", secret="s"), obj("drop", "3", secret="s")):
        cache.apply("ADDED", o)
    fresh = [obj("keep", "1"), obj("change", "5", secret="t"), obj("new", "6")]
    changes = cache.replace(fresh, "9")
    assert [(t, (new or old or {})["metadata"]["name"]) for t, old, new in changes] == [
        ("DELETED", "drop"),
        ("MODIFIED", "change"),
        ("ADDED", "new"),
    ]
    assert sorted(names(cache.list())) == ["change", "keep", "new"]
    assert all(cache.get("ns", o["metadata"]["name"]) == o for o in fresh)
    assert names(cache.by_index("secret", "ns/s")) == []
    assert names(cache.by_index("secret", "ns/t")) == ["change"]
    assert cache.resource_version == "9"


def test_list_by_namespace_and_selector() -> None:
    cache = Cache()
    for o in (obj("a", "1", ns="x"), obj("b", "2", ns="y"), obj("c", "3", ns="x")):
        cache.apply("ADDED", o)
    assert sorted(names(cache.list("x"))) == ["a", "c"]
    assert sorted(names(cache.list(selector=lambda o: o["metadata"]["name"] != "a"))) == ["b", "c"]
    assert cache.get("y", "b") == obj("b", "2", ns="y")
    assert cache.get("x", "b") is None


def test_holds_any_follows_adds_and_deletes_per_namespace() -> None:
    cache = Cache()
    assert not cache.holds_any("x")
    cache.apply("ADDED", obj("a", "1", ns="x"))
    assert cache.holds_any("x")
    assert not cache.holds_any("y")
    cache.apply("DELETED", obj("a", "2", ns="x"))
    assert not cache.holds_any("x")


@pytest.mark.parametrize(
    ("o", "key"),
    [(obj("a", "1"), "ns/a"), ({"metadata": {"name": "cluster-wide"}}, "cluster-wide")],
    ids=["namespaced", "cluster"],
)
def test_object_keys_round_trip(o: dict[str, Any], key: str) -> None:
    assert object_key(o) == key
    assert split_key(key) == ((o["metadata"].get("namespace") or ""), o["metadata"]["name"])


async def test_wait_for_object_returns_when_the_write_arrives() -> None:
    cache = Cache(clock=FakeClock())
    written = obj("a", "opaque-2")
    waiter = asyncio.create_task(cache.wait_for_object(written, timeout=5))
    await asyncio.sleep(0)
    assert not waiter.done()
    cache.apply("ADDED", obj("b", "opaque-1"))  # another object: not enough
    await asyncio.sleep(0)
    assert not waiter.done()
    cache.apply("ADDED", written)
    await asyncio.wait_for(waiter, timeout=5)


async def test_wait_for_object_accepts_a_later_state_without_comparing_versions() -> None:
    cache = Cache(clock=FakeClock())
    cache.apply("ADDED", obj("a", "x1"))
    cache.apply("MODIFIED", obj("a", "x2"))  # someone else wrote after us
    # Opaque versions: the cache holds x2, but it did see x1 for this object.
    await asyncio.wait_for(cache.wait_for_object(obj("a", "x1"), timeout=5), timeout=5)


async def test_wait_for_object_times_out_on_the_injected_clock() -> None:
    clock = FakeClock()
    cache = Cache(clock=clock)
    cache.apply("ADDED", obj("a", "x1"))
    waiter = asyncio.create_task(cache.wait_for_object(obj("a", "x9"), timeout=3))
    await clock.wait_for_sleepers()
    await clock.run_for(3)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(waiter, timeout=5)


@pytest.mark.parametrize(
    ("seen", "wanted", "caught_up"),
    [("10", "9", True), ("10", "10", True), ("10", "11", False), ("abc", "abc", True)],
    ids=["int-later", "int-equal", "int-earlier", "opaque-equal"],
)
async def test_wait_for_version(seen: str, wanted: str, caught_up: bool) -> None:
    clock = FakeClock()
    cache = Cache(clock=clock)
    cache.observe(seen)
    waiter = asyncio.create_task(cache.wait_for(wanted, timeout=1))
    await asyncio.sleep(0)
    if caught_up:
        await asyncio.wait_for(waiter, timeout=5)
    else:
        await clock.wait_for_sleepers()
        await clock.run_for(1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(waiter, timeout=5)


def test_keys_only_cache_keeps_versions_and_answers_with_stubs() -> None:
    cache = Cache(keys_only=True, indexes={"secret": by_secret})
    full = obj("c1", "123", secret="s")
    assert cache.apply("ADDED", full) == ("ADDED", None, full)  # handlers see the full object
    cache.apply("ADDED", obj("c2", "opaque-7"))
    assert cache.get("ns", "c1") == {
        "metadata": {"name": "c1", "namespace": "ns", "resourceVersion": "123"}
    }
    # A version that is not a canonical integer is kept exactly as the server wrote it.
    c2 = cache.get("ns", "c2")
    assert c2 is not None and c2["metadata"]["resourceVersion"] == "opaque-7"
    # The index was computed from the full object; reads return stubs.
    assert names(cache.by_index("secret", "ns/s")) == ["c1"]
    changes = cache.replace([obj("c1", "123", secret="s"), obj("c3", "0042")], "200")
    assert [(t, (new or old or {})["metadata"]["name"]) for t, old, new in changes] == [
        ("DELETED", "c2"),
        ("ADDED", "c3"),
    ]
    c3 = cache.get("ns", "c3")
    assert c3 is not None and c3["metadata"]["resourceVersion"] == "0042"
    assert len(cache) == 2 and ("ns", "c1") in cache and ("ns", "c2") not in cache


async def test_wait_until_a_deleted_object_is_gone() -> None:
    cache = Cache(clock=FakeClock())
    cache.apply("ADDED", obj("a", "1"))
    waiter = asyncio.create_task(cache.wait_until(lambda c: ("ns", "a") not in c, timeout=5))
    await asyncio.sleep(0)
    cache.apply("MODIFIED", obj("a", "2"))
    await asyncio.sleep(0)
    assert not waiter.done()
    cache.apply("DELETED", obj("a", "3"))
    await asyncio.wait_for(waiter, timeout=5)


def test_registering_the_same_index_again_keeps_it_without_refiling() -> None:
    seen: list[str] = []

    def counting(o: dict[str, Any]) -> list[str]:
        seen.append(o["metadata"]["resourceVersion"])
        return by_secret(o)

    cache = Cache()
    cache.apply("ADDED", obj("c1", "1", secret="s"))
    cache.add_index("secret", counting)
    cache.add_index("secret", counting)
    cache.apply("MODIFIED", obj("c1", "2", secret="t"))
    # Filed once when registered; on the change, unfiled by the old object, filed by the new.
    assert seen == ["1", "1", "2"]
    assert names(cache.by_index("secret", "ns/t")) == ["c1"]
    assert names(cache.by_index("secret", "ns/s")) == []


@pytest.mark.parametrize(
    ("shared", "pooled"),
    [
        pytest.param(True, True, id="shared-values-pooled"),
        pytest.param(False, False, id="unshared-values-kept-as-given"),
    ],
)
def test_an_index_pools_its_values_unless_registered_unshared(shared: bool, pooled: bool) -> None:
    # An owner's uid: each object holds its own, so a pool entry would share nothing.
    def by_uid(o: dict[str, Any]) -> list[str]:
        return [o["metadata"]["uid"]]

    uid = "".join(["uid-", f"{shared}-", "of-c1"])  # a string no one pooled yet
    cache = Cache()
    cache.add_index("uid", by_uid, shared=shared)
    cache.apply("ADDED", {**obj("c1", "1"), "metadata": {**obj("c1", "1")["metadata"], "uid": uid}})
    assert names(cache.by_index("uid", uid)) == ["c1"]
    assert (share("".join(["uid-", f"{shared}-", "of-c1"])) is uid) is pooled
    cache.apply("DELETED", obj("c1", "2"))
    assert cache.keys_by_index("uid", uid) == []


def test_registering_another_function_under_an_index_name_refiles() -> None:
    cache = Cache(indexes={"secret": by_secret})
    cache.apply("ADDED", obj("c1", "1", secret="s"))
    cache.add_index("secret", lambda o: ["everything"])
    assert names(cache.by_index("secret", "everything")) == ["c1"]
    assert names(cache.by_index("secret", "ns/s")) == []


def by_name(o: dict[str, Any]) -> list[str]:
    return [o["metadata"]["name"]]


async def test_an_empty_cache_is_filled_a_table_at_a_time_and_a_filled_one_at_once() -> None:
    # A first fill files its objects into the indexes one table at a time, the loop given
    # back every ``batch`` keys: tables that each hold an entry per object (an index's
    # keys; its values when each object has its own) would otherwise grow on the same
    # key, and one step would pay all of their resizes.
    cache = Cache(indexes={"by-secret": by_secret, "by-name": by_name})
    staged = cache.stage()
    for i in range(2500):
        staged.add(obj(f"o{i}", str(i + 1), secret=f"s{i}"))

    def sizes() -> list[int]:
        return [len(t) for t in (*cache._filed.values(), *cache._indexes.values())]

    grown_per_step: list[int] = []
    filling = True

    async def bystander() -> None:
        before = sizes()
        while filling:
            await asyncio.sleep(0)
            after = sizes()
            grown_per_step.append(sum(a > b for a, b in zip(after, before, strict=True)))
            before = after

    watcher = asyncio.create_task(bystander())
    await asyncio.sleep(0)
    changes = list(await cache.replace_yielding(staged, "2500", batch=1000))
    filling = False
    await watcher
    assert len(changes) == 2500 and all(c[0] == "ADDED" for c in changes)
    assert [len(table) for table in cache._indexes.values()] == [2500, 2500]
    assert names(cache.by_index("by-secret", "ns/s7")) == ["o7"]
    assert grown_per_step.count(1) >= 4  # the loop ran between slices, never two at once
    assert max(grown_per_step) == 1
    # A relist over a filled cache: one step, differences only.
    again = cache.stage()
    for i in range(2500):
        again.add(obj(f"o{i}", str(i + 1) if i else "9999", secret=f"s{i}"))
    assert [c[0] for c in await cache.replace_yielding(again, "9999", batch=1)] == ["MODIFIED"]


@pytest.mark.parametrize("keys_only", [False, True], ids=["objects", "keys-only"])
def test_scan_and_snapshot_yield_what_list_returns(keys_only: bool) -> None:
    cache = Cache(keys_only=keys_only)
    for namespace in ("a", "b"):
        for i in range(3):
            cache.apply(
                "ADDED",
                {"metadata": {"name": f"o{i}", "namespace": namespace, "resourceVersion": "1"}},
            )

    def keys_of(objects: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
        return sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects)

    keys = keys_of(cache.scan())
    assert keys == keys_of(cache.list())
    assert keys == keys_of(cache.snapshot())
    assert len(keys) == 6


async def test_a_first_fill_of_a_keys_only_cache_hands_out_its_stubs_as_they_are_read() -> None:
    cache = Cache(keys_only=True)
    staged = cache.stage()
    for i in range(3):
        staged.add({"metadata": {"name": f"o{i}", "namespace": "ns", "resourceVersion": "7"}})

    changes = iter(await cache.replace_yielding(staged, "7"))

    assert len(cache) == 3
    first = next(changes)
    assert first == ("ADDED", None, cache.get("ns", "o0"))
    assert [c[2]["metadata"]["name"] for c in changes if c[2]] == ["o1", "o2"]


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"metadata": {"namespace": "ns", "name": "a"}}, id="namespaced"),
        pytest.param({"metadata": {"name": "a"}}, id="cluster-scoped"),
        pytest.param({"metadata": {"namespace": None, "name": "a"}}, id="namespace-null"),
        pytest.param({"metadata": {"namespace": "", "name": "a"}}, id="namespace-empty"),
        pytest.param({"metadata": {"namespace": "ns"}}, id="no-name"),
        pytest.param({"metadata": {"namespace": "ns", "name": 7}}, id="name-not-a-string"),
        pytest.param({"metadata": None}, id="metadata-null"),
        pytest.param({"metadata": ["x"]}, id="metadata-not-a-mapping"),
        pytest.param({}, id="no-metadata"),
    ],
)
def test_key_of_reads_what_namespace_of_and_name_of_read(obj: dict[str, Any]) -> None:
    from certmgr.kube.objects import name_of, namespace_of
    from certmgr.runtime.cache import key_of

    namespace, name = namespace_of(obj) or "", name_of(obj)
    assert key_of(obj) == (namespace, name)
    assert object_key(obj) == (f"{namespace}/{name}" if namespace else name)


async def test_a_stopped_cache_fails_its_waiters_at_once_and_a_restart_waits_again() -> None:
    # A drain at shutdown must not wait out a read-your-writes timeout on a cache whose
    # informer has stopped: it can never catch up.
    clock = FakeClock()
    cache = Cache(clock=clock)
    cache.apply("ADDED", obj("a", "x1"))
    waiter = asyncio.create_task(cache.wait_for_object(obj("a", "x9"), timeout=3600))
    await clock.wait_for_sleepers()
    cache.stop()
    with pytest.raises(CacheStopped):
        await asyncio.wait_for(waiter, timeout=5)
    with pytest.raises(CacheStopped):
        await asyncio.wait_for(cache.wait_for_object(obj("a", "x9"), timeout=3600), timeout=5)
    # What the cache already holds still answers.
    await asyncio.wait_for(cache.wait_for_object(obj("a", "x1"), timeout=3600), timeout=5)
    cache.start()
    again = asyncio.create_task(cache.wait_for_object(obj("a", "x9"), timeout=3600))
    await clock.wait_for_sleepers()
    assert not again.done()
    cache.apply("MODIFIED", obj("a", "x9"))
    await asyncio.wait_for(again, timeout=5)
