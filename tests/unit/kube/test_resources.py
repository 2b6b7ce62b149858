from __future__ import annotations

import pytest

from certmgr.kube import resources as r


@pytest.mark.parametrize(
    ("resource", "kwargs", "expected"),
    [
        (r.SECRETS, {}, "/api/v1/secrets"),
        (r.SECRETS, {"namespace": "ns"}, "/api/v1/namespaces/ns/secrets"),
        (r.SECRETS, {"namespace": "ns", "name": "s"}, "/api/v1/namespaces/ns/secrets/s"),
        (r.NAMESPACES, {"name": "ns"}, "/api/v1/namespaces/ns"),
        (
            r.CERTIFICATES,
            {"namespace": "a", "name": "c", "subresource": "status"},
            "/apis/cert-manager.io/v1/namespaces/a/certificates/c/status",
        ),
        (r.CLUSTERISSUERS, {"name": "x"}, "/apis/cert-manager.io/v1/clusterissuers/x"),
        (r.LEASES, {"namespace": "k"}, "/apis/coordination.k8s.io/v1/namespaces/k/leases"),
        (r.SECRETS, {"namespace": "ns", "name": "a/b"}, "/api/v1/namespaces/ns/secrets/a%2Fb"),
    ],
    ids=["all-ns", "ns", "object", "cluster", "subresource", "crd-cluster", "group", "quoted"],
)
def test_path(resource: r.Resource, kwargs: dict[str, str], expected: str) -> None:
    assert resource.path(**kwargs) == expected


@pytest.mark.parametrize(
    ("resource", "kwargs"),
    [
        (r.CLUSTERISSUERS, {"namespace": "ns", "name": "x"}),
        (r.SECRETS, {"namespace": "ns", "subresource": "status"}),
        (r.SECRETS, {"namespace": "", "name": "x"}),
    ],
    ids=["namespace-on-cluster-scoped", "subresource-without-name", "empty-namespace"],
)
def test_path_rejects(resource: r.Resource, kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        resource.path(**kwargs)


@pytest.mark.parametrize(
    ("resource", "api_version"),
    [
        (r.SECRETS, "v1"),
        (r.INGRESSES, "networking.k8s.io/v1"),
        (r.ORDERS, "acme.cert-manager.io/v1"),
    ],
    ids=["core", "builtin-group", "crd"],
)
def test_api_version(resource: r.Resource, api_version: str) -> None:
    assert resource.api_version == api_version


def test_catalogue_is_unique() -> None:
    assert len({(x.group, x.plural) for x in r.ALL}) == len(r.ALL)
