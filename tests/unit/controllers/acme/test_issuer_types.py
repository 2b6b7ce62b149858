"""Issuer types certmgr does not run (ca, selfSigned, vault, venafi) are said so on the
issuer, never silently ignored: Ready=False NotActedOn and one Warning Event."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certmgr.controllers.acme.issuers import IssuerReconciler
from certmgr.controllers.context import Context, Settings
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


@pytest.mark.parametrize(
    ("spec", "issuer_type"),
    [
        pytest.param({"ca": {"secretName": "ca-key-pair"}}, "ca", id="ca"),
        pytest.param({"selfSigned": {}}, "selfSigned", id="selfSigned"),
        pytest.param({"vault": {"server": "https://v", "path": "pki"}}, "vault", id="vault"),
        pytest.param({"venafi": {"zone": "z", "cloud": {}}}, "venafi", id="venafi"),
    ],
)
async def test_an_issuer_certmgr_does_not_run_is_ready_false_not_acted_on(
    spec: dict[str, Any], issuer_type: str
) -> None:
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
    kube, events = FakeKube(cache), Events()
    ctx = Context(kube, None, FakeClock(), events, None, Settings())  # type: ignore[arg-type]
    reconciler = IssuerReconciler(ctx, accounts=None, resource=CLUSTERISSUERS, cache=cache)  # type: ignore[arg-type]
    for _ in range(3):  # written once, then nothing changes
        assert await reconciler.reconcile("internal") is None
    message = (
        f"certmgr runs only ACME issuers: this {issuer_type} issuer is not acted on, so "
        "Certificates and CertificateRequests naming it are not signed"
    )
    (ready,) = (cache.get(None, "internal") or {})["status"]["conditions"]
    assert (ready["type"], ready["status"], ready["reason"], ready["message"]) == (
        "Ready",
        "False",
        "NotActedOn",
        message,
    )
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
