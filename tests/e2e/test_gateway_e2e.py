"""The Gateway API end to end (issue 18): ``certmgr run --enable-gateway-api`` as its own
process under deploy/'s RBAC plus deploy/gateway-api's, Pebble, and the data plane as the
Gateway implementation.

A Gateway with an HTTP and an HTTPS listener, annotated with a ClusterIssuer whose solver
is ``gatewayHTTPRoute`` pointing at it: the gateway-shim makes the Certificate, Pebble
validates through the Gateway's HTTP listener (a temporary HTTPRoute), the Certificate
becomes Ready, an HTTPS request through the Gateway verifies against Pebble's root, and
no HTTPRoute of the solver is left. Then cert-manager's documented ``gatewayHTTPRoute``
Issuer, its Gateway and Certificate (tests/fixtures/gateway-api) apply unchanged and
issue while the first Gateway still exists: both have a catch-all listener on port 80,
and each is reached on its own address (``status.addresses``), to which Pebble's DNS
points the Certificate's name, as a DNS record would on a cluster. The permissions the
controller was asked for in ``gateway.networking.k8s.io`` are exactly what
deploy/gateway-api grants (the simulator records every request)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from certmgr.api import labels
from certmgr.testing.dataplane.echo import echo_server
from certmgr.testing.dataplane.manifests import external_service
from certmgr.testing.gatewayapi import GATEWAYS
from certmgr.testing.gatewayapi import manifests as m
from certmgr.testing.localenv import (
    CONTROLLER_USER,
    LocalEnvironment,
    assert_no_denials,
    load_manifests,
    local_environment,
    pointed_at,
)
from certmgr.testing.pebble import PebbleServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.simulator_only("reads the simulator's record of the controller's requests"),
]

ROOT = Path(__file__).resolve().parents[2]
COMPONENT_RBAC = ROOT / "deploy" / "gateway-api" / "rbac.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "gateway-api"
GROUP = "gateway.networking.k8s.io"
CERT = ("cert-manager.io/v1", "Certificate")
HOST = "shop.example.com"


def ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def granted() -> set[tuple[str, str, str]]:
    """(group, resource, verb) deploy/gateway-api grants."""
    return {
        (group, resource, verb)
        for doc in yaml.safe_load_all(COMPONENT_RBAC.read_text())
        if doc and doc["kind"] == "ClusterRole"
        for rule in doc["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def gateway_issuer(env: LocalEnvironment) -> dict[str, Any]:
    """A ClusterIssuer as cert-manager documents the gatewayHTTPRoute solver, its
    parentRef the test's Gateway, pointed at Pebble."""
    (issuer,) = load_manifests(FIXTURES / "issuer-gateway-httproute.yaml")
    issuer = {**issuer, "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt-gateway"}}
    solver = issuer["spec"]["acme"]["solvers"][0]["http01"]["gatewayHTTPRoute"]
    solver["parentRefs"] = [{"name": "edge", "namespace": env.namespace, "kind": "Gateway"}]
    return pointed_at(issuer, env.pebble)


@pytest.fixture
async def backend() -> AsyncIterator[int]:
    async with echo_server(lambda r: f"shop {r.path}") as port:
        yield port


async def gateway_address(env: LocalEnvironment, name: str, namespace: str) -> str:
    """The Gateway's own address, once the data plane has programmed it."""

    def given() -> str | None:
        found = env.simulator.get(f"{GROUP}/v1", "Gateway", name, namespace) or {}
        addresses = (found.get("status") or {}).get("addresses") or []
        return str(addresses[0]["value"]) if addresses else None

    return str(await env.eventually(given, what=f"Gateway {name}'s address"))


@pytest.fixture
def point_dns(pebble: PebbleServer) -> Iterator[Callable[[str, str], None]]:
    """``point_dns(host, address)``: Pebble's DNS answers ``host`` with ``address`` until
    the test ends (the pebble fixture is shared by the session)."""
    pointed: list[str] = []

    def point(host: str, address: str) -> None:
        pebble.resolve(host, address)
        pointed.append(host)

    yield point
    for host in pointed:
        pebble.forget(host)


async def solver_routes(env: LocalEnvironment, namespace: str) -> list[dict[str, Any]]:
    routes = await env.read_all(f"{GROUP}/v1", "HTTPRoute", namespace)
    return [x for x in routes if (x["metadata"].get("labels") or {}).get(labels.HTTP01_SOLVER)]


