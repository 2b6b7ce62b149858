"""Unfiling: a cache takes an object out of its indexes by running the index functions
again on the object it held, read back (packed or not), instead of recording per key the
values it was filed under. Each case fails if a stale entry is left behind: the old
value still answering with the key."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from certmgr.runtime.cache import Cache, Obj, Packed
from certmgr.runtime.informer_certificates import packed_certificate

IndexFunc = Callable[[Obj], Iterable[str]]


@pytest.fixture(autouse=True, params=[False, True], ids=["recomputed", "recorded-and-checked"])
def recording(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Each case as the product runs it (values computed again) and as the suite checks
    it (values recorded too, and compared with those computed again)."""
    impure: list[str] = []
    monkeypatch.setattr(Cache, "impure_indexes", impure if request.param else None)
    yield request.param
    assert impure == []


def obj(name: str, rv: str, *, secrets: Iterable[str] = (), ns: str = "ns") -> Obj:
    return {
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
        "spec": {"secrets": list(secrets)},
    }


def by_secret(o: Obj) -> list[str]:
    """Fresh strings each call: equal to the filed (pooled) ones, never the same objects."""
    return [f"{o['metadata']['namespace']}/{s}" for s in o["spec"]["secrets"]]


class PackedObj(tuple[Any, ...], Packed):
    """A packed form read back as an equal dict made afresh on every read."""

    __slots__ = ()

    def unpack(self) -> Obj:
        name, namespace, rv, secrets = self
        return obj(name, rv, secrets=secrets, ns=namespace)

    @property
    def resource_version(self) -> str:
        return str(self[2])


def pack(o: Obj) -> Obj | Packed:
    meta = o["metadata"]
    return PackedObj(
        (meta["name"], meta["namespace"], meta["resourceVersion"], tuple(o["spec"]["secrets"]))
    )


CACHES: dict[str, Callable[[], Cache]] = {
    "dicts": lambda: Cache(indexes={"secret": by_secret}),
    "packed": lambda: Cache(indexes={"secret": by_secret}, pack=pack),
    "keys-only": lambda: Cache(indexes={"secret": by_secret}, keys_only=True),
    "unshared": lambda: _unshared(Cache()),
    "added-to-a-filled-cache": lambda: Cache(),  # the index is registered after the fill
}


def _unshared(cache: Cache) -> Cache:
    cache.add_index("secret", by_secret, shared=False)
    return cache


def filed(cache: Cache, values: Iterable[str]) -> dict[str, list[str]]:
    """Each value with the names filed under it (sorted), through both readers."""
    found = {v: sorted(n for _, n in cache.keys_by_index("secret", v)) for v in values}
    read = {v: [o["metadata"]["name"] for o in cache.by_index("secret", v)] for v in values}
    assert found == read
    return found


def filled(kind: str, objects: Iterable[Obj]) -> Cache:
    cache = CACHES[kind]()
    for o in objects:
        cache.apply("ADDED", o)
    if kind == "added-to-a-filled-cache":
        cache.add_index("secret", by_secret)
    return cache


EVENTS = {
    "moved-to-another-value": (
        [obj("a", "2", secrets=["t"])],
        {"ns/s": ["b"], "ns/t": ["a"]},
    ),
    "moved-off-a-shared-value-back-to-one": (
        [obj("b", "2", secrets=["u"])],
        {"ns/s": ["a"], "ns/u": ["b"]},
    ),
    "several-values-to-others": (
        [obj("c", "2", secrets=["y", "z"])],
        {"ns/x": [], "ns/y": ["c"], "ns/z": ["c"]},
    ),
    "to-no-value-and-back": (
        [obj("c", "2"), obj("c", "3", secrets=["x"])],
        {"ns/x": ["c"], "ns/y": []},
    ),
    "deleted": (
        [("DELETED", obj("a", "2", secrets=["s"])), ("DELETED", obj("c", "3"))],
        {"ns/s": ["b"], "ns/x": [], "ns/y": []},
    ),
    "every-holder-deleted": (
        [("DELETED", obj("a", "2")), ("DELETED", obj("b", "3"))],
        {"ns/s": []},
    ),
    "the-event-names-other-values-than-held": (
        # A delete carries the last state the server had; the cache unfiles by its own.
        [("DELETED", obj("a", "2", secrets=["elsewhere"]))],
        {"ns/s": ["b"], "ns/elsewhere": []},
    ),
}


def initial() -> list[Obj]:
    return [
        obj("a", "1", secrets=["s"]),
        obj("b", "1", secrets=["s"]),
        obj("c", "1", secrets=["x", "y", "x"]),  # a value twice: filed once, unfiled once
    ]


@pytest.mark.parametrize("kind", list(CACHES))
@pytest.mark.parametrize(("events", "expected"), list(EVENTS.values()), ids=list(EVENTS))
def test_events_leave_no_stale_entry(
    kind: str, events: list[Obj | tuple[str, Obj]], expected: dict[str, list[str]]
) -> None:
    cache = filled(kind, initial())
    assert filed(cache, ["ns/s", "ns/x", "ns/y"]) == {
        "ns/s": ["a", "b"],
        "ns/x": ["c"],
        "ns/y": ["c"],
    }
    for event in events:
        event_type, o = event if isinstance(event, tuple) else ("MODIFIED", event)
        cache.apply(event_type, o)
    assert filed(cache, expected) == expected


