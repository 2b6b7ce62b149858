"""KubeClient against an API server over HTTPS: verbs, typed errors, lists, watches.

Runs against the simulator, or a real kube-apiserver given by CERTMGR_TEST_KUBECONFIG;
so it asserts what both must agree on, never exact resourceVersion values.
"""

from __future__ import annotations

import asyncio
import copy
import sys
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from certmgr.kube import errors as e
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.objects import WatchEvent, name_of, resource_version


def configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "data": dict(data)}


async def test_crud_round_trip(kube: KubeClient, namespace: str) -> None:
    created = await kube.create(r.CONFIGMAPS, configmap("cm", namespace, a="1"))
    assert created["metadata"]["uid"]
    fetched = await kube.get(r.CONFIGMAPS, "cm", namespace=namespace)
    assert fetched["data"] == {"a": "1"}

    changed = copy.deepcopy(fetched)
    changed["data"]["a"] = "2"
    updated = await kube.update(r.CONFIGMAPS, changed)
    assert updated["data"] == {"a": "2"}
    assert resource_version(updated) != resource_version(fetched)

    with pytest.raises(e.Conflict):
        await kube.update(r.CONFIGMAPS, changed)  # still carries the old resourceVersion

    merged = await kube.patch(r.CONFIGMAPS, "cm", {"data": {"b": "3"}}, namespace=namespace)
    assert merged["data"] == {"a": "2", "b": "3"}
    patched = await kube.patch(
        r.CONFIGMAPS,
        "cm",
        [{"op": "remove", "path": "/data/a"}],
        namespace=namespace,
        patch_type="json",
    )
    assert patched["data"] == {"b": "3"}

    with pytest.raises(e.AlreadyExists):
        await kube.create(r.CONFIGMAPS, configmap("cm", namespace))
    assert await kube.delete(r.CONFIGMAPS, "cm", namespace=namespace) is None
    with pytest.raises(e.NotFound):
        await kube.get(r.CONFIGMAPS, "cm", namespace=namespace)


async def test_delete_precondition_mismatch_is_a_conflict(kube: KubeClient, namespace: str) -> None:
    await kube.create(r.CONFIGMAPS, configmap("cm", namespace))
    with pytest.raises(e.Conflict):
        await kube.delete(
            r.CONFIGMAPS, "cm", namespace=namespace, preconditions={"uid": "not-this-one"}
        )
    await kube.get(r.CONFIGMAPS, "cm", namespace=namespace)


async def test_delete_with_finalizer_returns_the_object(kube: KubeClient, namespace: str) -> None:
    body = configmap("held", namespace)
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await kube.create(r.CONFIGMAPS, body)
    held = await kube.delete(r.CONFIGMAPS, "held", namespace=namespace)
    assert held is not None and held["metadata"]["deletionTimestamp"]
    await kube.patch(r.CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, namespace=namespace)
    with pytest.raises(e.NotFound):
        await kube.get(r.CONFIGMAPS, "held", namespace=namespace)


async def test_invalid_names_the_field(kube: KubeClient, namespace: str) -> None:
    with pytest.raises(e.Invalid) as raised:
        await kube.create(r.CONFIGMAPS, configmap("Not_A_DNS_Name", namespace))
    assert any(c.get("field") == "metadata.name" for c in raised.value.causes)
    assert raised.value.status["kind"] == "Status"


async def test_list_pages_and_selectors(kube: KubeClient, namespace: str) -> None:
    for i in range(7):
        body = configmap(f"cm-{i}", namespace)
        body["metadata"]["labels"] = {"parity": "even" if i % 2 == 0 else "odd"}
        await kube.create(r.CONFIGMAPS, body)
    # Every namespace also holds kube-root-ca.crt (kube-controller-manager publishes it).
    listed = await kube.list(
        r.CONFIGMAPS, namespace=namespace, page_size=2, label_selector="parity"
    )
    assert sorted(name_of(o) for o in listed.items) == [f"cm-{i}" for i in range(7)]
    assert listed.resource_version
    pages = [
        page
        async for page in kube.list_pages(
            r.CONFIGMAPS, namespace=namespace, page_size=3, label_selector="parity"
        )
    ]
    assert [len(p.items) for p in pages] == [3, 3, 1]
    odd = await kube.list(r.CONFIGMAPS, namespace=namespace, label_selector="parity=odd")
    assert sorted(name_of(o) for o in odd.items) == ["cm-1", "cm-3", "cm-5"]
    named = await kube.list(r.CONFIGMAPS, namespace=namespace, field_selector="metadata.name=cm-4")
    assert [name_of(o) for o in named.items] == ["cm-4"]


