"""The whole product as a user runs it: ``certmgr run`` as its own process, with the RBAC
of ``deploy/``, against the API simulator + data plane + Pebble, fed the manifests of
``examples/``. Everything is observed through the API, as a user would."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from certmgr.testing.cluster import KubeCluster
from certmgr.testing.localenv import (
    EXAMPLES_DIR,
    LocalEnvironment,
    load_manifests,
    local_environment,
)
from certmgr.testing.pebble import PebbleServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CERT = ("cert-manager.io/v1", "Certificate")
DEADLINE = 60.0


@pytest.fixture
async def env(
    pebble: PebbleServer, kube_cluster: KubeCluster, tmp_path: Path
) -> AsyncIterator[LocalEnvironment]:
    async with local_environment(
        tmp_path, pebble=pebble, https_port=free_port(), cluster=kube_cluster
    ) as env:
        yield env


def ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def list_kind(env: LocalEnvironment, api_version: str, kind: str) -> list[dict[str, Any]]:
    """The kind's objects in the test's namespace."""
    return await env.read_all(api_version, kind, env.namespace)


async def apply_examples(env: LocalEnvironment) -> None:
    await env.put([env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")])
    await env.put(env.in_namespace(load_manifests(EXAMPLES_DIR / "certificate.yaml")))


async def ready_certificate(env: LocalEnvironment, name: str) -> dict[str, Any] | None:
    cert = await env.read(*CERT, name)
    return cert if ready(cert) else None


async def leaf_of(env: LocalEnvironment, secret_name: str) -> x509.Certificate:
    secret = await env.read("v1", "Secret", secret_name)
    assert secret is not None
    return x509.load_pem_x509_certificates(base64.b64decode(secret["data"]["tls.crt"]))[0]


async def test_example_certificate_is_issued_end_to_end(env: LocalEnvironment) -> None:
    env.start_controller()
    await apply_examples(env)
    cert = await env.eventually(
        lambda: ready_certificate(env, "www-example-com"),
        what="Certificate Ready",
        within=DEADLINE,
    )
    secret = await env.read("v1", "Secret", "www-example-com-tls")
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    assert {"tls.crt", "tls.key"} <= set(secret["data"])
    assert secret["metadata"]["labels"]["app"] == "www"  # secretTemplate
    leaf = await leaf_of(env, "www-example-com-tls")
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == ["example.com", "www.example.com"]
    assert cert["status"]["revision"] == 1
    assert cert["status"]["notAfter"] and cert["status"]["renewalTime"]

    # The solver's temporary objects are gone once the challenges are final.
    async def no_solver_ingresses() -> bool:
        return not [
            i
            for i in await list_kind(env, "networking.k8s.io/v1", "Ingress")
            if (i["metadata"].get("labels") or {}).get("acme.cert-manager.io/http01-solver")
        ]

    await env.eventually(no_solver_ingresses, what="solver Ingresses removed", within=DEADLINE)


async def test_an_issued_certificate_survives_restarts_without_new_orders(
    env: LocalEnvironment,
) -> None:
    controller = env.start_controller()
    await apply_examples(env)
    await env.eventually(
        lambda: ready_certificate(env, "www-example-com"),
        what="Certificate Ready",
        within=DEADLINE,
    )
    orders = len(await list_kind(env, "acme.cert-manager.io/v1", "Order"))
    requests = len(await list_kind(env, "cert-manager.io/v1", "CertificateRequest"))
    serial = (await leaf_of(env, "www-example-com-tls")).serial_number
    for _ in range(3):
        assert controller.stop() == 0, env.controller_logs()
        controller = env.start_controller()
        await env.eventually(
            lambda: controller_synced(env), what="controller ready", within=DEADLINE
        )
    assert len(await list_kind(env, "acme.cert-manager.io/v1", "Order")) == orders
    assert len(await list_kind(env, "cert-manager.io/v1", "CertificateRequest")) == requests
    assert (await leaf_of(env, "www-example-com-tls")).serial_number == serial


async def lease_of(env: LocalEnvironment) -> dict[str, Any] | None:
    return await env.read("coordination.k8s.io/v1", "Lease", "certmgr-controller", "certmgr")


async def controller_synced(env: LocalEnvironment) -> bool:
    """The running controller holds the Lease (it has started its controllers)."""
    lease = await lease_of(env)
    holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
    return bool(holder)


async def test_sigterm_on_the_leader_hands_over_at_once(env: LocalEnvironment) -> None:
    first = env.start_controller()
    await env.eventually(lambda: controller_synced(env), what="a leader", within=DEADLINE)
    second = env.start_controller()
    await env.eventually(
        lambda: second.logged("leader_election_started"),
        what="a standby campaigning",
        within=DEADLINE,
    )
    lease = await lease_of(env)
    assert lease is not None
    leader = lease["spec"]["holderIdentity"]

    async def another_holder() -> bool:
        lease = await lease_of(env)
        assert lease is not None
        holder = lease["spec"].get("holderIdentity")
        return bool(holder) and holder != leader

    stopped_at = time.monotonic()
    assert first.stop() == 0, env.controller_logs()
    await env.eventually(
        another_holder,
        what="the standby leads",
        within=10,
    )
    takeover = time.monotonic() - stopped_at
    # The standby retries every 2 s (client-go's default retry period): release + one retry.
    assert takeover < 3.0, f"takeover took {takeover:.1f} s"
    # The new leader does the work.
    await apply_examples(env)
    await env.eventually(
        lambda: ready_certificate(env, "www-example-com"),
        what="Certificate Ready under the new leader",
        within=DEADLINE,
    )
    assert second.running


async def test_annotated_ingress_is_served_over_https_with_the_issued_certificate(
    env: LocalEnvironment,
) -> None:
    env.start_controller()
    await env.put([env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")])
    await env.put(env.in_namespace(load_manifests(EXAMPLES_DIR / "ingress-annotated.yaml")))
    await env.eventually(
        lambda: ready_certificate(env, "shop-example-com-tls"),
        what="shim Certificate Ready",
        within=DEADLINE,
    )
    context = ssl.create_default_context(cadata="\n".join(env.pebble.root_pems()))
    https_port = env.dataplane.https_port
    assert https_port is not None

    async def handshake() -> dict[str, Any]:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", https_port, ssl=context, server_hostname="shop.example.com"
        )
        try:
            peer: dict[str, Any] = writer.get_extra_info("peercert")
            return peer
        finally:
            writer.close()

    peer = await handshake()  # verification failure raises ssl.SSLCertVerificationError
    assert ("DNS", "shop.example.com") in peer["subjectAltName"]
