"""Route 53 Challenges that cannot be presented, through the Challenge controller and the
local Route 53: a clear reason and a Warning Event per attempt, backed off over fake time
(no hot loop); and cert-manager's ambient-credential rule per issuer kind."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from certmgr.controllers.context import Settings
from certmgr.testing.route53 import REGION, Route53PeerProcess, Route53World
from tests.integration.dns01.challenge_harness import (
    Harness,
    challenge,
    drive,
    harness,
    refused_for_ten_minutes,
    secret,
)

MINUTES = 10
pytestmark = pytest.mark.usefixtures("aws_at_route53_peer")


def aws_secret(world: Route53World, *, value: str | None = None) -> dict[str, Any]:
    return secret("aws", secret=value if value is not None else world.dns_admin.secret_access_key)


def with_keys(world: Route53World, **fields: Any) -> dict[str, Any]:
    return {
        "route53": {
            "region": REGION,
            "accessKeyID": world.dns_admin.access_key_id,
            "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
            **fields,
        }
    }


def run_for(
    peer: Route53PeerProcess,
    provider: dict[str, Any],
    *,
    secrets: dict[str, dict[str, Any]],
    kind: str = "Issuer",
    settings: Settings | None = None,
) -> Harness:
    """The controller over one Challenge for ``provider``, the zone found in the peer."""
    host, port = peer.dns_address
    settings = dataclasses.replace(
        settings or Settings(),
        dns01_recursive_nameservers=(f"{host}:{port}",),
        dns01_recursive_nameservers_only=True,
    )
    return harness(
        challenge("example.test", provider, kind=kind), settings=settings, secrets=secrets
    )


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
    secrets = {"aws": aws_secret(world)}
    provider = with_keys(world)
    if case == "wrong-secret":
        secrets = {"aws": aws_secret(world, value="not-the-secret")}
    elif case == "unknown-zone-id":
        provider = with_keys(world, hostedZoneID="Z0000000NOTTHERE")
    elif case == "no-route53-permission":
        provider = with_keys(world, accessKeyID=world.assumer.access_key_id)
        secrets = {"aws": aws_secret(world, value=world.assumer.secret_access_key)}
    elif case == "throttled":
        route53_peer.throttle("ListHostedZonesByName", times=10_000)

    run = run_for(route53_peer, provider, secrets=secrets)
    await refused_for_ten_minutes(run, reason=reason)
    assert world.dns_admin.secret_access_key not in run.status()["reason"]
    calls = [op for op, _ in route53_peer.calls()]
    assert len(calls) < 60, calls
    assert (
        route53_peer.txt_values(world, zone="example.test", name="_acme-challenge.example.test")
        == set()
    )


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

    run = run_for(route53_peer, provider, secrets={}, kind=kind, settings=settings)
    await drive(run, minutes=MINUTES)

    assert reason in run.status()["reason"], run.status()["reason"]
