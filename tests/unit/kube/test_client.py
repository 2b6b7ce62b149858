"""KubeClient verbs: REST shapes, pagination, watch streams, metadata-only requests."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from aiohttp import web

from certmgr.kube import errors as e
from certmgr.kube import resources as r
from certmgr.kube.client import (
    ACCEPT_METADATA,
    ACCEPT_METADATA_LIST,
    FIRST_PAGE_LIMIT,
    KubeClient,
    next_page_limit,
)
from certmgr.kube.objects import WatchEvent
from certmgr.testing.apiserver.wire import eventually


def secret(name: str, rv: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


def page(items: list[dict[str, Any]], rv: str, token: str = "") -> dict[str, Any]:
    meta = {"resourceVersion": rv} | ({"continue": token} if token else {})
    return {"kind": "SecretList", "metadata": meta, "items": items}


GONE = {"kind": "Status", "code": 410, "reason": "Expired", "message": "continue expired"}


async def test_list_follows_continue_tokens(scripted: Any, client: KubeClient) -> None:
    scripted.reply(200, page([secret("a")], "10", token="t1"))
    scripted.reply(200, page([secret("b")], "10", token="t2"))
    scripted.reply(200, page([secret("c")], "10"))
    listed = await client.list(r.SECRETS, namespace="ns", label_selector="x=y", page_size=1)
    assert [i["metadata"]["name"] for i in listed.items] == ["a", "b", "c"]
    assert listed.resource_version == "10"
    assert [s.query.get("continue") for s in scripted.seen] == [None, "t1", "t2"]
    assert all(s.query["limit"] == "1" and s.query["labelSelector"] == "x=y" for s in scripted.seen)


async def test_list_restarts_when_continue_token_expires(scripted: Any, client: KubeClient) -> None:
    scripted.reply(200, page([secret("a")], "10", token="t1"))
    scripted.reply(410, GONE)
    scripted.reply(200, page([secret("a"), secret("b")], "12"))
    listed = await client.list(r.SECRETS, page_size=1)
    # One consistent snapshot: the first page's items are not kept twice.
    assert [i["metadata"]["name"] for i in listed.items] == ["a", "b"]
    assert listed.resource_version == "12"
    assert "continue" not in scripted.seen[2].query


async def test_list_gone_on_first_page_is_raised(scripted: Any, client: KubeClient) -> None:
    scripted.reply(410, GONE)
    with pytest.raises(e.Gone):
        await client.list(r.SECRETS)


@pytest.mark.parametrize(
    ("metadata_only", "accept"),
    [(True, ACCEPT_METADATA_LIST), (False, "application/json")],
    ids=["metadata-only", "full"],
)
async def test_list_accept_header(
    scripted: Any, client: KubeClient, metadata_only: bool, accept: str
) -> None:
    scripted.reply(200, page([], "1"))
    await client.list(r.SECRETS, metadata_only=metadata_only, page_size=None)
    assert scripted.seen[0].headers["Accept"] == accept
    assert "limit" not in scripted.seen[0].query


@pytest.mark.parametrize(
    ("body_bytes", "items", "page_size", "expected"),
    [
        (50_000, 500, 500, 500),  # 100 B an item: 1,000 would fit, page_size caps it
        (100_000, 100, 500, 100),  # 1,000 B an item: exactly 100 fit
        (2_000_000, 500, 500, 25),  # 4,000 B an item (requests with their chains)
        (99_999, 100, 500, 100),  # rounded down: 100.001 fit
        (100_001, 100, 500, 99),
        (400_000, 1, 500, 1),  # one object larger than the budget comes alone
        (1_600, 16, 500, 32),  # 1,000 would fit: twice the page before, no more
        (5_000, 0, 500, 77),  # an empty page says nothing: the previous limit stands
        (100_000, 100, 40, 40),  # a smaller page_size still caps it
    ],
    ids=[
        "small-capped",
        "exact",
        "large",
        "round-down",
        "just-over",
        "huge",
        "growth",
        "empty",
        "cap",
    ],
)
def test_next_page_limit_follows_the_byte_budget(
    body_bytes: int, items: int, page_size: int, expected: int
) -> None:
    limit = next_page_limit(body_bytes, items, previous=77, page_size=page_size, page_bytes=100_000)
    assert limit == expected


def padded(name: str, size: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"},
        "pad": "x" * size,
    }


async def test_each_continuation_asks_for_what_the_page_before_says_fits(
    scripted: Any, make_transport: Any, fake_sleep: Any
) -> None:
    pages = [
        page([padded("a", 900), padded("b", 900)], "10", token="t1"),  # ~1 KB an item
        page([padded("c", 2_900)], "10", token="t2"),  # ~3 KB
        page([padded("d", 30_000)], "10", token="t3"),  # larger than the budget
        page([padded("e", 10)], "10"),
    ]
    for body in pages:
        scripted.reply(200, body)
    async with KubeClient(
        make_transport(scripted.url, sleep=fake_sleep), page_bytes=10_000
    ) as kube:
        listed = await kube.list(r.SECRETS, page_size=100)
    assert [o["metadata"]["name"] for o in listed.items] == ["a", "b", "c", "d", "e"]
    limits = [int(s.query["limit"]) for s in scripted.seen]
    # 2,056 B for two items: 9 fit in 10,000, twice the page: 4; 3,073 B for one: 3 fit,
    # twice the page: 2; 30,173 B for one: 1.
    assert limits == [FIRST_PAGE_LIMIT, 4, 2, 1]
    assert [s.query.get("continue") for s in scripted.seen] == [None, "t1", "t2", "t3"]


async def test_without_a_byte_budget_every_page_asks_for_page_size(
    scripted: Any, make_transport: Any, fake_sleep: Any
) -> None:
    scripted.reply(200, page([padded("a", 50_000)], "10", token="t1"))
    scripted.reply(200, page([padded("b", 50_000)], "10"))
    async with KubeClient(make_transport(scripted.url, sleep=fake_sleep), page_bytes=None) as kube:
        await kube.list(r.SECRETS, page_size=300)
    assert [s.query["limit"] for s in scripted.seen] == ["300", "300"]


def watch_handler(lines: list[dict[str, Any]]) -> Any:
    async def handle(seen: Any, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for line in lines:
            # Split each event across two writes: framing must not depend on chunks.
            data = json.dumps(line).encode() + b"\n"
            await response.write(data[:7])
            await response.write(data[7:])
        await response.write_eof()
        return response

    return handle


async def test_watch_yields_events_until_the_stream_ends(scripted: Any, client: KubeClient) -> None:
    scripted.handler = watch_handler(
        [
            {"type": "ADDED", "object": secret("a", "11")},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
            {"type": "DELETED", "object": secret("a", "13")},
        ]
    )
    events = [
        ev
        async for ev in client.watch(
            r.SECRETS, namespace="ns", resource_version="10", timeout_seconds=60, metadata_only=True
        )
    ]
    assert events == [
        WatchEvent("ADDED", secret("a", "11")),
        WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "12"}}),
        WatchEvent("DELETED", secret("a", "13")),
    ]
    seen = scripted.seen[0]
    assert seen.query == {
        "watch": "true",
        "resourceVersion": "10",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "60",
    }
    assert seen.headers["Accept"] == ACCEPT_METADATA


async def test_watch_error_event_410_raises_gone(scripted: Any, client: KubeClient) -> None:
    scripted.handler = watch_handler(
        [
            {"type": "ADDED", "object": secret("a", "11")},
            {"type": "ERROR", "object": GONE},
        ]
    )
    seen: list[WatchEvent] = []
    with pytest.raises(e.Gone):
        async for event in client.watch(r.SECRETS, resource_version="10"):
            seen.append(event)
    assert [ev.type for ev in seen] == ["ADDED"]


async def test_watch_that_fails_to_open_is_not_retried(scripted: Any, client: KubeClient) -> None:
    scripted.reply(500, {"kind": "Status", "code": 500, "reason": "InternalError"})
    with pytest.raises(e.ServerError):
        async for _ in client.watch(r.SECRETS, resource_version="1"):
            pass
    assert len(scripted.seen) == 1


@pytest.mark.parametrize(
    ("patch_type", "patch", "content_type"),
    [
        ("merge", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json"),
        ("strategic", {"spec": {}}, "application/strategic-merge-patch+json"),
        ("json", [{"op": "remove", "path": "/x"}], "application/json-patch+json"),
    ],
    ids=["merge", "strategic", "json"],
)
async def test_patch_content_types(
    scripted: Any, client: KubeClient, patch_type: str, patch: Any, content_type: str
) -> None:
    scripted.reply(200, secret("c"))
    await client.patch(
        r.CERTIFICATES, "c", patch, namespace="ns", subresource="status", patch_type=patch_type
    )
    seen = scripted.seen[0]
    assert (seen.method, seen.path) == (
        "PATCH",
        "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
    )
    assert seen.headers["Content-Type"] == content_type
    assert seen.body == patch


async def test_patch_rejects_mismatched_shape(client: KubeClient) -> None:
    with pytest.raises(ValueError):
        await client.patch(r.SECRETS, "s", {"a": 1}, namespace="ns", patch_type="json")


async def test_create_fills_type_and_uses_object_namespace(
    scripted: Any, client: KubeClient
) -> None:
    scripted.reply(201, secret("s"))
    await client.create(r.SECRETS, {"metadata": {"name": "s", "namespace": "ns"}})
    seen = scripted.seen[0]
    assert (seen.method, seen.path) == ("POST", "/api/v1/namespaces/ns/secrets")
    assert (seen.body["apiVersion"], seen.body["kind"]) == ("v1", "Secret")


async def test_create_without_namespace_is_refused(client: KubeClient) -> None:
    with pytest.raises(ValueError):
        await client.create(r.SECRETS, {"metadata": {"name": "s"}})


@pytest.mark.parametrize(
    ("method_name", "path"),
    [
        ("update", "/api/v1/namespaces/ns/secrets/s"),
        ("update_status", "/api/v1/namespaces/ns/secrets/s/status"),
    ],
    ids=["update", "status"],
)
async def test_update_addresses_object_from_metadata(
    scripted: Any, client: KubeClient, method_name: str, path: str
) -> None:
    scripted.reply(200, secret("s", "2"))
    result = await getattr(client, method_name)(r.SECRETS, secret("s"))
    assert result["metadata"]["resourceVersion"] == "2"
    assert (scripted.seen[0].method, scripted.seen[0].path) == ("PUT", path)


async def test_update_conflict(scripted: Any, client: KubeClient) -> None:
    scripted.reply(409, {"kind": "Status", "code": 409, "reason": "Conflict", "message": "stale"})
    with pytest.raises(e.Conflict):
        await client.update(r.SECRETS, secret("s"))
    assert len(scripted.seen) == 1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ({"kind": "Status", "status": "Success"}, None),
        (secret("s") | {"kind": "Secret"}, secret("s") | {"kind": "Secret"}),
    ],
    ids=["gone-at-once", "kept-by-finalizers"],
)
async def test_delete_sends_options(
    scripted: Any, client: KubeClient, reply: dict[str, Any], expected: Any
) -> None:
    scripted.reply(200, reply)
    result = await client.delete(
        r.SECRETS,
        "s",
        namespace="ns",
        propagation_policy="Foreground",
        preconditions={"uid": "u1"},
    )
    assert result == expected
    assert scripted.seen[0].body == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Foreground",
        "preconditions": {"uid": "u1"},
    }


async def test_get_not_found(scripted: Any, client: KubeClient) -> None:
    scripted.reply(404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": "nope"})
    with pytest.raises(e.NotFound):
        await client.get(r.SECRETS, "s", namespace="ns")


async def test_list_pages_does_not_hold_a_page_the_caller_let_go(
    scripted: Any, client: KubeClient
) -> None:
    # The informer frees each page's decoded objects before it freezes what it kept:
    # the pager, suspended until the next page is asked for, must not hold them too.
    import sys

    scripted.reply(200, page([secret("a")], "10", token="t1"))
    scripted.reply(200, page([secret("b")], "10"))
    pages = client.list_pages(r.SECRETS, page_size=1)
    first = await anext(pages)
    items = first.items
    del first

    assert sys.getrefcount(items) == 2  # `items` here and getrefcount's own argument
    assert [o["metadata"]["name"] for o in items] == ["a"]
    assert [o["metadata"]["name"] for o in (await anext(pages)).items] == ["b"]


async def test_a_page_read_ahead_fails_where_the_caller_asks_for_it(
    scripted: Any, client: KubeClient
) -> None:
    scripted.reply(200, page([secret("a")], "10", token="t1"))
    scripted.reply(410, GONE)
    pages = client.list_pages(r.SECRETS, page_size=1, read_ahead=True)
    async with contextlib.aclosing(pages):
        first = await anext(pages)

        async def asked_ahead() -> bool:
            return len(scripted.seen) == 2

        await eventually(asked_ahead)
        assert scripted.seen[1].query["continue"] == "t1"
        assert [o["metadata"]["name"] for o in first.items] == ["a"]
        with pytest.raises(e.Gone):
            await anext(pages)
