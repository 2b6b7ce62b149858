"""Issuers that are not ACME are left to controllers.issuers by the ACME issuer controller;
issuer types certmgr does not run (vault, venafi) are said so on the issuer, never
silently ignored: Ready=False NotActedOn and one Warning Event."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certmgr.controllers.acme.issuers import IssuerReconciler
from certmgr.controllers.context import Context, Settings
from certmgr.controllers.issuers.status import IssuerStatus
from certmgr.kube.resources import CLUSTERISSUERS, Resource
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock


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


def cluster_issuer(spec: dict[str, Any]) -> Cache:
    cache = Cache()
    cache.apply(
        "ADDED",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": {"name": "internal", "generation": 1, "resourceVersion": "1"},
            "spec": spec,
        },
    )
    return cache


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"ca": {"secretName": "ca-key-pair"}}, id="ca"),
        pytest.param({"selfSigned": {}}, id="selfSigned"),
        pytest.param({"vault": {"server": "https://v", "path": "pki"}}, id="vault"),
        pytest.param({"venafi": {"zone": "z", "cloud": {}}}, id="venafi"),
    ],
)
async def test_the_acme_issuer_controller_leaves_other_types_alone(spec: dict[str, Any]) -> None:
    cache = cluster_issuer(spec)
    kube, events = FakeKube(cache), Events()
    ctx = Context(kube, None, FakeClock(), events, None, Settings())  # type: ignore[arg-type]
    reconciler = IssuerReconciler(ctx, accounts=NoAccounts(), resource=CLUSTERISSUERS, cache=cache)  # type: ignore[arg-type]
    assert await reconciler.reconcile("internal") is None
    assert kube.patches == [] and events.seen == []


@pytest.mark.parametrize(
    ("spec", "issuer_type"),
    [
        pytest.param({"vault": {"server": "https://v", "path": "pki"}}, "vault", id="vault"),
        pytest.param({"venafi": {"zone": "z", "cloud": {}}}, "venafi", id="venafi"),
    ],
)
async def test_an_issuer_certmgr_does_not_run_is_ready_false_not_acted_on(
    spec: dict[str, Any], issuer_type: str
) -> None:
    cache = cluster_issuer(spec)
    kube, events = FakeKube(cache), Events()
    ctx = Context(kube, None, FakeClock(), events, None, Settings())  # type: ignore[arg-type]
    reconciler = IssuerStatus(ctx, resource=CLUSTERISSUERS, cache=cache)
    for _ in range(3):  # written once, then nothing changes
        assert await reconciler.reconcile("internal") is None
    message = (
        f"certmgr does not support {issuer_type} issuers (it runs acme, ca, selfSigned): "
        "Certificates and CertificateRequests naming this ClusterIssuer are not signed"
    )
    (ready,) = (cache.get(None, "internal") or {})["status"]["conditions"]
    assert (ready["type"], ready["status"], ready["reason"], ready["message"]) == (
        "Ready",
        "False",
        "NotActedOn",
        message,
    )
    assert ready["observedGeneration"] == 1
    assert len(kube.patches) == 1
    assert events.seen == [("Warning", "NotActedOn", message)]


class NoAccounts:
    """Registering an ACME account is exactly what must not happen here."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"accounts.{name} used for an issuer being deleted")


async def test_an_acme_issuer_being_deleted_registers_no_account_and_makes_no_key() -> None:
    cache = Cache()
    cache.apply(
        "ADDED",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": {
                "name": "letsencrypt",
                "generation": 1,
                "resourceVersion": "1",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": ["foregroundDeletion"],
            },
            "spec": {
                "acme": {
                    "server": "https://acme.example/directory",
                    "privateKeySecretRef": {"name": "letsencrypt-key"},
                }
            },
        },
    )
    kube, events = FakeKube(cache), Events()
    ctx = Context(kube, None, FakeClock(), events, None, Settings())  # type: ignore[arg-type]
    reconciler = IssuerReconciler(ctx, accounts=NoAccounts(), resource=CLUSTERISSUERS, cache=cache)  # type: ignore[arg-type]
    assert await reconciler.reconcile("letsencrypt") is None
    assert kube.patches == [] and events.seen == []
