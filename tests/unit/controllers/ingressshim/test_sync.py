"""The reconciler on a stale cache, against the API simulator: the caches are filled by
hand (no informers run), so each test fixes exactly which state the shim believes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from certmgr.controllers.context import Context, Settings
from certmgr.controllers.ingressshim import IngressShim
from certmgr.controllers.ingressshim.annotations import DefaultIssuer
from certmgr.controllers.ingressshim.desired import Verdict, plan_certificates
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Conflict
from certmgr.runtime.manager import Manager
from certmgr.testing.apiserver import Simulator
from certmgr.testing.clock import FakeClock
from certmgr.testing.dataplane.waiting import DEADLINE_SECONDS

CERTIFICATE_CRD = Path(__file__).resolve().parents[4] / "crds" / "cert-manager.io_certificates.yaml"
NAMESPACE = "default"


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.items.append((type_, reason, message))


class Cluster:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.manager = Manager(kube, clock=FakeClock())
        self.events = Events()
        self.shim = IngressShim(
            Context(
                client=kube,
                manager=self.manager,
                clock=self.manager.clock,
                events=self.events,
                acme=None,  # type: ignore[arg-type]
                settings=Settings(),
            )
        )

    async def reconcile(self, name: str) -> None:
        # A create waits for the cache, which no informer fills here: a wrong create
        # fails the test at this real-time deadline instead of hanging it.
        async with asyncio.timeout(DEADLINE_SECONDS):
            await self.shim.reconcile(f"{NAMESPACE}/{name}")

    def believe(self, resource: r.Resource, *objects: dict[str, Any]) -> None:
        """Put ``objects`` in the shim's cache, whatever the API holds now."""
        for obj in objects:
            self.manager.informer(resource).cache.apply("ADDED", obj)

    async def ingress(self, name: str = "web") -> dict[str, Any]:
        return await self.kube.create(
            r.INGRESSES,
            {
                "metadata": {
                    "name": name,
                    "namespace": NAMESPACE,
                    "annotations": {"cert-manager.io/issuer": "le"},
                },
                "spec": {
                    "rules": [{"host": "web.example.com"}],
                    "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}],
                },
            },
        )

    async def certificate(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.kube.create(r.CERTIFICATES, body)

    async def certificates(self) -> list[dict[str, Any]]:
        return (await self.kube.list(r.CERTIFICATES, namespace=NAMESPACE)).items


def desired_for(ingress: dict[str, Any]) -> dict[str, Any]:
    plan = plan_certificates(ingress, default_issuer=DefaultIssuer())
    assert plan.verdict is Verdict.SYNC
    (certificate,) = plan.certificates
    return certificate


@pytest.fixture
async def cluster(apiserver: Simulator, kubeconfig: Path) -> AsyncIterator[Cluster]:
    apiserver.install_crds([CERTIFICATE_CRD])
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as kube:
        yield Cluster(kube)


async def test_no_certificate_for_an_ingress_the_cache_still_shows_but_is_gone(
    cluster: Cluster,
) -> None:
    ingress = await cluster.ingress()
    await cluster.kube.delete(r.INGRESSES, "web", namespace=NAMESPACE)
    cluster.believe(r.INGRESSES, ingress)

    await cluster.reconcile("web")

    assert await cluster.certificates() == []
    assert cluster.events.items == []


async def test_a_certificate_the_cache_has_not_seen_is_left_for_the_next_look(
    cluster: Cluster,
) -> None:
    ingress = await cluster.ingress()
    foreign = await cluster.certificate(
        {
            "metadata": {"name": "web-tls", "namespace": NAMESPACE},
            "spec": {
                "secretName": "web-tls",
                "issuerRef": {"name": "mine"},
                "dnsNames": ["mine.example.com"],
            },
        }
    )
    cluster.believe(r.INGRESSES, ingress)  # and no Certificate: the cache is behind

    await cluster.reconcile("web")

    (after,) = await cluster.certificates()
    assert after["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]
    assert cluster.events.items == []


async def test_an_update_from_a_stale_cache_is_a_conflict_not_an_overwrite(
    cluster: Cluster,
) -> None:
    ingress = await cluster.ingress()
    created = await cluster.certificate(desired_for(ingress))
    # Someone changed the Certificate after the cache saw it...
    changed = await cluster.kube.patch(
        r.CERTIFICATES, "web-tls", {"metadata": {"labels": {"x": "y"}}}, namespace=NAMESPACE
    )
    # ... and the Ingress now wants another host.
    ingress["spec"]["tls"][0]["hosts"] = ["www.example.com"]
    cluster.believe(r.INGRESSES, ingress)
    cluster.believe(r.CERTIFICATES, created)

    with pytest.raises(Conflict):
        await cluster.reconcile("web")

    (after,) = await cluster.certificates()
    assert after["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]


async def test_a_replaced_certificate_is_not_deleted_on_the_old_ones_behalf(
    cluster: Cluster,
) -> None:
    ingress = await cluster.ingress()
    owned = await cluster.certificate(desired_for(ingress))
    await cluster.kube.delete(r.CERTIFICATES, "web-tls", namespace=NAMESPACE)
    replacement = await cluster.certificate(
        {
            "metadata": {"name": "web-tls", "namespace": NAMESPACE},
            "spec": {
                "secretName": "web-tls",
                "issuerRef": {"name": "mine"},
                "dnsNames": ["mine.example.com"],
            },
        }
    )
    ingress["spec"]["tls"] = []  # the shim wants web-tls gone, judging the old object
    cluster.believe(r.INGRESSES, ingress)
    cluster.believe(r.CERTIFICATES, owned)

    await cluster.reconcile("web")

    (after,) = await cluster.certificates()
    assert after["metadata"]["uid"] == replacement["metadata"]["uid"]
    assert cluster.events.items == []
