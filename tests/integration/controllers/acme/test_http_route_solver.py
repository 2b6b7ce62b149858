"""The gatewayHTTPRoute solver against the simulator with the Gateway API CRDs: the
HTTPRoute the Presenter makes is valid for the HTTPRoute schema and owned by the
Challenge, clean up removes it; the Challenge controller turns a refused HTTPRoute, or a
solver used without --enable-gateway-api, into the Challenge's reason and a Warning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from certmgr.controllers.acme.presenting import GATEWAY_API_DISABLED, Presenter
from certmgr.controllers.acme.solver_objects import SHARED_SERVICE, SolverTarget
from certmgr.controllers.acme.solver_services import SharedSolverServices
from certmgr.controllers.context import Settings
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import CHALLENGES, HTTPROUTES, ISSUERS
from certmgr.runtime.cache import Cache
from certmgr.testing import gatewayapi
from certmgr.testing.apiserver.server import Simulator
from certmgr.testing.clock import FakeClock
from tests.integration.controllers.acme import presenting_harness
from tests.integration.controllers.acme.presenting_harness import NS, running

CRD_DIR = Path(__file__).resolve().parents[4] / "crds"
PARENT = {"name": "edge", "namespace": NS, "kind": "Gateway", "sectionName": "http"}


class FakeAccounts:
    async def client_for(self, issuer: dict[str, Any]) -> object:
        return object()  # never asked: presenting fails first


@pytest.fixture
async def kube(apiserver: Simulator, kubeconfig: Path) -> AsyncIterator[KubeClient]:
    apiserver.install_crds([CRD_DIR, *gatewayapi.crd_manifests()])
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as client:
        issuer = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "ca", "namespace": NS},
            "spec": {"acme": {"server": "https://ca/dir", "privateKeySecretRef": {"name": "k"}}},
        }
        await client.create(ISSUERS, issuer, namespace=NS)
        yield client


async def test_the_route_is_valid_owned_by_the_challenge_and_cleaned_up(kube: KubeClient) -> None:
    challenge = await kube.create(CHALLENGES, challenge_manifest({"parentRefs": [PARENT]}))
    owner = {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Challenge",
        "name": "c1",
        "uid": challenge["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    target = SolverTarget(
        name="cm-acme-http-solver-0123456789",
        namespace=NS,
        dns_name="www.example.com",
        token="t1",
        key="t1.thumb",
        owner=owner,
        route={"parentRefs": [PARENT], "labels": {"team": "shop"}},
    )
    shared = SharedSolverServices(
        kube, challenges=Cache(), clock=FakeClock(), host="127.0.0.1", port=8089, linger=600
    )
    presenter = Presenter(
        kube,
        solver_mode="shared",
        solver_image="img",
        shared=shared,
        shared_port=8089,
        gateway_api=True,
    )
    assert await presenter.present(target) is False
    route = await kube.get(HTTPROUTES, target.name, namespace=NS)
    assert route["metadata"]["ownerReferences"] == [owner]
    assert route["metadata"]["labels"]["team"] == "shop"
    assert route["spec"]["parentRefs"][0]["name"] == "edge"
    assert route["spec"]["hostnames"] == ["www.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"][0]["path"] == {
        "type": "Exact",
        "value": "/.well-known/acme-challenge/t1",
    }
    assert rule["backendRefs"][0]["name"] == SHARED_SERVICE
    await presenter.clean_up(target)
    with pytest.raises(NotFound):
        await kube.get(HTTPROUTES, target.name, namespace=NS)


def challenge_manifest(route: dict[str, Any]) -> dict[str, Any]:
    return presenting_harness.challenge({"http01": {"gatewayHTTPRoute": route}})


@pytest.mark.parametrize(
    ("gateway_api", "route", "reason"),
    [
        pytest.param(
            False,
            {"parentRefs": [PARENT]},
            f"Error presenting challenge: {GATEWAY_API_DISABLED}",
            id="without-enable-gateway-api",
        ),
        pytest.param(
            True,
            {"parentRefs": [PARENT], "labels": {"team": "not ok"}},
            'Error presenting challenge: HTTPRoute.gateway.networking.k8s.io "cm-acme-http-solver-',
            id="the-api-refuses-the-route",
        ),
    ],
)
async def test_a_route_that_cannot_be_made_is_the_challenges_reason(
    apiserver: Simulator, kube: KubeClient, gateway_api: bool, route: dict[str, Any], reason: str
) -> None:
    settings = Settings(enable_gateway_api=gateway_api)
    async with running(kube, settings=settings, accounts=FakeAccounts()) as controller:
        await kube.create(CHALLENGES, challenge_manifest(route), namespace=NS)
        written = await controller.reason()
        assert written["reason"].startswith(reason)
        assert written["processing"] is True
        assert ("Warning", "PresentError", written["reason"]) in controller.events.seen
        assert apiserver.requests.count(verb="create", resource="ingresses") == 0
        if not gateway_api:
            assert apiserver.requests.count(resource="httproutes") == 0
