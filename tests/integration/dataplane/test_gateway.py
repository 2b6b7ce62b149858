"""The data plane as a Gateway API implementation, through the API: statuses written back,
requests through a Gateway listener to a Service, TLS from a listener's certificateRefs
Secret (renewed on the next handshake, cross-namespace only with a ReferenceGrant)."""

from __future__ import annotations

import datetime
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from certmgr.kube.client import KubeClient
from certmgr.kube.resources import INGRESSES, SECRETS, SERVICES
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.dataplane import DataPlane
from certmgr.testing.dataplane.echo import echo_server
from certmgr.testing.dataplane.gatewaysetup import create_gateway
from certmgr.testing.dataplane.manifests import external_service, ingress, tls_secret
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.gatewayapi import GATEWAY_CLASSES, GATEWAYS, HTTP_ROUTES, REFERENCE_GRANTS
from certmgr.testing.gatewayapi import conditions as c
from certmgr.testing.gatewayapi import manifests as m
from certmgr.testing.throwaway_ca import ThrowawayCA

HOST = "www.example.com"


@pytest.fixture
async def gateway_class(kube_cluster: KubeCluster, kube: KubeClient) -> AsyncIterator[str]:
    await kube_cluster.install_gateway_api_crds()
    name = f"dataplane-{uuid.uuid4().hex[:8]}"
    await kube.create(GATEWAY_CLASSES, m.gateway_class(name))
    try:
        yield name
    finally:
        await kube.delete(GATEWAY_CLASSES, name)


@pytest.fixture
async def plane(gateway_class: str, kubeconfig: Path) -> AsyncIterator[DataPlane]:
    async with DataPlane(
        kubeconfig=kubeconfig, http_port=0, https_port=0, gateway_api=True
    ) as plane:
        yield plane


@pytest.fixture
async def backend() -> AsyncIterator[int]:
    async with echo_server(lambda r: f"{r.headers['X-Forwarded-Proto']} {r.host} {r.path}") as port:
        yield port


def _chain(host: str) -> tuple[bytes, bytes, bytes]:
    ca = ThrowawayCA.create("test root", validity=datetime.timedelta(days=1))
    pair = ca.issue(host, names=[host])
    return ca.pem, pair.certificate_pem + ca.pem, pair.key_pem


@pytest.fixture
async def web(kube: KubeClient, backend: int, namespace: str) -> None:
    """Service ``web`` (ExternalName) in the test's namespace, reaching ``backend``."""
    service = external_service("web", address="127.0.0.1", port=backend, namespace=namespace)
    await kube.create(SERVICES, service)


async def _get(http: aiohttp.ClientSession, url: str, *, host: str) -> tuple[int, str]:
    async with http.get(url, headers={"Host": host}) as response:
        return response.status, await response.text()


async def _fetch_tls(
    http: aiohttp.ClientSession, url: str, *, host: str, ca: bytes
) -> tuple[int, str] | str:
    context = ssl.create_default_context(cadata=ca.decode())
    try:
        async with http.get(
            url, headers={"Host": host}, ssl=context, server_hostname=host
        ) as response:
            return response.status, await response.text()
    except aiohttp.ClientConnectorCertificateError:
        return "certificate-rejected"


async def test_statuses_and_a_request_through_the_http_listener(
    plane: DataPlane,
    gateway_class: str,
    kube: KubeClient,
    http: aiohttp.ClientSession,
    backend: int,
    namespace: str,
    web: None,
) -> None:
    listeners = [
        m.http_listener(hostname="*.example.com"),
        m.https_listener(secret="web-tls", hostname=HOST),
    ]
    await kube.create(
        GATEWAYS,
        m.gateway("gw", namespace=namespace, listeners=listeners, class_name=gateway_class),
    )
    route = m.http_route(
        "web",
        namespace=namespace,
        parents=[m.parent_ref("gw", section="http")],
        hostnames=[HOST],
        rules=[m.path_rule("/", [m.backend_ref("web", backend)])],
    )
    await kube.create(HTTP_ROUTES, route)

    gw = await eventually(
        lambda: kube.get(GATEWAYS, "gw", namespace=namespace),
        lambda g: c.programmed(g) and c.listener_status(g, "http").get("attachedRoutes") == 1,
    )
    assert c.condition(gw, "Accepted") is not None
    ((address_entry,),) = [gw["status"]["addresses"]]
    assert address_entry["type"] == "IPAddress" and address_entry["value"].startswith("127.1.")
    https_resolved = c.listener_condition(gw, "https", kind="ResolvedRefs")
    assert https_resolved is not None
    assert (https_resolved["status"], https_resolved["reason"]) == (
        "False",
        "InvalidCertificateRef",
    )
    gc = await kube.get(GATEWAY_CLASSES, gateway_class)
    accepted = c.condition(gc, "Accepted")
    assert accepted is not None and accepted["status"] == "True"
    stored = await eventually(
        lambda: kube.get(HTTP_ROUTES, "web", namespace=namespace),
        lambda r: c.route_accepted(r, "gw"),
    )
    resolved = c.route_condition(stored, "gw", kind="ResolvedRefs")
    assert resolved is not None and resolved["status"] == "True"

    url = plane.router.listener_url(80)
    assert await _get(http, f"{url}/hello", host=HOST) == (200, f"http {HOST} /hello")
    # A host the route does not name: the listener matches, no rule does.
    assert (await _get(http, f"{url}/hello", host="other.example.com"))[0] == 404


