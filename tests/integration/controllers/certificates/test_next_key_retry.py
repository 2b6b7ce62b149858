"""The key manager's retry after a refused status write, with a Secret cache that has
not seen its own create yet (the watch lags the write): it must find the key Secret it
stored, not store a second one (which was then deleted too, a write each)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from certmgr.api.codec import rfc3339
from certmgr.controllers.certificates import keymanager
from certmgr.controllers.certificates.gather import certificates
from certmgr.controllers.certificates.keymanager import KeyManager
from certmgr.controllers.context import Context, Settings
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Conflict
from certmgr.runtime.manager import Manager
from certmgr.testing.apiserver import Simulator
from certmgr.testing.clock import FakeClock

from .conftest import NAMESPACE, START, RecordedEvents


async def manually_triggered(kube: KubeClient, name: str) -> dict[str, Any]:
    """A Certificate a user tool set Issuing=True on: no next key named."""
    created = await kube.create(
        r.CERTIFICATES,
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "secretName": f"{name}-tls",
                "issuerRef": {"name": "test-ca", "kind": "Issuer"},
                "dnsNames": [f"{name}.example.com"],
            },
        },
    )
    created["status"] = {
        "conditions": [
            {
                "type": "Issuing",
                "status": "True",
                "reason": "ManuallyTriggered",
                "message": "Certificate re-issuance manually triggered",
                "lastTransitionTime": rfc3339(START),
            }
        ]
    }
    return await kube.update_status(r.CERTIFICATES, created)


async def test_a_retry_before_the_cache_sees_the_key_secret_stores_no_second_one(
    kube: KubeClient, sim: Simulator
) -> None:
    clock = FakeClock(START)
    manager = Manager(kube, clock=clock)  # not run: the caches hold what the test puts there
    ctx = Context(
        client=kube,
        manager=manager,
        clock=clock,
        events=RecordedEvents(),
        acme=None,  # type: ignore[arg-type]
        settings=Settings(),
    )
    keymanager.setup(ctx)  # the cache indexes
    keys = KeyManager(ctx)
    certificate = await manually_triggered(kube, "web")
    certificates(ctx).cache.apply("ADDED", certificate)
    sim.faults.resources = frozenset({"certificates/status"})
    sim.faults.conflict_rate = 1.0  # the write recording the key's name is refused
    with pytest.raises(Conflict):
        await keys.reconcile(f"{NAMESPACE}/web")
    with contextlib.suppress(Conflict):  # the retry, on the same cached state
        await keys.reconcile(f"{NAMESPACE}/web")
    sim.faults.reset()
    listed = await kube.list(r.SECRETS, namespace=NAMESPACE)
    assert len(listed.items) == 1
