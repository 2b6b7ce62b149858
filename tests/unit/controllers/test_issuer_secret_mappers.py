"""A Secret's event reaches the issuers that read it (CA key pair, ACME account key, EAB
key), looked up by namespace and name in an index of the issuers, in the cluster
resource namespace for ClusterIssuers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from certmgr.controllers.acme.issuers import _referring_issuers
from certmgr.controllers.context import Context, Settings
from certmgr.controllers.issuers.status import ca_issuers_of_secret
from certmgr.runtime.cache import Cache, Obj

Mapper = Callable[[Cache, Context], Callable[[Obj], list[str]]]


def issuer(name: str, spec: dict[str, Any], namespace: str | None = None) -> Obj:
    metadata: Obj = {"name": name, "resourceVersion": "1"}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"metadata": metadata, "spec": spec}


def acme(account: str | None, eab: str | None = None) -> dict[str, Any]:
    spec: Obj = {"server": "https://ca.example/dir"}
    if account is not None:
        spec["privateKeySecretRef"] = {"name": account}
    if eab is not None:
        spec["externalAccountBinding"] = {"keyID": "k", "keySecretRef": {"name": eab}}
    return {"acme": spec}


ISSUERS = [
    issuer("ca", {"ca": {"secretName": "ca-key"}}, "apps"),
    issuer("cluster-ca", {"ca": {"secretName": "ca-key"}}),
    issuer("other-ca", {"ca": {"secretName": "other-key"}}, "apps"),
    issuer("le", acme("le-account", eab="le-eab"), "apps"),
    issuer("cluster-le", acme("le-account")),
    issuer("nameless", acme(None)),
    issuer("self", {"selfSigned": {}}, "apps"),
]


def secret(namespace: str, name: str) -> Obj:
    return {"metadata": {"namespace": namespace, "name": name}}


@pytest.mark.parametrize(
    ("mapper", "event", "expected"),
    [
        (ca_issuers_of_secret, secret("apps", "ca-key"), ["apps/ca"]),
        (ca_issuers_of_secret, secret("certmgr", "ca-key"), ["cluster-ca"]),
        (ca_issuers_of_secret, secret("other", "ca-key"), []),
        (ca_issuers_of_secret, secret("apps", "le-account"), []),
        (_referring_issuers, secret("apps", "le-account"), ["apps/le"]),
        (_referring_issuers, secret("apps", "le-eab"), ["apps/le"]),
        (_referring_issuers, secret("certmgr", "le-account"), ["cluster-le"]),
        (_referring_issuers, secret("certmgr", "le-eab"), []),
        (_referring_issuers, secret("apps", "ca-key"), []),
    ],
    ids=[
        "ca-namespaced",
        "ca-cluster-in-the-resource-namespace",
        "ca-other-namespace",
        "ca-not-a-ca-secret",
        "acme-account",
        "acme-eab",
        "acme-cluster-account",
        "acme-cluster-has-no-eab",
        "acme-not-an-acme-secret",
    ],
)
@pytest.mark.parametrize("issuers_first", [True, False], ids=["issuers-cached", "indexed-later"])
def test_secret_maps_to_the_issuers_reading_it(
    mapper: Mapper, event: Obj, expected: list[str], issuers_first: bool
) -> None:
    ctx = Context(
        client=None,  # type: ignore[arg-type]
        manager=None,  # type: ignore[arg-type]
        clock=None,  # type: ignore[arg-type]
        events=None,  # type: ignore[arg-type]
        acme=None,  # type: ignore[arg-type]
        settings=Settings(cluster_resource_namespace="certmgr"),
    )
    cache = Cache()
    if issuers_first:
        for obj in ISSUERS:
            cache.apply("ADDED", obj)
    mapped = mapper(cache, ctx)
    if not issuers_first:
        for obj in ISSUERS:
            cache.apply("ADDED", obj)
    assert sorted(mapped(event)) == expected
