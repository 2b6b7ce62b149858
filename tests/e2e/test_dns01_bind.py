"""DNS-01 end to end: an Issuer with an rfc2136 solver, BIND 9 as the zone's server,
and Pebble validating the TXT records it finds in that BIND."""

from __future__ import annotations

import base64
import time
from typing import Any

from certmgr.kube.resources import CERTIFICATES, CHALLENGES, SECRETS
from certmgr.pki.certificates import parse_chain
from certmgr.testing.bind import BindServer
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.pebble import PebbleServer
from tests.e2e.test_acme_controllers import (
    _certificate_ready,
    _issuer_ready,
    _sans,
    running_world,
)


def rfc2136_solver(bind: BindServer) -> dict[str, Any]:
    return {
        "dns01": {
            "rfc2136": {
                "nameserver": bind.address,
                "tsigKeyName": bind.key.name,
                "tsigAlgorithm": bind.key.algorithm,
                "tsigSecretSecretRef": {"name": "tsig", "key": "secret"},
            }
        }
    }


async def test_a_wildcard_and_apex_certificate_is_issued_through_bind(
    kube_cluster: KubeCluster, bind: BindServer, bind_pebble: PebbleServer
) -> None:
    async with running_world(
        kube_cluster,
        bind_pebble,
        with_certificates=True,
        dns01_recursive_nameservers=(bind.address,),
        dns01_recursive_nameservers_only=True,
    ) as world:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tsig", "namespace": world.namespace},
            "data": {"secret": base64.b64encode(bind.key.secret.encode()).decode()},
        }
        await world.kube.create(SECRETS, secret, namespace=world.namespace)
        await world.issuer(solvers=[rfc2136_solver(bind)])
        certificate = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "wild", "namespace": world.namespace},
            "spec": {
                "secretName": "wild-tls",
                "dnsNames": ["*.example.test", "example.test"],
                "issuerRef": {"name": "pebble", "kind": "Issuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256},
            },
        }
        started = time.monotonic()
        await world.kube.create(CERTIFICATES, certificate, namespace=world.namespace)
        ready = await _certificate_ready(world, "wild")
        print(f"wildcard + apex through BIND, created->Ready: {time.monotonic() - started:.3f}s")
        assert ready["status"]["revision"] == 1
        tls = await world.kube.get(SECRETS, "wild-tls", namespace=world.namespace)
        leaf = parse_chain(base64.b64decode(tls["data"]["tls.crt"]))[0]
        assert _sans(leaf) == {"*.example.test", "example.test"}
        await world.assert_clean()
        assert not (await world.kube.list(CHALLENGES, namespace=world.namespace)).items
        assert bind.txt_values("_acme-challenge.example.test.") == set()


async def test_an_issuer_with_unsupported_dns01_providers_says_so_in_its_ready_message(
    kube_cluster: KubeCluster, pebble: PebbleServer
) -> None:
    async with running_world(kube_cluster, pebble) as world:
        await world.issuer(
            solvers=[
                {"http01": {"ingress": {"ingressClassName": "nginx"}}},
                {"dns01": {"azureDNS": {"subscriptionID": "s", "resourceGroupName": "g"}}},
                {"dns01": {"cloudflare": {"apiTokenSecretRef": {"name": "cf", "key": "t"}}}},
            ]
        )
        issuer = await _issuer_ready(world)
        (ready,) = [c for c in issuer["status"]["conditions"] if c["type"] == "Ready"]
        assert ready["message"] == (
            "The ACME account was registered with the ACME server. Solvers certmgr cannot "
            "use: solvers[1]: the dns01 provider 'azureDNS' is not supported; solvers[2]: "
            "the dns01 provider 'cloudflare' is not supported"
        )


async def test_cname_strategy_follow_presents_where_the_cname_points(
    kube_cluster: KubeCluster, bind: BindServer, bind_pebble: PebbleServer
) -> None:
    """_acme-challenge.alias.example.test is a CNAME to _acme-challenge.delegated...: the
    record is presented at the target, where Pebble's lookup ends too."""
    async with running_world(
        kube_cluster,
        bind_pebble,
        with_certificates=True,
        dns01_recursive_nameservers=(bind.address,),
        dns01_recursive_nameservers_only=True,
    ) as world:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tsig", "namespace": world.namespace},
            "data": {"secret": base64.b64encode(bind.key.secret.encode()).decode()},
        }
        await world.kube.create(SECRETS, secret, namespace=world.namespace)
        solver = rfc2136_solver(bind)
        solver["dns01"]["cnameStrategy"] = "Follow"
        await world.issuer(solvers=[solver])
        certificate = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "alias", "namespace": world.namespace},
            "spec": {
                "secretName": "alias-tls",
                "dnsNames": ["alias.example.test"],
                "issuerRef": {"name": "pebble", "kind": "Issuer"},
            },
        }
        await world.kube.create(CERTIFICATES, certificate, namespace=world.namespace)
        await _certificate_ready(world, "alias")
        await world.assert_clean()
        assert bind.txt_values("_acme-challenge.delegated.example.test.") == set()
