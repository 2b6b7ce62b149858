"""``certmgr inspect secret`` against the simulator: a TLS Secret with a CA-signed chain,
its key and ca.crt; a Secret in another namespace; a missing Secret; a Secret with no
certificate."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from certmgr.testing.throwaway_ca import ThrowawayCA

from .conftest import Cluster, namespace


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tls_secret(name: str, *, ns: str = "default", data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "kubernetes.io/tls",
        "data": {key: b64(value) for key, value in data.items()},
    }


@pytest.fixture(scope="module")
def ca() -> ThrowawayCA:
    return ThrowawayCA.create("inspect test CA", validity=timedelta(days=30))


def test_inspect_a_ca_signed_secret(cluster: Cluster, ca: ThrowawayCA) -> None:
    pair = ca.issue("web", names=["web.example.com", "10.0.0.7"])
    cluster.create(namespace("shop"))
    cluster.create(
        tls_secret(
            "web-tls",
            ns="shop",
            data={"tls.crt": pair.certificate_pem, "tls.key": pair.key_pem, "ca.crt": ca.pem},
        )
    )

    result = cluster.cli("inspect", "secret", "web-tls", "-n", "shop")

    assert result.code == 0, result.err
    out = result.out
    assert "Valid for:\n\tDNS Names: \n\t\t- web.example.com\n" in out
    assert "\tIP Addresses: \n\t\t- 10.0.0.7\n" in out
    assert "Issued By:\n\tCommon Name:\tinspect test CA\n" in out
    assert "Issued For:\n\tCommon Name:\tweb\n" in out
    assert "\tTrusted by ca.crt:\tyes\n" in out
    assert "\tPrivate key matches:\tyes\n" in out
    assert "\tCurrently valid:\tyes: expires in " in out
    assert "PRIVATE KEY" not in out + result.err


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        pytest.param(
            {"tls.crt": b"", "tls.key": b""},
            ["certmgr: error: no PEM data found in secret"],
            id="empty-secret",
        ),
    ],
)
def test_inspect_a_secret_without_certificate(
    cluster: Cluster, data: dict[str, bytes], lines: list[str]
) -> None:
    cluster.create(tls_secret("empty", data=data))
    result = cluster.cli("inspect", "secret", "empty")
    assert result.code == 1
    assert result.err.splitlines() == lines


def test_inspect_a_missing_secret(cluster: Cluster) -> None:
    result = cluster.cli("inspect", "secret", "nope", "--namespace", "default")
    assert result.code == 1
    assert result.err.startswith('certmgr: error: error when finding Secret "nope": NotFound')


def test_inspect_wrong_key_and_other_ca(cluster: Cluster, ca: ThrowawayCA) -> None:
    other = ThrowawayCA.create("other CA", validity=timedelta(days=30))
    pair = ca.issue("api", names=["api.example.com"])
    wrong = ca.issue("api", names=["api.example.com"])
    cluster.create(
        tls_secret(
            "api-tls",
            data={"tls.crt": pair.certificate_pem, "tls.key": wrong.key_pem, "ca.crt": other.pem},
        )
    )
    result = cluster.cli("inspect", "secret", "api-tls")
    assert result.code == 0, result.err
    assert "\tPrivate key matches:\tno: tls.key is not the key of the certificate\n" in result.out
    assert "\tTrusted by ca.crt:\tno: " in result.out
