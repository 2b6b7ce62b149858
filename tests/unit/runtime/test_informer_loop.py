"""The informer's list/watch loop against a scripted fake API (fast, no HTTP)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from certmgr.kube import errors as e
from certmgr.kube import resources as r
from certmgr.kube.objects import ObjectList, WatchEvent
from certmgr.runtime.cache import CacheStopped
from certmgr.runtime.informer import (
    DISPATCH_BATCH,
    PREPARE_BATCH,
    Informer,
    compact,
    drop_managed_fields,
)
from certmgr.testing.clock import FakeClock

GONE = e.Gone({"kind": "Status", "code": 410, "reason": "Expired"})


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


class FakeAPI:
    """Answers list and watch from scripts; an exhausted watch script blocks forever."""

    def __init__(self) -> None:
        self.lists: list[ObjectList | Exception] = []
        self.watches: list[list[WatchEvent | Exception]] = []
        self.calls: list[tuple[str, str | None]] = []
        self.idle = asyncio.Event()

    async def list_pages(self, resource: r.Resource, **kwargs: Any) -> AsyncIterator[ObjectList]:
        self.calls.append(("list", kwargs.get("label_selector")))
        result = self.lists.pop(0)
        if isinstance(result, Exception):
            raise result
        # Two pages, to show the informer stitches them into one snapshot.
        half = len(result.items) // 2
        yield ObjectList(result.items[:half], result.resource_version)
        yield ObjectList(result.items[half:], result.resource_version)

    async def watch(
        self, resource: r.Resource, *, resource_version: str, **kwargs: Any
    ) -> AsyncIterator[WatchEvent]:
        self.calls.append(("watch", resource_version))
        if not self.watches:
            self.idle.set()
            await asyncio.Event().wait()
        for item in self.watches.pop(0):
            if isinstance(item, Exception):
                raise item
            yield item


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, event_type: str, old: Any, new: Any) -> None:
        self.seen.append((event_type, (new or old)["metadata"]["name"]))


async def run_until_idle(informer: Informer, api: FakeAPI, clock: FakeClock) -> None:
    """Run the informer until it waits on a watch with nothing scripted, then stop it."""
    task = asyncio.create_task(informer.run())
    try:
        for _ in range(200):
            if api.idle.is_set():
                break
            await clock.run_for(60)  # wakes any backoff sleeps
        assert api.idle.is_set(), "informer never reached an idle watch"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def make(api: FakeAPI, clock: FakeClock, **kwargs: Any) -> tuple[Informer, Recorder]:
    recorder = Recorder()
    informer = Informer(
        api, r.CERTIFICATES, clock=clock, on_event=recorder, draw=lambda: 1.0, **kwargs
    )
    return informer, recorder


async def test_lists_then_watches_from_the_list_version() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj("a", "5")], "10")]
    api.watches = [[WatchEvent("ADDED", obj("b", "11")), WatchEvent("DELETED", obj("a", "12"))]]
    informer, recorder = make(api, clock)
    await run_until_idle(informer, api, clock)
    assert recorder.seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    assert [c for c in api.calls if c[0] == "watch"] == [("watch", "10"), ("watch", "12")]
    assert [o["metadata"]["name"] for o in informer.cache.list()] == ["b"]
    assert informer.has_synced


async def test_gone_relists_and_emits_the_synthetic_differences() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [
        ObjectList([obj("keep", "1"), obj("drop", "2"), obj("change", "3")], "10"),
        ObjectList([obj("keep", "1"), obj("change", "30"), obj("new", "31")], "40"),
    ]
    api.watches = [[WatchEvent("ADDED", obj("x", "11")), GONE]]
    informer, recorder = make(api, clock, name="test-gone")

    def relists() -> float:
        return (
            REGISTRY.get_sample_value("certmgr_informer_relists_total", {"resource": "test-gone"})
            or 0.0
        )

    before = relists()
    await run_until_idle(informer, api, clock)
    assert recorder.seen[4:] == [
        ("DELETED", "drop"),
        ("DELETED", "x"),
        ("MODIFIED", "change"),
        ("ADDED", "new"),
    ]
    assert sorted(o["metadata"]["name"] for o in informer.cache.list()) == ["change", "keep", "new"]
    assert api.calls[-1] == ("watch", "40")
    assert relists() - before == 1


async def test_watch_errors_back_off_and_resume_without_relisting() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([], "10")]
    boom = e.ServerError({"kind": "Status", "code": 500})
    api.watches = [
        [WatchEvent("ADDED", obj("a", "11")), boom],
        [boom],
        [WatchEvent("MODIFIED", obj("a", "12"))],
    ]
    informer, recorder = make(api, clock, backoff_base=1.0, backoff_cap=8.0)
    await run_until_idle(informer, api, clock)
    assert [c for c in api.calls if c[0] == "list"] == [("list", None)]
    assert [c[1] for c in api.calls if c[0] == "watch"] == ["10", "11", "11", "12"]
    assert recorder.seen == [("ADDED", "a"), ("MODIFIED", "a")]


async def test_bookmarks_move_the_watch_version_without_events() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([], "10")]
    api.watches = [[WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "20"}})]]
    informer, recorder = make(api, clock)
    await run_until_idle(informer, api, clock)
    assert api.calls[-1] == ("watch", "20")
    assert informer.cache.resource_version == "20"
    assert recorder.seen == []


async def test_failing_list_is_retried_with_backoff() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [
        e.Unreachable("refused"),
        e.Unreachable("refused"),
        ObjectList([obj("a", "1")], "5"),
    ]
    informer, recorder = make(api, clock)
    await run_until_idle(informer, api, clock)
    assert [c[0] for c in api.calls] == ["list", "list", "list", "watch"]
    assert recorder.seen == [("ADDED", "a")]


async def test_a_failing_handler_does_not_stop_the_informer() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj("a", "1"), obj("b", "2")], "5")]

    def broken(event_type: str, old: Any, new: Any) -> None:
        raise RuntimeError("handler bug")

    informer, recorder = make(api, clock)
    informer.add_handler(broken)
    await run_until_idle(informer, api, clock)
    assert recorder.seen == [("ADDED", "a"), ("ADDED", "b")]


async def test_late_handler_hears_about_cached_objects() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj("a", "1")], "5")]
    informer, _ = make(api, clock)
    await run_until_idle(informer, api, clock)
    late = Recorder()
    informer.add_handler(late)
    assert late.seen == [("ADDED", "a")]


@pytest.mark.parametrize(
    ("transform", "expected_keys"),
    [
        (None, {"name", "namespace", "resourceVersion", "managedFields"}),
        (drop_managed_fields, {"name", "namespace", "resourceVersion"}),
    ],
    ids=["identity", "drop-managed-fields"],
)
async def test_transform_applies_to_listed_and_watched_objects(
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None, expected_keys: set[str]
) -> None:
    def heavy(name: str, rv: str) -> dict[str, Any]:
        o = obj(name, rv)
        o["metadata"]["managedFields"] = [{"manager": "kubectl"}]
        return o

    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([heavy("a", "1")], "5")]
    api.watches = [[WatchEvent("ADDED", heavy("b", "6"))]]
    informer, _ = make(api, clock, transform=transform)
    await run_until_idle(informer, api, clock)
    assert [set(o["metadata"]) for o in informer.cache.list()] == [expected_keys] * 2


async def test_resync_replays_every_cached_object_as_modified() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj("a", "1"), obj("b", "2")], "5")]
    informer, recorder = make(api, clock, resync=30.0)
    task = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced(timeout=5)
        await clock.run_for(30)
        assert recorder.seen == [
            ("ADDED", "a"),
            ("ADDED", "b"),
            ("MODIFIED", "a"),
            ("MODIFIED", "b"),
        ]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_wait_synced_times_out_when_the_list_never_succeeds() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [e.Forbidden({"kind": "Status", "code": 403})] * 100
    informer, _ = make(api, clock)
    task = asyncio.create_task(informer.run())
    try:
        waiting = asyncio.create_task(informer.wait_synced(timeout=10))
        await clock.run_for(10)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(waiting, timeout=5)
        assert not informer.has_synced
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_gone_in_the_middle_of_a_list_starts_it_again() -> None:
    api, clock = FakeAPI(), FakeClock()
    pages = [ObjectList([obj("a", "1")], "10"), GONE]
    full = ObjectList([obj("a", "1"), obj("b", "2")], "12")

    async def list_pages(resource: r.Resource, **kwargs: Any) -> AsyncIterator[ObjectList]:
        api.calls.append(("list", None))
        for page in pages if len([c for c in api.calls if c[0] == "list"]) == 1 else [full]:
            if isinstance(page, Exception):
                raise page
            yield page

    api.list_pages = list_pages  # type: ignore[method-assign]
    informer, recorder = make(api, clock)
    await run_until_idle(informer, api, clock)
    # The half-read first snapshot never reached the cache or the handlers.
    assert recorder.seen == [("ADDED", "a"), ("ADDED", "b")]
    assert api.calls == [("list", None), ("list", None), ("watch", "12")]


async def test_a_stopped_list_closes_its_pages_in_the_informer_itself() -> None:
    # The pages are read one ahead; an informer stopped while it stages a page closes
    # them itself (which cancels the page read ahead), not whenever the collector would.
    api, clock = FakeAPI(), FakeClock()
    closed_in: list[asyncio.Task[Any] | None] = []

    async def list_pages(resource: r.Resource, **kwargs: Any) -> AsyncIterator[ObjectList]:
        api.calls.append(("list", str(kwargs.get("read_ahead"))))
        try:
            yield ObjectList([obj("a", "1")], "5")
            yield ObjectList([obj("b", "2")], "5")
        finally:
            closed_in.append(asyncio.current_task())

    def stop_while_staging(listed: dict[str, Any]) -> dict[str, Any]:
        task.cancel()
        return listed

    api.list_pages = list_pages  # type: ignore[method-assign]
    informer, recorder = make(api, clock, transform=stop_while_staging)
    task = asyncio.create_task(informer.run())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed_in == [task]
    assert api.calls == [("list", "True")]
    assert recorder.seen == []


async def test_throttled_informer_waits_at_least_retry_after() -> None:
    api, clock = FakeAPI(), FakeClock()
    throttled = e.TooManyRequests({"kind": "Status", "code": 429}, retry_after=40.0)
    api.lists = [throttled, ObjectList([obj("a", "1")], "5")]
    informer, recorder = make(api, clock, backoff_base=0.1)
    task = asyncio.create_task(informer.run())
    try:
        await clock.wait_for_sleepers()
        await clock.run_for(39)
        assert [c[0] for c in api.calls] == ["list"]  # still honouring Retry-After
        await clock.run_for(1)
        await informer.wait_synced(timeout=5)
        assert recorder.seen == [("ADDED", "a")]
    finally:
        await stop_task(task)


async def stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_large_list_is_dispatched_without_holding_the_loop() -> None:
    # 1,000 objects listed at once: other tasks (the Lease, the probes) run while the
    # handlers are told about them, not only after the last one.
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj(f"o{i:04d}", str(i + 1)) for i in range(1000)], "1000")]
    informer, recorder = make(api, clock)
    seen_by_bystander: list[int] = []

    async def bystander() -> None:
        while len(recorder.seen) < 1000:
            seen_by_bystander.append(len(recorder.seen))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(bystander())
    await run_until_idle(informer, api, clock)
    await watcher
    assert len(recorder.seen) == 1000
    assert any(0 < n < 1000 for n in seen_by_bystander)


async def test_a_list_is_dispatched_one_handler_per_loop_step_in_order() -> None:
    # Handlers that each file every key in a table of their own (work queues) grow them
    # on the same change: a step runs one handler over at most ``DISPATCH_BATCH`` changes,
    # so no step pays more than one table's growth; each handler hears the list in order.
    api, clock = FakeAPI(), FakeClock()
    listed = [obj(f"o{i:04d}", str(i + 1)) for i in range(3 * DISPATCH_BATCH + 5)]
    api.lists = [ObjectList(listed, "1000")]
    step = 0
    ran: list[tuple[int, str, str]] = []  # (loop step, handler, object)

    def handler(name: str) -> Callable[[str, Any, Any], None]:
        return lambda _, old, new: ran.append((step, name, new["metadata"]["name"]))

    informer = Informer(
        api, r.CERTIFICATES, clock=clock, on_event=[handler(n) for n in "abc"], draw=lambda: 1.0
    )

    async def ticker() -> None:
        nonlocal step
        while len(ran) < 3 * len(listed):
            step += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(ticker())
    await run_until_idle(informer, api, clock)
    await counting
    handlers_per_step: dict[int, set[str]] = {}
    for at, name, _ in ran:
        handlers_per_step.setdefault(at, set()).add(name)
    assert all(len(names) == 1 for names in handlers_per_step.values())
    assert max(Counter(at for at, _, _ in ran).values()) <= DISPATCH_BATCH
    for name in "abc":
        assert [o for _, h, o in ran if h == name] == [o["metadata"]["name"] for o in listed]


async def test_a_listed_page_is_prepared_without_holding_the_loop() -> None:
    # A transform may parse (a managed Secret's certificate: ~0.5 ms each): a page of
    # them must not hold the loop for all of it, so other tasks (the Lease, the probes)
    # run between slices of a page, and never wait for more than one slice.
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj(f"o{i:04d}", str(i + 1)) for i in range(500)], "500")]
    prepared: list[str] = []

    def counting(o: dict[str, Any]) -> dict[str, Any]:
        prepared.append(o["metadata"]["name"])
        return o

    informer, _ = make(api, clock, transform=counting)
    seen_by_bystander: list[int] = []

    async def bystander() -> None:
        while len(prepared) < 500:
            seen_by_bystander.append(len(prepared))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(bystander())
    await run_until_idle(informer, api, clock)
    await watcher
    steps = [b - a for a, b in itertools.pairwise(seen_by_bystander)]
    assert any(n % 250 for n in seen_by_bystander)  # part-way through a page of 250
    assert max(steps) <= PREPARE_BATCH


async def test_synced_once_the_handlers_were_told_about_the_whole_list() -> None:
    # Controllers start on ``wait_synced``: by then every listed object's ADDED event has
    # queued its keys, so no controller starts on half of a list.
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj(f"o{i:04d}", str(i + 1)) for i in range(200)], "200")]
    informer, recorder = make(api, clock)
    told_at_sync: list[int] = []

    async def controller() -> None:
        await informer.wait_synced()
        told_at_sync.append(len(recorder.seen))

    waiting = asyncio.create_task(controller())
    await run_until_idle(informer, api, clock)
    await waiting
    assert told_at_sync == [200]


async def test_listed_objects_are_frozen_out_of_full_collections() -> None:
    import gc

    gc.unfreeze()
    try:
        api, clock = FakeAPI(), FakeClock()
        api.lists = [ObjectList([obj(f"f{i:04d}", str(i + 1)) for i in range(1000)], "1000")]
        informer, _ = make(api, clock)
        await run_until_idle(informer, api, clock)
        # Each listed object is a few containers (object, metadata): all frozen.
        assert gc.get_freeze_count() >= 2000
        assert not any(o is informer.cache.list()[0] for o in gc.get_objects())
    finally:
        gc.unfreeze()


async def test_a_list_collects_before_its_first_page_freeze_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from certmgr.runtime import informer as informing

    freezes: list[str] = []
    monkeypatch.setattr(informing, "freeze_long_lived", lambda: freezes.append("collected"))
    monkeypatch.setattr(informing, "freeze_without_collecting", lambda: freezes.append("as it is"))
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj(f"f{i:04d}", str(i + 1)) for i in range(10)], "10")]
    informer, _ = make(api, clock)
    await run_until_idle(informer, api, clock)
    # FakeAPI answers in two pages; then the filled cache (its indexes) is frozen.
    assert freezes == ["collected", "as it is", "as it is"]
    gc.unfreeze()


@pytest.mark.parametrize(
    ("first", "second", "one_dict"),
    [
        pytest.param(
            {"name": "le", "kind": "ClusterIssuer"},
            {"name": "le", "kind": "ClusterIssuer"},
            True,
            id="equal-flat-mappings-share-one-dict",
        ),
        pytest.param(
            {"name": "le", "kind": "ClusterIssuer"},
            {"name": "le", "kind": "Issuer"},
            False,
            id="different-values-do-not",
        ),
        pytest.param(
            {"kind": "ClusterIssuer", "name": "le"},
            {"name": "le", "kind": "ClusterIssuer"},
            False,
            id="another-key-order-keeps-its-own-order",
        ),
        pytest.param({"size": True}, {"size": 1}, False, id="true-is-not-one"),
        pytest.param({"size": 1.0}, {"size": 1.0}, False, id="floats-stay-their-own"),
        pytest.param({"a": {"b": "c"}}, {"a": {"b": "c"}}, False, id="nested-stays-its-own"),
    ],
)
def test_compact_objects_share_equal_issuer_refs_and_key_specs(
    first: dict[str, Any], second: dict[str, Any], one_dict: bool
) -> None:
    def certificate(name: str, field: dict[str, Any]) -> dict[str, Any]:
        spec = {"secretName": name, "issuerRef": field, "privateKey": field}
        return compact(json.loads(json.dumps({"metadata": {"name": name}, "spec": spec})))

    a, b = certificate("a", first)["spec"], certificate("b", second)["spec"]
    for field in ("issuerRef", "privateKey"):
        assert (a[field] is b[field]) is one_dict, field
        assert a[field] == first and list(a[field]) == list(first)
        assert b[field] == second and list(b[field]) == list(second)


def test_compact_objects_share_repeated_strings_and_keys_and_lose_managed_fields() -> None:
    text = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": "a",
                "namespace": "apps",
                "labels": {"controller.cert-manager.io/fao": "true"},
                "annotations": {"cert-manager.io/issuer-name": "letsencrypt"},
                "managedFields": [{"manager": "certmgr"}],
            },
            "data": {"ca.crt": "Q0EgY2VydGlmaWNhdGU=" * 50, "tls.crt": "bGVhZg=="},
        }
    )
    first, second = (compact(json.loads(text)) for _ in range(2))
    assert first == second
    assert "managedFields" not in first["metadata"]
    for path in (
        ("kind",),
        ("metadata", "namespace"),
        ("metadata", "labels", "controller.cert-manager.io/fao"),
        ("metadata", "annotations", "cert-manager.io/issuer-name"),
        ("data", "ca.crt"),
    ):
        a: Any = first
        b: Any = second
        for part in path:
            a, b = a[part], b[part]
        assert a is b, path
    # Keys too, at every depth (a JSON decoder shares them only within one document).
    for a_map, b_map in (
        (first, second),
        (first["metadata"], second["metadata"]),
        (first["metadata"]["labels"], second["metadata"]["labels"]),
        (first["data"], second["data"]),
    ):
        assert [id(k) for k in a_map] == [id(k) for k in b_map]


def test_a_certificate_and_its_secret_share_the_names_they_both_hold() -> None:
    def decoded(obj: dict[str, Any]) -> dict[str, Any]:
        return compact(json.loads(json.dumps(obj)))

    certificate = decoded(
        {
            "kind": "Certificate",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {
                "secretName": "web-tls",
                "commonName": "web.example.com",
                "dnsNames": ["web.example.com", "www.example.com"],
            },
        }
    )
    annotations = {
        "cert-manager.io/certificate-name": "web",
        "cert-manager.io/common-name": "web.example.com",
        "cert-manager.io/alt-names": "www.example.com",
    }
    secret = decoded(
        {"kind": "Secret", "metadata": {"name": "web-tls", "annotations": annotations}}
    )
    spec, annotated = certificate["spec"], secret["metadata"]["annotations"]
    assert spec["secretName"] is secret["metadata"]["name"]
    assert certificate["metadata"]["name"] is annotated["cert-manager.io/certificate-name"]
    assert spec["commonName"] is annotated["cert-manager.io/common-name"]
    assert spec["dnsNames"] == ["web.example.com", "www.example.com"]
    assert spec["dnsNames"][0] is spec["commonName"]
    assert spec["dnsNames"][1] is annotated["cert-manager.io/alt-names"]


def test_an_owner_reference_shares_its_owners_strings() -> None:
    def decoded(obj: dict[str, Any]) -> dict[str, Any]:
        return compact(json.loads(json.dumps(obj)))

    owner = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": "web"}
    certificate = decoded({**owner, "metadata": {"name": "web", "namespace": "apps"}})
    requests = [
        decoded(
            {
                "kind": "CertificateRequest",
                "metadata": {"name": name, "ownerReferences": [{**owner, "uid": "u"}]},
            }
        )
        for name in ("web-1", "web-2")
    ]
    for request in requests:
        (ref,) = request["metadata"]["ownerReferences"]
        assert ref == {**owner, "uid": "u"}
        assert ref["apiVersion"] is certificate["apiVersion"]
        assert ref["kind"] is certificate["kind"]
        assert ref["name"] is certificate["metadata"]["name"]


async def test_a_stopped_informer_fails_the_waits_on_its_cache() -> None:
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj("a", "5")], "10")]
    informer, _ = make(api, clock)
    task = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced(timeout=5)
        waiter = asyncio.create_task(informer.cache.wait_for_object(obj("a", "99"), timeout=3600))
        await clock.wait_for_sleepers()
    finally:
        await stop_task(task)
    with pytest.raises(CacheStopped):
        await asyncio.wait_for(waiter, timeout=5)


async def test_a_list_leaves_the_caches_indexes_frozen_not_young() -> None:
    # A young collection scans every entry of the young dicts it finds: the requests'
    # owner index at 100,000 entries, filled by a start's list, held the loop 94 ms.
    api, clock = FakeAPI(), FakeClock()
    api.lists = [ObjectList([obj(f"c{i:04d}", "5") for i in range(200)], "10")]
    informer, _ = make(api, clock)
    informer.cache.add_index("by-name", lambda o: [o["metadata"]["name"]])
    young_at_dispatch: list[bool] = []

    def look(event_type: str, old: Any, new: Any) -> None:
        if not young_at_dispatch:
            young = gc.get_objects(generation=0)
            index = informer.cache._indexes["by-name"]
            young_at_dispatch.append(any(o is index for o in young))

    informer.add_handler(look)
    try:
        await run_until_idle(informer, api, clock)
    finally:
        gc.unfreeze()
    assert young_at_dispatch == [False]