async def test_each_gateway_answers_on_its_own_address(
    plane: DataPlane,
    gateway_class: str,
    kube: KubeClient,
    http: aiohttp.ClientSession,
    backend: int,
    namespace: str,
    web: None,
) -> None:
    """Two Gateways with catch-all listeners on port 80 do not compete: each has an
    address of its own (status.addresses), where only its routes answer."""
    for name in ("first", "second"):
        await kube.create(
            GATEWAYS,
            m.gateway(
                name, namespace=namespace, listeners=[m.http_listener()], class_name=gateway_class
            ),
        )
        route = m.http_route(
            name,
            namespace=namespace,
            parents=[m.parent_ref(name)],
            rules=[m.path_rule(f"/{name}", [m.backend_ref("web", backend)])],
        )
        await kube.create(HTTP_ROUTES, route)
    urls: dict[str, str] = {}
    for name in ("first", "second"):
        gw = await eventually(
            lambda name=name: kube.get(GATEWAYS, name, namespace=namespace),
            lambda g: c.programmed(g) and c.listener_status(g, "http").get("attachedRoutes") == 1,
        )
        urls[name] = plane.router.listener_url(80, address=gw["status"]["addresses"][0]["value"])
    assert urls["first"] != urls["second"]
    for name, url in urls.items():
        other = "second" if name == "first" else "first"
        assert await _get(http, f"{url}/{name}", host=HOST) == (200, f"http {HOST} /{name}")
        assert (await _get(http, f"{url}/{other}", host=HOST))[0] == 404


async def test_a_gateway_gets_the_loopback_address_it_asks_for(
    plane: DataPlane,
    gateway_class: str,
    kube: KubeClient,
    namespace: str,
) -> None:
    wanted = "127.2.0.7"
    body = m.gateway(
        "asks", namespace=namespace, listeners=[m.http_listener()], class_name=gateway_class
    )
    body["spec"]["addresses"] = [{"type": "IPAddress", "value": wanted}]
    await kube.create(GATEWAYS, body)
    gw = await eventually(lambda: kube.get(GATEWAYS, "asks", namespace=namespace), c.programmed)
    assert gw["status"]["addresses"] == [{"type": "IPAddress", "value": wanted}]


async def test_tls_from_the_listener_secret_renewed_on_the_next_handshake(
    plane: DataPlane,
    gateway_class: str,
    kube: KubeClient,
    http: aiohttp.ClientSession,
    backend: int,
    namespace: str,
    web: None,
) -> None:
    address = await create_gateway(
        kube,
        plane,
        namespace=namespace,
        name="gw",
        hostname=HOST,
        secret="web-tls",
        class_name=gateway_class,
    )
    # No Secret yet (gateway-shim would create it): the HTTPS listener waits for it.
    waiting = c.listener_condition(address.gateway, "https", kind="Programmed")
    assert waiting is not None and waiting["status"] == "False"
    await kube.create(
        HTTP_ROUTES,
        m.http_route(
            "web",
            namespace=namespace,
            parents=[m.parent_ref("gw", section="https")],
            rules=[m.path_rule("/", [m.backend_ref("web", backend)])],
        ),
    )
    old_ca, old_chain, old_key = _chain(HOST)
    new_ca, new_chain, new_key = _chain(HOST)
    await kube.create(
        SECRETS, tls_secret("web-tls", chain=old_chain, key=old_key, namespace=namespace)
    )
    await eventually(
        lambda: kube.get(GATEWAYS, "gw", namespace=namespace),
        lambda g: (
            (c.listener_condition(g, "https", kind="Programmed") or {}).get("status") == "True"
        ),
    )
    url = f"{address.https_url}/tls"
    first = await eventually(
        lambda: _fetch_tls(http, url, host=HOST, ca=old_ca), lambda r: isinstance(r, tuple)
    )
    assert first == (200, f"https {HOST} /tls")

    secret = await kube.get(SECRETS, "web-tls", namespace=namespace)
    secret["data"] = tls_secret("web-tls", chain=new_chain, key=new_key, namespace=namespace)[
        "data"
    ]
    await kube.update(SECRETS, secret)
    renewed = await eventually(
        lambda: _fetch_tls(http, url, host=HOST, ca=new_ca), lambda r: isinstance(r, tuple)
    )
    assert renewed == (200, f"https {HOST} /tls")
    assert await _fetch_tls(http, url, host=HOST, ca=old_ca) == "certificate-rejected"