async def test_gateway_api_end_to_end(
    pebble: PebbleServer,
    tmp_path: Path,
    backend: int,
    point_dns: Callable[[str, str], None],
) -> None:
    async with local_environment(
        tmp_path, pebble=pebble, https_port=0, gateway_api=True, enforce_owner_references=True
    ) as env:
        env.apply(load_manifests(COMPONENT_RBAC))
        ns = env.namespace
        env.apply([gateway_issuer(env)])
        env.apply([external_service("shop", address="127.0.0.1", port=backend, namespace=ns)])
        listeners = [
            m.http_listener(),
            m.https_listener(secret="shop-example-com-tls", hostname=HOST),
        ]
        annotations = {"cert-manager.io/cluster-issuer": "letsencrypt-gateway"}
        env.apply([m.gateway("edge", namespace=ns, listeners=listeners, annotations=annotations)])
        app_route = m.http_route(
            "shop",
            namespace=ns,
            parents=[m.parent_ref("edge", section="https")],
            hostnames=[HOST],
            rules=[m.path_rule("/", [m.backend_ref("shop", backend)])],
        )
        env.apply([app_route])
        edge = await gateway_address(env, "edge", ns)
        point_dns(HOST, edge)
        env.start_controller("--enable-gateway-api")

        # The gateway-shim's Certificate, issued through the Gateway's HTTP listener.
        def issued() -> dict[str, Any] | None:
            found = env.simulator.get(*CERT, "shop-example-com-tls", ns)
            return found if ready(found) else None

        certificate = await env.eventually(issued, what="the Gateway's Certificate Ready")
        assert certificate["spec"]["dnsNames"] == [HOST]
        assert certificate["metadata"]["ownerReferences"][0]["kind"] == "Gateway"
        assert env.simulator.requests.count(verb="create", resource="httproutes") >= 1

        # HTTPS through the Gateway, verified against Pebble's root.
        context = ssl.create_default_context(cadata="\n".join(env.pebble.root_pems()))
        url = env.dataplane.router.listener_url(443, address=edge)

        async def fetch() -> tuple[int, str] | None:
            async with aiohttp.ClientSession() as http:
                try:
                    async with http.get(
                        f"{url}/cart", headers={"Host": HOST}, ssl=context, server_hostname=HOST
                    ) as response:
                        return response.status, await response.text()
                except aiohttp.ClientError:
                    return None  # the listener may not serve the new Secret yet

        assert await env.eventually(fetch, what="HTTPS through the Gateway") == (
            200,
            "shop /cart",
        )
        await env.eventually(lambda: _none_left(env, ns), what="the solver's HTTPRoutes removed")

        # cert-manager's documented gatewayHTTPRoute Issuer, Gateway and Certificate.
        class_traefik = m.gateway_class("traefik")
        traefik_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "traefik"}}
        env.apply([class_traefik, traefik_ns, *load_manifests(FIXTURES / "gateway-traefik.yaml")])
        # "edge" keeps its catch-all port 80 listener: the name leads to traefik's address.
        traefik = await gateway_address(env, "traefik", "traefik")
        assert traefik != edge
        point_dns("example.net", traefik)
        (issuer,) = load_manifests(FIXTURES / "issuer-gateway-httproute.yaml")
        env.apply([pointed_at(issuer, env.pebble)])
        env.apply(load_manifests(FIXTURES / "certificate-example-tls.yaml"))
        await env.eventually(
            lambda: ready(env.simulator.get(*CERT, "example-tls", "default")),
            what="the documented Certificate Ready",
        )
        await env.eventually(lambda: _none_left(env, "default"), what="its HTTPRoute removed")

        # Deleting the Gateway takes its Certificate with it (owner reference).
        await env.admin.delete(GATEWAYS, "edge", namespace=ns)
        await env.eventually(
            lambda: env.simulator.get(*CERT, "shop-example-com-tls", ns) is None,
            what="the Gateway's Certificate collected",
        )
        env.stop_controllers()

        assert_no_denials(env.simulator)
        asked = {
            p
            for p in env.simulator.requests.permissions_asked(user=CONTROLLER_USER)
            if p[0] == GROUP
        }
        assert asked == granted(), (
            f"asked but not granted: {sorted(asked - granted())}; "
            f"granted but never asked: {sorted(granted() - asked)}"
        )


async def _none_left(env: LocalEnvironment, namespace: str) -> bool:
    return not await solver_routes(env, namespace)
