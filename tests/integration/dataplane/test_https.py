"""HTTPS termination with the Secret an Ingress names, chosen by SNI."""

from __future__ import annotations

import base64
import datetime
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from certmgr.kube.client import KubeClient
from certmgr.kube.resources import INGRESSES, SECRETS, SERVICES
from certmgr.testing.dataplane import DataPlane
from certmgr.testing.dataplane.manifests import external_service, ingress
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.throwaway_ca import ThrowawayCA

HOST = "secure.example.com"


def _chain(host: str) -> tuple[bytes, bytes, bytes]:
    """(CA PEM, leaf+CA chain PEM, leaf key PEM): a private CA and a leaf for ``host``."""
    ca = ThrowawayCA.create("test root", validity=datetime.timedelta(days=1))
    pair = ca.issue(host, names=[host])
    return ca.pem, pair.certificate_pem + ca.pem, pair.key_pem


def _tls_secret(name: str, chain: bytes, key: bytes, *, namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(chain).decode(),
            "tls.key": base64.b64encode(key).decode(),
        },
    }


@pytest.fixture
async def backend() -> AsyncIterator[int]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"{request.headers['X-Forwarded-Proto']} {request.host}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def _fetch(
    http: aiohttp.ClientSession, port: int | None, *, server_name: str, ca: bytes
) -> tuple[int, str] | str:
    """The answer, or the name of the TLS failure (a failed handshake is a result here)."""
    context = ssl.create_default_context(cadata=ca.decode())
    try:
        async with http.get(
            f"https://127.0.0.1:{port}/hello",
            headers={"Host": server_name},
            ssl=context,
            server_hostname=server_name,
        ) as response:
            return response.status, await response.text()
    except aiohttp.ClientConnectorCertificateError:
        return "certificate-rejected"


async def test_terminates_tls_with_the_ingress_secret(
    dataplane: DataPlane,
    kube: KubeClient,
    http: aiohttp.ClientSession,
    backend: int,
    namespace: str,
) -> None:
    ca, chain, key = _chain(HOST)
    await kube.create(
        SERVICES, external_service("web", address="127.0.0.1", port=backend, namespace=namespace)
    )
    tls = [{"hosts": [HOST], "secretName": "web-tls"}]
    await kube.create(
        INGRESSES,
        ingress(
            "web", host=HOST, paths=[("/", "Prefix", "web", backend)], tls=tls, namespace=namespace
        ),
    )
    port = dataplane.https_port

    # The Secret does not exist yet (ingress-shim creates it later): the fallback
    # certificate is served, which the client must refuse.
    assert await _fetch(http, port, server_name=HOST, ca=ca) == "certificate-rejected"

    await kube.create(SECRETS, _tls_secret("web-tls", chain, key, namespace=namespace))

    after = await eventually(
        lambda: _fetch(http, port, server_name=HOST, ca=ca), lambda r: isinstance(r, tuple)
    )
    assert after == (200, f"https {HOST}")
    # A name no Ingress covers gets the fallback certificate, never another host's.
    other = await _fetch(http, port, server_name="other.example.com", ca=ca)
    assert other == "certificate-rejected"


async def test_a_rotated_secret_is_served_on_the_next_handshake(
    dataplane: DataPlane,
    kube: KubeClient,
    http: aiohttp.ClientSession,
    backend: int,
    namespace: str,
) -> None:
    old_ca, old_chain, old_key = _chain(HOST)
    new_ca, new_chain, new_key = _chain(HOST)
    await kube.create(
        SERVICES, external_service("web", address="127.0.0.1", port=backend, namespace=namespace)
    )
    tls = [{"hosts": [HOST], "secretName": "web-tls"}]
    await kube.create(
        INGRESSES,
        ingress(
            "web", host=HOST, paths=[("/", "Prefix", "web", backend)], tls=tls, namespace=namespace
        ),
    )
    await kube.create(SECRETS, _tls_secret("web-tls", old_chain, old_key, namespace=namespace))
    port = dataplane.https_port
    await eventually(
        lambda: _fetch(http, port, server_name=HOST, ca=old_ca), lambda r: isinstance(r, tuple)
    )

    secret = await kube.get(SECRETS, "web-tls", namespace=namespace)
    secret["data"] = _tls_secret("web-tls", new_chain, new_key, namespace=namespace)["data"]
    await kube.update(SECRETS, secret)

    found = await eventually(
        lambda: _fetch(http, port, server_name=HOST, ca=new_ca), lambda r: isinstance(r, tuple)
    )
    assert found == (200, f"https {HOST}")
    assert await _fetch(http, port, server_name=HOST, ca=old_ca) == "certificate-rejected"
