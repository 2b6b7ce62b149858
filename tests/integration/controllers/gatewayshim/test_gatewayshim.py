"""gateway-shim against the API with the Gateway API CRDs: cert-manager's documented
Gateways apply unchanged and get the documented Certificates (skipped listeners with a
Warning); editing the listeners updates and removes Certificates; a Certificate the
Gateway does not control is never touched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from certmgr.api import labels
from certmgr.controllers import gatewayshim
from certmgr.controllers.context import Context, Settings
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Invalid
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock
from certmgr.testing.cluster import KubeCluster, load_manifests
from certmgr.testing.dataplane.waiting import DEADLINE_SECONDS, eventually
from certmgr.testing.idle import until_idle

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gateway-api"


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, str]] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.items.append((obj["metadata"]["name"], type_, reason, message))

    def of(self, type_: str, reason: str) -> list[str]:
        return [m for _, t, why, m in self.items if (t, why) == (type_, reason)]


class World:
    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.clock = FakeClock()
        self.events = Events()
        self.manager = Manager(kube, clock=self.clock)
        ctx = Context(kube, self.manager, self.clock, self.events, None, Settings(workers=2))  # type: ignore[arg-type]
        gatewayshim.setup(ctx)

    async def wait(self, probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool]) -> T:
        async def ticking() -> T:
            self.clock.advance(1.0)
            return await probe()

        return await eventually(ticking, accept)

    async def apply(self, fixture: str, *, passthrough_as_tls: bool = False) -> dict[str, Any]:
        (doc,) = load_manifests(FIXTURES / fixture)
        doc["metadata"]["namespace"] = self.namespace  # the test's own namespace
        for listener in doc["spec"]["listeners"] if passthrough_as_tls else ():
            if (listener.get("tls") or {}).get("mode") == "Passthrough":
                listener["protocol"] = "TLS"
        return await self.kube.create(r.GATEWAYS, doc)

    async def settled(self, gateway: dict[str, Any]) -> None:
        """The shim's cache shows ``gateway``, then its controller is idle 5 polls in a row."""
        async with asyncio.timeout(DEADLINE_SECONDS):
            cache = self.manager.informer(r.GATEWAYS).cache
            await cache.wait_for_object(gateway, timeout=float("inf"))
        await until_idle(self.manager, wait=self.wait)

    async def certificates(self) -> dict[str, dict[str, Any]]:
        listed = await self.kube.list(r.CERTIFICATES, namespace=self.namespace)
        return {c["metadata"]["name"]: c for c in listed.items}

    async def dns_names(self, expected: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        def same(found: dict[str, dict[str, Any]]) -> bool:
            return {n: c["spec"].get("dnsNames") for n, c in found.items()} == expected

        return await self.wait(self.certificates, same)


@pytest.fixture
async def world(kube_cluster: KubeCluster, kube_namespace: str) -> AsyncIterator[World]:
    await kube_cluster.install_crds()
    await kube_cluster.install_gateway_api_crds()
    async with await KubeClient.connect(kubeconfig=str(kube_cluster.kubeconfig)) as kube:
        world = World(kube, kube_namespace)
        task = asyncio.create_task(world.manager.run())
        try:
            await asyncio.wait_for(world.manager.wait_synced(), 10)
            yield world
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_the_documented_annotated_gateway(world: World) -> None:
    gateway = await world.apply("gateway-annotated.yaml")
    found = await world.dns_names({"example-com-tls": ["example.com"]})
    certificate = found["example-com-tls"]
    assert certificate["spec"]["secretName"] == "example-com-tls"
    assert certificate["spec"]["issuerRef"] == {
        "name": "foo",
        "kind": "Issuer",
        "group": "cert-manager.io",
    }
    (ref,) = certificate["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"]) == (
        "Gateway",
        "example",
        gateway["metadata"]["uid"],
    )
    assert ref["controller"] and ref["blockOwnerDeletion"]
    assert certificate["metadata"]["annotations"] == {
        labels.HTTP01_PARENT_REF_KIND: "Gateway",
        labels.HTTP01_PARENT_REF_NAME: "example",
    }
    await world.wait(
        _value(lambda: world.events.of("Normal", "CreateCertificate")),
        lambda m: m == ['Successfully created Certificate "example-com-tls"'],
    )


async def test_the_documented_listener_blocks(world: World) -> None:
    # As documented, example-3 (HTTPS with mode Passthrough) breaks a rule of the Gateway
    # API's own CRDs, so a real server refuses the whole Gateway; as TLS it is accepted.
    with pytest.raises(Invalid) as refused:
        await world.apply("gateway-listener-blocks.yaml")
    assert "tls mode must be Terminate for protocol HTTPS" in str(refused.value)
    await world.apply("gateway-listener-blocks.yaml", passthrough_as_tls=True)
    await world.dns_names({"example-com-tls": ["bar.example.com"]})
    warnings = await world.wait(
        _value(lambda: world.events.of("Warning", "BadConfig")), lambda m: len(m) >= 2
    )
    # example-1 (HTTP) and example-3 (Passthrough) are passed over without a word; each
    # reconcile (one per Certificate event too) says it again, as cert-manager does.
    assert sorted(set(warnings)) == [
        "Skipped a listener block: spec.listeners[1].hostname: Required value: the hostname "
        "cannot be empty",
        "Skipped a listener block: spec.listeners[3].tls.certificateRef[0].namespace: Invalid "
        'value: "other-namespace": cross-namespace secret references are not allowed in '
        "listeners",
    ]


async def test_the_documented_shared_secret(world: World) -> None:
    await world.apply("gateway-shared-secret.yaml")
    await world.dns_names(
        {"example-com-tls": ["example.com", "*.example.com"], "site-org-tls": ["site.org"]}
    )


async def test_listener_edits_update_and_remove_certificates(world: World) -> None:
    await world.apply("gateway-shared-secret.yaml")
    await world.dns_names(
        {"example-com-tls": ["example.com", "*.example.com"], "site-org-tls": ["site.org"]}
    )
    gateway = await world.kube.get(r.GATEWAYS, "example", namespace=world.namespace)
    listeners = gateway["spec"]["listeners"]
    listeners[0]["hostname"] = "www.example.com"
    del listeners[3]  # the only listener of site-org-tls
    await world.kube.update(r.GATEWAYS, gateway)
    await world.dns_names({"example-com-tls": ["www.example.com", "*.example.com"]})
    gateway = await world.kube.get(r.GATEWAYS, "example", namespace=world.namespace)
    gateway["metadata"]["annotations"][labels.IGNORE_TLS_LISTENERS] = "example-1"
    await world.kube.update(r.GATEWAYS, gateway)
    await world.dns_names({"example-com-tls": ["*.example.com"]})


async def test_a_certificate_the_gateway_does_not_control_is_left_alone(world: World) -> None:
    theirs = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "example-com-tls", "namespace": world.namespace},
        "spec": {
            "secretName": "example-com-tls",
            "dnsNames": ["mine.example.com"],
            "issuerRef": {"name": "other"},
        },
    }
    await world.kube.create(r.CERTIFICATES, theirs)
    gateway = await world.apply("gateway-annotated.yaml")
    await world.settled(gateway)
    found = await world.dns_names({"example-com-tls": ["mine.example.com"]})
    assert "ownerReferences" not in found["example-com-tls"]["metadata"]


def _value(fn: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def probe() -> T:
        return fn()

    return probe
