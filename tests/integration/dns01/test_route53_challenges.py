"""Route 53 Challenges that cannot be presented, through the Challenge controller and the
local Route 53: a clear reason and a Warning Event per attempt, backed off over fake time
(no hot loop); and cert-manager's ambient-credential rule per issuer kind."""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from certmgr.controllers.acme.challenges import SLOT_INDEX, ChallengeReconciler, slot_of
from certmgr.controllers.context import Context, Settings
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock
from certmgr.testing.route53 import REGION, Route53PeerProcess, Route53World
from tests.integration.dns01.test_dns01_failures import (
    ISSUER,
    KEY,
    NS,
    FakeAccounts,
    FakeKube,
    RecordingEvents,
    challenge,
)

CLUSTER_ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "ClusterIssuer",
    "metadata": {"name": "ca", "resourceVersion": "1"},
    "spec": ISSUER["spec"],
}
MINUTES = 10


@pytest.fixture(autouse=True)
def aws_environment(
    route53_peer: Route53PeerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The SDK's endpoint variable points at the peer; nothing else of this machine's."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", route53_peer.endpoint_url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def aws_secret(world: Route53World, *, secret: str | None = None) -> dict[str, Any]:
    value = secret if secret is not None else world.dns_admin.secret_access_key
    return {
        "metadata": {"name": "aws"},
        "data": {"secret": base64.b64encode(value.encode()).decode()},
    }


def with_keys(world: Route53World, **fields: Any) -> dict[str, Any]:
    return {
        "route53": {
            "region": REGION,
            "accessKeyID": world.dns_admin.access_key_id,
            "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
            **fields,
        }
    }


async def attempts_for(
    peer: Route53PeerProcess,
    provider: dict[str, Any],
    secrets_: dict[str, dict[str, Any]],
    *,
    kind: str = "Issuer",
    settings: Settings | None = None,
) -> tuple[dict[str, Any], list[tuple[float, str, str, str]], float]:
    """Reconcile one Challenge for MINUTES of fake time, as the work queue would."""
    clock = FakeClock()
    obj = challenge("example.test", provider)
    obj["spec"]["issuerRef"]["kind"] = kind
    challenges = Cache(indexes={SLOT_INDEX: slot_of})
    challenges.apply("ADDED", obj)
    issuers, cluster_issuers = Cache(), Cache()
    issuers.apply("ADDED", ISSUER)
    cluster_issuers.apply("ADDED", CLUSTER_ISSUER)
    host, port = peer.dns_address
    settings = dataclasses.replace(
        settings or Settings(),
        dns01_recursive_nameservers=(f"{host}:{port}",),
        dns01_recursive_nameservers_only=True,
    )
    events = RecordingEvents(clock=clock)
    ctx = Context(FakeKube(challenges, secrets_), None, clock, events, None, settings)  # type: ignore[arg-type]
    reconciler = ChallengeReconciler(
        ctx,
        accounts=FakeAccounts(),  # type: ignore[arg-type]
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=cluster_issuers,
    )
    start = clock.monotonic()
    try:
        while clock.monotonic() - start < MINUTES * 60:
            result = await reconciler.reconcile(KEY)
            assert result is not None and result.requeue_after is not None
            clock.advance(result.requeue_after)
    finally:
        await reconciler.close()
    status = challenges.get(NS, "c")["status"]  # type: ignore[index]
    return status, events.events, start


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        pytest.param(
            "wrong-secret",
            "failed to determine Route 53 hosted zone ID: ListHostedZonesByName: "
            "SignatureDoesNotMatch",
            id="bad-credentials",
        ),
        pytest.param(
            "unknown-zone-id",
            "failed to change Route 53 record set: ChangeResourceRecordSets: NoSuchHostedZone",
            id="unknown-hosted-zone",
        ),
        pytest.param(
            "no-route53-permission",
            "ListHostedZonesByName: AccessDenied: User: arn:aws:iam::123456789012:user/assumer "
            "is not authorized to perform: route53:ListHostedZonesByName",
            id="access-denied",
        ),
        pytest.param(
            "throttled",
            "still throttled after 3 retries: failed to determine Route 53 hosted zone ID: "
            "ListHostedZonesByName: Throttling: Rate exceeded (HTTP 400)",
            id="throttled-throughout",
        ),
    ],
)
async def test_a_route53_challenge_that_cannot_be_presented_says_why_and_backs_off(
    route53_peer: Route53PeerProcess, case: str, reason: str
) -> None:
    world = route53_peer.seed()
    secrets_ = {"aws": aws_secret(world)}
    provider = with_keys(world)
    if case == "wrong-secret":
        secrets_ = {"aws": aws_secret(world, secret="not-the-secret")}
    elif case == "unknown-zone-id":
        provider = with_keys(world, hostedZoneID="Z0000000NOTTHERE")
    elif case == "no-route53-permission":
        provider = with_keys(world, accessKeyID=world.assumer.access_key_id)
        secrets_ = {"aws": aws_secret(world, secret=world.assumer.secret_access_key)}
    elif case == "throttled":
        route53_peer.throttle("ListHostedZonesByName", times=10_000)

    status, events, start = await attempts_for(route53_peer, provider, secrets_)

    assert status["reason"].startswith("Error presenting challenge: "), status
    assert reason in status["reason"], status["reason"]
    assert world.dns_admin.secret_access_key not in status["reason"]
    warnings = [e for e in events if e[1] == "Warning"]
    assert warnings and all(e[2] == "PresentError" and reason in e[3] for e in warnings)
    # Backed off from 5 s towards 5 min: a handful of attempts in 10 minutes, not hundreds.
    assert 4 <= len(warnings) <= 10, [round(e[0] - start) for e in warnings]
    calls = [op for op, _ in route53_peer.calls()]
    assert len(calls) < 60, calls
    assert route53_peer.txt_values(world, "example.test", "_acme-challenge.example.test") == set()


@pytest.mark.parametrize(
    ("kind", "settings", "reason"),
    [
        pytest.param(
            "Issuer",
            Settings(),
            "unable to construct route53 provider: empty credentials; perhaps you meant to "
            "enable ambient credentials?",
            id="issuer-not-by-default",
        ),
        pytest.param(
            "Issuer",
            Settings(issuer_ambient_credentials=True),
            "no AWS credentials found in the environment",
            id="issuer-with-the-flag",
        ),
        pytest.param(
            "ClusterIssuer",
            Settings(),
            "no AWS credentials found in the environment",
            id="cluster-issuer-by-default",
        ),
        pytest.param(
            "ClusterIssuer",
            Settings(cluster_issuer_ambient_credentials=False),
            "unable to construct route53 provider: empty credentials",
            id="cluster-issuer-flag-off",
        ),
    ],
)
async def test_ambient_credentials_follow_cert_managers_rule(
    route53_peer: Route53PeerProcess, kind: str, settings: Settings, reason: str
) -> None:
    route53_peer.seed()
    provider = {"route53": {"region": REGION}}

    status, _, _ = await attempts_for(route53_peer, provider, {}, kind=kind, settings=settings)

    assert reason in status["reason"], status["reason"]
