"""DNS-01 end to end: an Issuer with an rfc2136 solver, BIND 9 as the zone's server,
and Pebble validating the TXT records it finds in that BIND."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from certmgr.kube.resources import CERTIFICATES, SECRETS
from certmgr.testing.bind import BindServer
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.pebble import PebbleServer
from tests.e2e.dns01_issuance import issue_wildcard_and_apex
from tests.e2e.test_acme_controllers import (
    World,
    _certificate_ready,
    _issuer_ready,
    running_world,
)


@contextlib.asynccontextmanager
async def bind_world(
    kube_cluster: KubeCluster, bind: BindServer, pebble: PebbleServer
) -> AsyncIterator[World]:
    """The controllers resolving with ``bind`` only, and its TSIG key in Secret ``tsig``."""
    async with running_world(
        kube_cluster,
        pebble,
        with_certificates=True,
        dns01_recursive_nameservers=(bind.address,),
        dns01_recursive_nameservers_only=True,
    ) as world:
        tsig = bind.tsig_secret(namespace=world.namespace)
        await world.kube.create(SECRETS, tsig, namespace=world.namespace)
        yield world


async def test_a_wildcard_and_apex_certificate_is_issued_through_bind(
    kube_cluster: KubeCluster, bind: BindServer, bind_pebble: PebbleServer
) -> None:
    async with bind_world(kube_cluster, bind, bind_pebble) as world:
        await world.issuer(solvers=[{"dns01": {"rfc2136": bind.rfc2136_solver()}}])
        await issue_wildcard_and_apex(world, through="BIND")
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
        unusable = (
            "solvers[1]: the dns01 provider 'azureDNS' is not supported; solvers[2]: "
            "the dns01 provider 'cloudflare' is not supported"
        )
        assert ready["message"] == (
            "The ACME account was registered with the ACME server. Solvers certmgr cannot "
            f"use: {unusable}"
        )

        # And a Warning Event on the Issuer saying the same.
        warnings = {
            (name, message)
            for name, type_, reason, message in world.controllers.events.events
            if type_ == "Warning" and reason == "UnsupportedSolver"
        }
        assert warnings == {("pebble", unusable)}


async def test_cname_strategy_follow_presents_where_the_cname_points(
    kube_cluster: KubeCluster, bind: BindServer, bind_pebble: PebbleServer
) -> None:
    """_acme-challenge.alias.example.test is a CNAME to _acme-challenge.delegated...: the
    record is presented at the target, where Pebble's lookup ends too."""
    async with bind_world(kube_cluster, bind, bind_pebble) as world:
        solver = {"dns01": {"rfc2136": bind.rfc2136_solver(), "cnameStrategy": "Follow"}}
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