@pytest.mark.parametrize("kind", list(CACHES))
@pytest.mark.parametrize("yielding", [False, True], ids=["replace", "replace-yielding"])
async def test_a_relist_removing_and_changing_objects_leaves_no_stale_entry(
    kind: str, yielding: bool
) -> None:
    cache = filled(kind, initial())
    staged = cache.stage()
    for o in (obj("a", "1", secrets=["s"]), obj("c", "2", secrets=["y", "z"])):  # b gone
        staged.add(o)
    changes = await cache.replace_yielding(staged, "2") if yielding else cache.replace(staged, "2")
    assert sorted((change, old and old["metadata"]["name"]) for change, old, _ in changes) == [
        ("DELETED", "b"),
        ("MODIFIED", "c"),
    ]
    expected = {"ns/s": ["a"], "ns/x": [], "ns/y": ["c"], "ns/z": ["c"]}
    assert filed(cache, expected) == expected


@pytest.mark.parametrize("kind", list(CACHES))
def test_a_lone_holder_left_under_a_value_is_kept_bare(kind: str) -> None:
    cache = filled(kind, initial())
    cache.apply("DELETED", obj("b", "2"))
    assert cache._indexes["secret"]["ns/s"] == ("ns", "a")  # not a one-element set
    cache.apply("DELETED", obj("a", "3"))
    assert "ns/s" not in cache._indexes["secret"]


def certificate(name: str, rv: str, *, secret: str, issuer: str) -> Obj:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "spec": {
            "secretName": secret,
            "dnsNames": [f"{name}.example.com"],
            "issuerRef": {"name": issuer, "kind": "Issuer", "group": "cert-manager.io"},
        },
    }


def test_packed_certificates_leave_their_secret_and_issuer_on_a_change() -> None:
    def by_secret_name(o: Obj) -> list[str]:
        return [f"{o['metadata']['namespace']}/{o['spec']['secretName']}"]

    def by_issuer(o: Obj) -> list[str]:
        return [o["spec"]["issuerRef"]["name"]]

    cache = Cache(indexes={"secret": by_secret_name, "issuer": by_issuer}, pack=packed_certificate)
    cache.apply("ADDED", certificate("a", "1", secret="s", issuer="one"))
    cache.apply("ADDED", certificate("b", "1", secret="t", issuer="one"))
    assert isinstance(cache._stored(("ns", "a")), Packed)
    cache.apply("MODIFIED", certificate("a", "2", secret="u", issuer="two"))
    cache.apply("DELETED", certificate("b", "2", secret="t", issuer="one"))
    assert [cache.keys_by_index("secret", v) for v in ("ns/s", "ns/t", "ns/u")] == [
        [],
        [],
        [("ns", "a")],
    ]
    assert [cache.keys_by_index("issuer", v) for v in ("one", "two")] == [[], [("ns", "a")]]


def test_only_a_keys_only_cache_records_what_each_key_was_filed_under(recording: bool) -> None:
    # The point of recomputing: no per-key record where the object held can tell.
    objects = filled("dicts", initial())
    packed = filled("packed", initial())
    keys_only = filled("keys-only", initial())
    assert len(keys_only._filed["secret"]) == 3
    assert [len(objects._filed["secret"]), len(packed._filed["secret"])] == [3 * recording] * 2


def test_an_index_function_that_changes_its_answer_is_reported_and_still_unfiled() -> None:
    # What the suite's check catches: a function reading state other than the object.
    calls = itertools.count()

    def by_call(o: Obj) -> list[str]:
        return [str(next(calls))]

    impure: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Cache, "impure_indexes", impure)
        cache = Cache(indexes={"call": by_call})
    cache.apply("ADDED", obj("a", "1"))
    cache.apply("DELETED", obj("a", "2"))
    assert impure == ["call: ('ns', 'a') filed under ('0',), then ('1',)"]
    assert cache.keys_by_index("call", "0") == []  # unfiled by what it recorded


@pytest.mark.parametrize("kind", ["dicts", "packed", "keys-only", "unshared"])
async def test_a_first_fill_files_each_value_and_a_relist_then_unfiles_them(kind: str) -> None:
    # The first fill files from the values staged per index (a lone one bare, several
    # in a tuple, none not at all); what it filed must be what unfiling finds later.
    cache = CACHES[kind]()
    staged = cache.stage()
    for o in [*initial(), obj("d", "1")]:
        staged.add(o)
    await cache.replace_yielding(staged, "1", batch=1)
    assert staged.filed == {}, "the staged values are let go"
    expected = {"ns/s": ["a", "b"], "ns/x": ["c"], "ns/y": ["c"]}
    assert filed(cache, expected) == expected
    again = cache.stage()
    for o in (
        obj("a", "2", secrets=["x"]),
        obj("b", "1", secrets=["s"]),
        obj("d", "2", secrets=["s"]),
    ):
        again.add(o)
    await cache.replace_yielding(again, "2")
    expected = {"ns/s": ["b", "d"], "ns/x": ["a"], "ns/y": []}
    assert filed(cache, expected) == expected