async def test_a_secret_in_another_namespace_needs_a_reference_grant(
    plane: DataPlane,
    gateway_class: str,
    kube_cluster: KubeCluster,
    kube: KubeClient,
    namespace: str,
) -> None:
    certs = await kube_cluster.create_namespace("certs")
    _, chain, key = _chain(HOST)
    await kube.create(SECRETS, tls_secret("web-tls", chain=chain, key=key, namespace=certs))
    listeners = [m.https_listener(secret="web-tls", secret_namespace=certs, hostname=HOST)]
    await kube.create(
        GATEWAYS,
        m.gateway("gw", namespace=namespace, listeners=listeners, class_name=gateway_class),
    )

    def reason(gateway: dict[str, Any]) -> str | None:
        found = c.listener_condition(gateway, "https", kind="ResolvedRefs")
        return None if found is None else str(found["reason"])

    await eventually(
        lambda: kube.get(GATEWAYS, "gw", namespace=namespace),
        lambda g: reason(g) == "RefNotPermitted",
    )
    grant = m.reference_grant(
        "gateways-read-tls",
        namespace=certs,
        from_kind="Gateway",
        from_namespace=namespace,
        to_kind="Secret",
    )
    await kube.create(REFERENCE_GRANTS, grant)
    gw = await eventually(
        lambda: kube.get(GATEWAYS, "gw", namespace=namespace),
        lambda g: reason(g) == "ResolvedRefs",
    )
    programmed = c.listener_condition(gw, "https", kind="Programmed")
    assert programmed is not None and programmed["status"] == "True"


async def test_unresolved_backends_answer_500_and_unmatched_requests_reach_ingresses(
    plane: DataPlane,
    gateway_class: str,
    kube: KubeClient,
    http: aiohttp.ClientSession,
    backend: int,
    namespace: str,
    web: None,
) -> None:
    await kube.create(
        GATEWAYS,
        m.gateway(
            "gw",
            namespace=namespace,
            listeners=[m.http_listener(hostname=HOST)],
            class_name=gateway_class,
        ),
    )
    rules = [
        m.path_rule("/app", [m.backend_ref("web", backend)]),
        m.path_rule("/broken", [m.backend_ref("missing", 80)]),
    ]
    await kube.create(
        HTTP_ROUTES,
        m.http_route("web", namespace=namespace, parents=[m.parent_ref("gw")], rules=rules),
    )
    await kube.create(
        INGRESSES,
        ingress(
            "legacy", host=HOST, paths=[("/legacy", "Prefix", "web", backend)], namespace=namespace
        ),
    )
    stored = await eventually(
        lambda: kube.get(HTTP_ROUTES, "web", namespace=namespace),
        lambda r: c.route_accepted(r, "gw"),
    )
    resolved = c.route_condition(stored, "gw", kind="ResolvedRefs")
    assert resolved is not None
    assert (resolved["status"], resolved["reason"]) == ("False", "BackendNotFound")

    url = plane.router.listener_url(80)
    assert await _get(http, f"{url}/app/x", host=HOST) == (200, f"http {HOST} /app/x")
    assert (await _get(http, f"{url}/broken", host=HOST))[0] == 500
    # No rule of the Gateway matches: the Ingress routes get the request.
    legacy = await eventually(lambda: _get(http, f"{url}/legacy", host=HOST), lambda r: r[0] == 200)
    assert legacy == (200, f"http {HOST} /legacy")


async def test_the_gateway_dataplane_fixture_and_create_gateway(
    gateway_dataplane: DataPlane,
    kube: KubeClient,
    http: aiohttp.ClientSession,
    backend: int,
    namespace: str,
    web: None,
) -> None:
    address = await create_gateway(
        kube, gateway_dataplane, namespace=namespace, name="gw", hostname=HOST, secret="web-tls"
    )
    await kube.create(
        HTTP_ROUTES,
        m.http_route(
            "web",
            namespace=namespace,
            parents=[m.parent_ref("gw", section="http")],
            rules=[m.path_rule("/", [m.backend_ref("web", backend)])],
        ),
    )
    answer = await eventually(
        lambda: _get(http, f"{address.http_url}/x", host=HOST), lambda r: r[0] == 200
    )
    assert answer == (200, f"http {HOST} /x")