async def test_metadata_only_list_and_watch_carry_no_data(kube: KubeClient, namespace: str) -> None:
    secret = {
        "metadata": {"name": "s", "namespace": namespace},
        "type": "Opaque",
        "data": {"k": "c2VjcmV0"},
    }
    await kube.create(r.SECRETS, secret)
    listed = await kube.list(r.SECRETS, namespace=namespace, metadata_only=True)
    assert [o.get("kind") for o in listed.items] == ["PartialObjectMetadata"]
    assert "data" not in listed.items[0]

    stream = kube.watch(
        r.SECRETS, namespace=namespace, resource_version=listed.resource_version, metadata_only=True
    )
    await kube.patch(r.SECRETS, "s", {"data": {"k": "b3RoZXI="}}, namespace=namespace)
    event = await anext(_changes(stream))
    assert event.type == "MODIFIED"
    assert "data" not in event.object and name_of(event.object) == "s"
    await stream.aclose()


async def _changes(stream: Any) -> Any:
    async for event in stream:
        if event.type != "BOOKMARK":
            yield event


async def test_watch_sees_changes_in_order(kube: KubeClient, namespace: str) -> None:
    listed = await kube.list(r.CONFIGMAPS, namespace=namespace)
    stream = kube.watch(r.CONFIGMAPS, namespace=namespace, resource_version=listed.resource_version)
    events: list[WatchEvent] = []

    async def collect() -> None:
        async for event in _changes(stream):
            events.append(event)
            if event.type == "DELETED":
                return

    collector = asyncio.create_task(collect())
    await kube.create(r.CONFIGMAPS, configmap("w", namespace))
    await kube.patch(r.CONFIGMAPS, "w", {"data": {"x": "1"}}, namespace=namespace)
    await kube.delete(r.CONFIGMAPS, "w", namespace=namespace)
    await asyncio.wait_for(collector, timeout=10)
    assert [(ev.type, name_of(ev.object)) for ev in events] == [
        ("ADDED", "w"),
        ("MODIFIED", "w"),
        ("DELETED", "w"),
    ]


async def test_watch_from_a_compacted_version_raises_gone(sim: Any, kube: KubeClient) -> None:
    listed = await kube.list(r.CONFIGMAPS, namespace="default")
    for i in range(60):  # the fixture's history window is 50 events
        await kube.create(r.CONFIGMAPS, configmap(f"churn-{i}", "default"))
    with pytest.raises(e.Gone):
        async for _ in kube.watch(
            r.CONFIGMAPS, namespace="default", resource_version=listed.resource_version
        ):
            pass


async def test_wrong_token_is_unauthorized(sim: Any, tmp_path: Path) -> None:
    path = sim.kubeconfig(tmp_path / "bad", token="not-a-token")
    async with await KubeClient.connect(kubeconfig=str(path)) as kube:
        with pytest.raises(e.Unauthorized):
            await kube.get(r.NAMESPACES, "default")


@pytest.mark.parametrize(
    "close",
    [
        pytest.param("aclose", id="aclose-mid-stream"),
        pytest.param("cancel", id="consumer-cancelled"),
        pytest.param("innermost-first", id="loop-teardown-closes-inner-generators-first"),
        pytest.param("outermost-first", id="loop-teardown-closes-the-watch-first"),
    ],
)
async def test_closing_a_watch_mid_stream_is_clean(
    kube: KubeClient, namespace: str, close: str
) -> None:
    # At loop teardown (shutdown_asyncgens, or the GC's finalizer) every async generator
    # still open is closed in no particular order; an inner one closed before the watch
    # made the watch's own close fail with "generator didn't stop after athrow()".
    hooks = sys.get_asyncgen_hooks()
    opened: list[Any] = []

    def track(generator: Any) -> None:
        opened.append(generator)
        if hooks.firstiter is not None:
            hooks.firstiter(generator)

    listed = await kube.list(r.CONFIGMAPS, namespace=namespace)
    sys.set_asyncgen_hooks(firstiter=track, finalizer=hooks.finalizer)
    try:
        stream = kube.watch(
            r.CONFIGMAPS, namespace=namespace, resource_version=listed.resource_version
        )
        await kube.create(r.CONFIGMAPS, configmap("w", namespace))
        changes = _changes(stream)
        assert (await anext(changes)).type == "ADDED"
    finally:
        sys.set_asyncgen_hooks(*hooks)

    if close == "aclose":
        await changes.aclose()
        await stream.aclose()
    elif close == "cancel":

        async def consume() -> None:
            async for _ in changes:
                pass

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await stream.aclose()
    else:
        order = opened[::-1] if close == "innermost-first" else opened
        for generator in order:
            await generator.aclose()
    assert stream.ag_frame is None  # closed, and nothing raised on the way


async def test_a_warning_from_the_server_is_logged(kube: KubeClient, namespace: str) -> None:
    labels = {"pod-security.kubernetes.io/warn": "baseline"}
    await kube.patch(r.NAMESPACES, namespace, {"metadata": {"labels": labels}})
    pod = {
        "metadata": {"name": "p", "namespace": namespace},
        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "busybox"}]},
    }
    with capture_logs() as logs:
        await kube.create(r.PODS, pod)
    warnings = [entry for entry in logs if entry["event"] == "kube_api_warning"]
    assert [(w["verb"], w["resource"], w["warning"]) for w in warnings] == [
        (
            "create",
            "pods",
            'would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)',
        )
    ]
