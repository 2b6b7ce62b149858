"""The DNS-01 end-to-end step every in-process provider test shares: a ``*.example.test``
+ ``example.test`` Certificate issued through the world's Issuer, then nothing left.

Owns :func:`issue_wildcard_and_apex`. Must not know the provider: the tests set up the
Issuer, its Secrets and the DNS server, and check the DNS server's records afterwards.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from certmgr.kube.resources import CERTIFICATES, CHALLENGES, SECRETS
from certmgr.pki.certificates import parse_chain
from tests.e2e.test_acme_controllers import World, _certificate_ready, _sans

NAMES = ("*.example.test", "example.test")


def secret(name: str, *, namespace: str, **entries: str) -> dict[str, Any]:
    """A Secret whose ``data`` holds ``entries``, base64-encoded."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in entries.items()},
    }


async def issue_wildcard_and_apex(world: World, *, through: str) -> float:
    """Certificate ``wild`` for :data:`NAMES` by the world's Issuer ``pebble``: Ready at
    revision 1 with both names, then no Challenge and no solver object left. Returns
    created -> Ready in seconds (printed, labelled ``through``)."""
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "wild", "namespace": world.namespace},
        "spec": {
            "secretName": "wild-tls",
            "dnsNames": list(NAMES),
            "issuerRef": {"name": "pebble", "kind": "Issuer"},
            "privateKey": {"algorithm": "ECDSA", "size": 256},
        },
    }
    started = time.monotonic()
    await world.kube.create(CERTIFICATES, certificate, namespace=world.namespace)
    ready = await _certificate_ready(world, "wild")
    took = time.monotonic() - started
    print(f"wildcard + apex through {through}, created->Ready: {took:.3f}s")
    assert ready["status"]["revision"] == 1
    tls = await world.kube.get(SECRETS, "wild-tls", namespace=world.namespace)
    leaf = parse_chain(base64.b64decode(tls["data"]["tls.crt"]))[0]
    assert _sans(leaf) == set(NAMES)
    # The Challenges are gone only once their finalizer is: after the TXT clean-up.
    await world.assert_clean()
    assert not (await world.kube.list(CHALLENGES, namespace=world.namespace)).items
    return took
