"""Issue 14 item 2: with two replicas in shared mode, stopping one while challenges are
being validated fails no order, whether it is the leader or not and whether it gets a
SIGTERM (drain) or a SIGKILL (its endpoint is dead until its heartbeat expires; the
route tries the next one). ``certmgr run`` processes with deploy/'s RBAC against the
simulator, the data plane and Pebble."""

from __future__ import annotations

import asyncio
import copy
import inspect
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from certmgr.testing.cluster import KubeCluster
from certmgr.testing.localenv import (
    EXAMPLES_DIR,
    LocalEnvironment,
    load_manifests,
    local_environment,
)
from certmgr.testing.pebble import PebbleServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
]

CERT = ("cert-manager.io/v1", "Certificate")
ORDER = ("acme.cert-manager.io/v1", "Order")
CHALLENGE = ("acme.cert-manager.io/v1", "Challenge")
LEASE = ("coordination.k8s.io/v1", "Lease", "certmgr-controller", "certmgr")
CERTIFICATES = 12
DEADLINE = 90.0
TIMING = (
    "--leader-election-lease-duration=3",
    "--leader-election-renew-deadline=2",
    "--leader-election-retry-period=0.5",
)


@pytest.fixture
async def env(
    pebble: PebbleServer, kube_cluster: KubeCluster, tmp_path: Path
) -> AsyncIterator[LocalEnvironment]:
    async with local_environment(tmp_path, pebble=pebble, cluster=kube_cluster) as env:
        yield env


async def eventually(probe: Callable[[], Any], *, what: str, env: LocalEnvironment) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.02)
    pytest.fail(f"{what} not reached within {DEADLINE} s\n{env.controller_logs()}")


def _certificates() -> list[dict[str, Any]]:
    (template,) = load_manifests(EXAMPLES_DIR / "certificate.yaml")
    made = []
    for n in range(CERTIFICATES):
        cert = copy.deepcopy(template)
        cert["metadata"]["name"] = f"restart-{n}"
        cert["spec"]["secretName"] = f"restart-{n}-tls"
        cert["spec"]["commonName"] = f"restart-{n}.example.com"
        cert["spec"]["dnsNames"] = [f"restart-{n}.example.com"]
        made.append(cert)
    return made


async def _ready(env: LocalEnvironment) -> bool:
    def is_ready(cert: dict[str, Any]) -> bool:
        conditions = (cert.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    listed = await env.read_all(*CERT, env.namespace)
    certs = [c for c in listed if c["metadata"]["name"].startswith("restart-")]
    return len(certs) == CERTIFICATES and all(is_ready(c) for c in certs)


@pytest.mark.parametrize(
    ("stopped", "sig"),
    [
        pytest.param("leader", signal.SIGTERM, id="leader-sigterm"),
        pytest.param("leader", signal.SIGKILL, id="leader-sigkill"),
        pytest.param("standby", signal.SIGKILL, id="standby-sigkill"),
    ],
)
async def test_stopping_a_replica_during_validation_fails_no_order(
    env: LocalEnvironment, stopped: str, sig: int
) -> None:
    first = env.start_controller(*TIMING)

    async def leader() -> str | None:
        lease = await env.read(*LEASE)
        holder: str | None = ((lease or {}).get("spec") or {}).get("holderIdentity")
        return holder

    await eventually(leader, what="a leader", env=env)
    second = env.start_controller(*TIMING)
    await eventually(lambda: second.logged("caches_synced"), what="a standby", env=env)
    await env.put([env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")])
    await env.put(env.in_namespace(_certificates()))
    # Validation under way: Challenges exist (the CA is being asked, or about to be).
    await eventually(lambda: env.read_all(*CHALLENGE, env.namespace), what="Challenges", env=env)
    victim = first if stopped == "leader" else second
    # In a thread: the simulator and the data plane run on this loop, and a draining
    # replica waits for challenges that need both.
    code = await asyncio.to_thread(victim.stop, sig=sig, timeout=75)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), env.controller_logs()
    await eventually(lambda: _ready(env), what="every Certificate Ready", env=env)
    listed = await env.read_all(*ORDER, env.namespace)
    orders = [o for o in listed if o["metadata"]["name"].startswith("restart-")]
    failed = [o["metadata"]["name"] for o in orders if o["status"].get("state") != "valid"]
    print(
        f"{stopped} {signal.Signals(sig).name} during validation: "
        f"{len(orders)} orders for {CERTIFICATES} certificates, {len(failed)} failed"
    )
    assert failed == []
    assert len(orders) == CERTIFICATES  # no order placed twice, none failed and retried
