"""HTTPS termination with the Secret an Ingress names, chosen by SNI."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest

from certmgr.kube.client import KubeClient
from certmgr.kube.resources import INGRESSES, SECRETS, SERVICES
from certmgr.testing.dataplane import DataPlane
from certmgr.testing.dataplane.echo import echo_server
from certmgr.testing.dataplane.manifests import external_service, ingress, tls_secret
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.throwaway_ca import ThrowawayCA

HOST = "secure.example.com"


def _chain(host: str) -> tuple[bytes, bytes, bytes]:
    """(CA PEM, leaf+CA chain PEM, leaf key PEM): a private CA and a leaf for ``host``."""
    ca = ThrowawayCA.create("test root", validity=datetime.timedelta(days=1))
    pair = ca.issue(host, names=[host])
    return ca.pem, pair.certificate_pem + ca.pem, pair.key_pem


@pytest.fixture
async def backend() -> AsyncIterator[int]:
    async with echo_server(lambda r: f"{r.headers['X-Forwarded-Proto']} {r.host}") as port:
        yield port


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

    await kube.create(SECRETS, tls_secret("web-tls", chain=chain, key=key, namespace=namespace))

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
    await kube.create(
        SECRETS, tls_secret("web-tls", chain=old_chain, key=old_key, namespace=namespace)
    )
    port = dataplane.https_port
    await eventually(
        lambda: _fetch(http, port, server_name=HOST, ca=old_ca), lambda r: isinstance(r, tuple)
    )

    secret = await kube.get(SECRETS, "web-tls", namespace=namespace)
    secret["data"] = tls_secret("web-tls", chain=new_chain, key=new_key, namespace=namespace)[
        "data"
    ]
    await kube.update(SECRETS, secret)

    found = await eventually(
        lambda: _fetch(http, port, server_name=HOST, ca=new_ca), lambda r: isinstance(r, tuple)
    )
    assert found == (200, f"https {HOST}")
    assert await _fetch(http, port, server_name=HOST, ca=old_ca) == "certificate-rejected"
