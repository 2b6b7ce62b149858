"""Pebble validates HTTP-01 through the data plane: router (Ingress or Gateway) -> Service
-> solver.

No controller here: the test presents each challenge the way certmgr will (a solver Pod
with Service and Ingress in pod mode, an ExternalName Service to an in-process solver in
shared mode) and asks the real CA to validate it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from certmgr.acme import STATUS_PENDING, STATUS_VALID, AcmeSession, Identifier, generate_account_key
from certmgr.acme import connect as acme_connect
from certmgr.kube.client import KubeClient
from certmgr.kube.resources import INGRESSES, PODS, SERVICES
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.dataplane import DataPlane
from certmgr.testing.dataplane.manifests import (
    external_service,
    ingress,
    selector_service,
    solver_pod,
)
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.gatewayapi import GATEWAY_CLASSES, GATEWAYS, HTTP_ROUTES, conditions
from certmgr.testing.gatewayapi import manifests as gw
from certmgr.testing.pebble import PebbleServer
from solvers import StaticTokenSource, challenge_path, serve

pytestmark = pytest.mark.e2e
ACMESOLVER = "quay.io/jetstack/cert-manager-acmesolver:v1.16.1"


@pytest.fixture
async def acme(pebble: PebbleServer) -> AsyncIterator[AcmeSession]:
    session = await acme_connect(
        pebble.directory_url, account_key_pem=generate_account_key(), ca_bundle=pebble.ca_bundle
    )
    try:
        await session.register(email="dataplane@example.com")
        yield session
    finally:
        await session.close()


async def _present_pod(
    kube: KubeClient, namespace: str, name: str, *, domain: str, token: str, key: str
) -> None:
    pod = solver_pod(
        name, domain=domain, token=token, key=key, image=ACMESOLVER, namespace=namespace
    )
    await kube.create(PODS, pod)
    service = selector_service(name, selector={"solver": name}, target=8089, namespace=namespace)
    await kube.create(SERVICES, service)
    # An IP identifier cannot be an Ingress host: cert-manager leaves the host out.
    host = None if domain.replace(".", "").isdigit() else domain
    route = (challenge_path(token), "ImplementationSpecific", name, 8089)
    await kube.create(INGRESSES, ingress(name, host=host, paths=[route], namespace=namespace))


@pytest.mark.parametrize(
    ("identifier", "mode"),
    [
        pytest.param(Identifier.dns("pod.example.com"), "pod", id="dns-pod-mode"),
        pytest.param(Identifier.dns("shared.example.com"), "shared", id="dns-shared-mode"),
        pytest.param(Identifier.ip("127.0.0.1"), "pod", id="ip-pod-mode"),
    ],
)
async def test_pebble_validates_through_the_data_plane(
    pebble: PebbleServer,
    kubeconfig: Path,
    kube: KubeClient,
    namespace: str,
    acme: AcmeSession,
    http: aiohttp.ClientSession,
    identifier: Identifier,
    mode: str,
) -> None:
    order = await acme.new_order([identifier])
    (authz_url,) = order.authorizations
    authz = await acme.get_authorization(authz_url)
    challenge = authz.challenge("http-01")
    assert authz.status == STATUS_PENDING and challenge is not None
    key = acme.key_authorization(challenge.token)

    async with DataPlane(kubeconfig=kubeconfig, http_port=pebble.http01_port) as plane:
        shared = None
        if mode == "pod":
            await _present_pod(
                kube, namespace, "solver", domain=identifier.value, token=challenge.token, key=key
            )
        else:
            source = StaticTokenSource.single(
                domain=identifier.value, token=challenge.token, key=key
            )
            shared = await serve(source, host="127.0.0.1", port=0)
            port = int(shared.addresses[0][1])
            service = external_service(
                "solver", address="127.0.0.1", port=port, namespace=namespace
            )
            await kube.create(SERVICES, service)
            route = (challenge_path(challenge.token), "ImplementationSpecific", "solver", port)
            solver_ingress = ingress(
                "solver", host=identifier.value, paths=[route], namespace=namespace
            )
            await kube.create(INGRESSES, solver_ingress)
        try:
            # certmgr's self-check, in miniature: only ask the CA once the route works.
            await eventually(
                lambda: _status_of(http, plane, identifier.value, challenge.token),
                lambda status: status == 200,
            )
            await acme.accept_challenge(challenge.url)
            final = await eventually(
                lambda: acme.get_authorization(authz_url),
                lambda a: a.status != STATUS_PENDING,
            )
        finally:
            if shared is not None:
                await shared.cleanup()
    assert final.status == STATUS_VALID, final


async def _status_of(http: aiohttp.ClientSession, plane: DataPlane, host: str, token: str) -> int:
    url = plane.router.http_url + challenge_path(token)
    async with http.get(url, headers={"Host": host}) as response:
        return response.status


async def test_pebble_validates_through_a_gateway_listener(
    pebble: PebbleServer,
    kube_cluster: KubeCluster,
    kubeconfig: Path,
    kube: KubeClient,
    namespace: str,
    acme: AcmeSession,
    http: aiohttp.ClientSession,
) -> None:
    """The HTTPRoute cert-manager's gatewayHTTPRoute solver creates (Exact challenge path,
    the challenge's hostname, the solver Service as backend) on a Gateway's HTTP listener
    (port 80, served on Pebble's HTTP-01 port)."""
    domain = "gateway.example.com"
    order = await acme.new_order([Identifier.dns(domain)])
    (authz_url,) = order.authorizations
    authz = await acme.get_authorization(authz_url)
    challenge = authz.challenge("http-01")
    assert challenge is not None
    key = acme.key_authorization(challenge.token)
    await kube_cluster.install_gateway_api_crds()
    class_name = f"dataplane-{namespace}"
    await kube.create(GATEWAY_CLASSES, gw.gateway_class(class_name))
    source = StaticTokenSource.single(domain=domain, token=challenge.token, key=key)
    shared = await serve(source, host="127.0.0.1", port=0)
    try:
        port = int(shared.addresses[0][1])
        await kube.create(
            SERVICES,
            external_service("solver", address="127.0.0.1", port=port, namespace=namespace),
        )
        listeners = [gw.http_listener(), gw.https_listener(secret="gateway-tls", hostname=domain)]
        await kube.create(
            GATEWAYS,
            gw.gateway("edge", namespace=namespace, listeners=listeners, class_name=class_name),
        )
        route = gw.http_route(
            "cm-acme-http-solver",
            namespace=namespace,
            parents=[gw.parent_ref("edge")],
            hostnames=[domain],
            rules=[
                gw.path_rule(
                    challenge_path(challenge.token),
                    [gw.backend_ref("solver", port)],
                    path_type="Exact",
                )
            ],
        )
        await kube.create(HTTP_ROUTES, route)
        async with DataPlane(
            kubeconfig=kubeconfig, http_port=pebble.http01_port, gateway_api=True
        ) as plane:
            await eventually(
                lambda: kube.get(HTTP_ROUTES, "cm-acme-http-solver", namespace=namespace),
                lambda r: conditions.route_accepted(r, "edge"),
            )
            await eventually(
                lambda: _status_of(http, plane, domain, challenge.token),
                lambda status: status == 200,
            )
            await acme.accept_challenge(challenge.url)
            final = await eventually(
                lambda: acme.get_authorization(authz_url),
                lambda a: a.status != STATUS_PENDING,
            )
    finally:
        await shared.cleanup()
        await kube.delete(GATEWAY_CLASSES, class_name)
    assert final.status == STATUS_VALID, final
