"""A CA ClusterIssuer's Ready condition from its Secret (in the cluster resource
namespace), with cert-manager's reasons and messages, and one Event per change."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from certmgr.controllers.context import Context, Settings
from certmgr.controllers.issuers.status import IssuerStatus
from certmgr.kube.resources import CLUSTERISSUERS, Resource
from certmgr.pki.csr import build_csr
from certmgr.pki.keys import encode_private_key, generate_private_key
from certmgr.pki.requirements import CertificateRequirements
from certmgr.pki.signing import IssuerURLs, SigningRequest, sign_self_signed
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def keypair(*, is_ca: bool) -> tuple[bytes, bytes]:
    key = generate_private_key(algorithm="ECDSA", size=256)
    csr = build_csr(key, CertificateRequirements(common_name="ca", is_ca=is_ca))
    issued = sign_self_signed(
        SigningRequest(csr_pem=csr, is_ca=is_ca), key=key, urls=IssuerURLs(), now=NOW
    )
    return issued.certificate, encode_private_key(key)


CA_CRT, CA_KEY = keypair(is_ca=True)
LEAF_CRT, LEAF_KEY = keypair(is_ca=False)
OTHER_KEY = encode_private_key(generate_private_key(algorithm="ECDSA", size=256))


class FakeSecrets:
    def __init__(self, secrets: dict[tuple[str, str], dict[str, bytes]]) -> None:
        self.secrets = secrets
        self.asked: list[tuple[str, str]] = []

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.asked.append((namespace, name))
        data = self.secrets.get((namespace, name))
        if data is None:
            return None
        return {"data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


class FakeManager:
    def __init__(self, secrets: FakeSecrets) -> None:
        self.secrets = secrets


class FakeKube:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.patches: list[dict[str, Any]] = []

    async def patch(
        self, resource: Resource, name: str, patch: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        self.patches.append(patch)
        obj = copy.deepcopy(self.cache.get(None, name))
        assert obj is not None
        obj["status"] = {**(obj.get("status") or {}), **patch["status"]}
        obj["metadata"]["resourceVersion"] = str(len(self.patches) + 1)
        self.cache.apply("MODIFIED", obj)
        return obj


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))


PREFIX = "Error getting keypair for CA issuer: "


@pytest.mark.parametrize(
    ("data", "ready", "reason", "message"),
    [
        pytest.param(
            None, "False", "ErrGetKeyPair", PREFIX + 'secret "ca-key-pair" not found', id="missing"
        ),
        pytest.param(
            {"tls.crt": CA_CRT},
            "False",
            "ErrGetKeyPair",
            PREFIX + "no private key data for \"tls.key\" in secret 'certmgr/ca-key-pair'",
            id="no-key",
        ),
        pytest.param(
            {"tls.key": CA_KEY, "tls.crt": b"garbage"},
            "False",
            "ErrGetKeyPair",
            PREFIX + "error decoding certificate PEM block: no certificate found",
            id="malformed-certificate",
        ),
        pytest.param(
            {"tls.crt": LEAF_CRT, "tls.key": LEAF_KEY},
            "False",
            "ErrInvalidKeyPair",
            PREFIX + "certificate is not a CA",
            id="not-a-ca",
        ),
        pytest.param(
            {"tls.crt": CA_CRT, "tls.key": OTHER_KEY},
            "False",
            "ErrInvalidKeyPair",
            PREFIX + "private key does not match the CA certificate",
            id="key-mismatch",
        ),
        pytest.param(
            {"tls.crt": CA_CRT, "tls.key": CA_KEY},
            "True",
            "KeyPairVerified",
            "Signing CA verified",
            id="verified",
        ),
    ],
)
async def test_ca_cluster_issuer_ready_from_its_secret(
    data: dict[str, bytes] | None, ready: str, reason: str, message: str
) -> None:
    cache = Cache()
    cache.apply(
        "ADDED",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": {"name": "ca", "generation": 2, "resourceVersion": "1"},
            "spec": {"ca": {"secretName": "ca-key-pair"}},
        },
    )
    secrets = FakeSecrets({("certmgr", "ca-key-pair"): data} if data is not None else {})
    kube, events = FakeKube(cache), Events()
    ctx = Context(kube, FakeManager(secrets), FakeClock(NOW), events, None, Settings())  # type: ignore[arg-type]
    reconciler = IssuerStatus(ctx, resource=CLUSTERISSUERS, cache=cache)
    for _ in range(2):
        assert await reconciler.reconcile("ca") is None
    assert secrets.asked[0] == ("certmgr", "ca-key-pair")  # the cluster resource namespace
    (condition,) = (cache.get(None, "ca") or {})["status"]["conditions"]
    assert (condition["status"], condition["reason"], condition["message"]) == (
        ready,
        reason,
        message,
    )
    assert condition["observedGeneration"] == 2
    assert len(kube.patches) == 1
    assert events.seen == [("Normal" if ready == "True" else "Warning", reason, message)]
