"""The Route 53 provider against the local Route 53 (moto's server behind certmgr's peer).

Each test seeds the peer (IAM users, a role, hosted zones; authentication on), drives the
provider and asserts what Route 53 then holds, what its name server answers and which
calls it saw. Waits (backoff, INSYNC polls) run on an instant clock that records them.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from certmgr.dns01.providers import ChallengeRequest, DNS01Error, ProviderContext
from certmgr.dns01.registry import Selected, provider_for
from certmgr.dns01.route53 import Backoff, Route53Provider
from certmgr.dns01.route53_errors import (
    Route53AuthError,
    Route53ChangeTimeout,
    Route53ConfigError,
    Route53Throttled,
    Route53ZoneNotFound,
)
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import SECRETS, Resource
from certmgr.testing.route53 import REGION, AccessKey, Route53PeerProcess, isolate_aws_sdk

FQDN = "_acme-challenge.example.test."
ZONE = "example.test."
NS = "team"
# The controller calls ``present`` again after each wait it returns; this many at most.
MAX_CALLS = 60


class InstantClock:
    """Time moves only when the test driver says a wait is over."""

    def __init__(self) -> None:
        self.mono = 0.0

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.mono)

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("the Route 53 provider must not sleep")


class SecretsKube:
    """The Secrets of namespace NS; nothing else."""

    def __init__(self, secrets: Mapping[str, Mapping[str, bytes]]) -> None:
        self.secrets = {
            name: {
                "metadata": {"name": name, "namespace": NS},
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
            }
            for name, data in secrets.items()
        }

    async def get(self, resource: Resource, name: str, **kw: Any) -> dict[str, Any]:
        if resource == SECRETS and kw.get("namespace") == NS and name in self.secrets:
            return copy.deepcopy(self.secrets[name])
        raise NotFound({"reason": "NotFound", "message": f'secrets "{name}" not found'})


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_sdk(monkeypatch, tmp_path)


def solver(key: AccessKey | None, **fields: Any) -> dict[str, Any]:
    """A ``route53`` block: the access key ID inline, its secret in Secret ``aws``."""
    config: dict[str, Any] = {"region": REGION}
    if key is not None:
        config["accessKeyID"] = key.access_key_id
        config["secretAccessKeySecretRef"] = {"name": "aws", "key": "secret-access-key"}
    return {**config, **fields}


def provider(
    peer: Route53PeerProcess,
    config: Mapping[str, Any],
    *,
    key: AccessKey | None = None,
    clock: InstantClock | None = None,
    **options: Any,
) -> Route53Provider:
    secrets = {"aws": {"secret-access-key": key.secret_access_key.encode()}} if key else {}
    context = ProviderContext(client=SecretsKube(secrets), clock=clock or InstantClock())  # type: ignore[arg-type]
    return Route53Provider(config, context, endpoint_url=peer.endpoint_url, **options)


def request(
    value: str, *, fqdn: str = FQDN, zone: str = ZONE, ambient: bool = False
) -> ChallengeRequest:
    return ChallengeRequest(
        uid=f"uid-{value}",
        dns_name=fqdn.removeprefix("_acme-challenge.").rstrip("."),
        key=value,
        resolved_fqdn=fqdn,
        resolved_zone=zone,
        resource_namespace=NS,
        allow_ambient_credentials=ambient,
    )


async def present(
    route53: Route53Provider, challenge: ChallengeRequest, clock: InstantClock | None = None
) -> list[float]:
    """Call ``present`` as the controller does until it is done; the waits it asked for."""
    waits: list[float] = []
    for _ in range(MAX_CALLS):
        wait = await route53.present(challenge)
        if wait is None:
            return waits
        waits.append(wait)
        if clock is not None:
            clock.mono += wait
    raise AssertionError(f"present never finished: {waits}")


def dns_txt(peer: Route53PeerProcess, name: str) -> tuple[str, set[str]]:
    query = dns.message.make_query(name, "TXT")
    reply = dns.query.udp(query, peer.dns_address[0], port=peer.dns_address[1], timeout=10)
    values = {b"".join(rdata.strings).decode() for rrset in reply.answer for rdata in rrset}
    return dns.rcode.to_text(reply.rcode()), values


def operations(peer: Route53PeerProcess) -> list[tuple[str, int]]:
    """The calls since authentication was switched on (the seed's calls left out)."""
    calls = peer.calls()
    start = max(i for i, (op, _) in enumerate(calls) if op == "POST /moto-api/reset-auth")
    return calls[start + 1 :]


async def test_two_values_share_the_name_and_clean_up_removes_only_ours(
    route53_peer: Route53PeerProcess,
) -> None:
    world = route53_peer.seed()
    route53 = provider(route53_peer, solver(world.dns_admin), key=world.dns_admin)

    await present(route53, request("apex-value"))
    await present(route53, request("wildcard-value"))
    # Presenting again (a retried reconcile) changes nothing.
    await present(route53, request("apex-value"))
    assert route53_peer.txt_values(world, zone="example.test", name=FQDN) == {
        "apex-value",
        "wildcard-value",
    }
    assert dns_txt(route53_peer, FQDN) == ("NOERROR", {"apex-value", "wildcard-value"})

    await route53.clean_up(request("apex-value"))
    assert route53_peer.txt_values(world, zone="example.test", name=FQDN) == {"wildcard-value"}
    assert dns_txt(route53_peer, FQDN) == ("NOERROR", {"wildcard-value"})

    await route53.clean_up(request("wildcard-value"))
    # Already gone: Route 53 answers InvalidChangeBatch, which is success for a clean-up.
    await route53.clean_up(request("wildcard-value"))
    assert route53_peer.txt_values(world, zone="example.test", name=FQDN) == set()
    assert dns_txt(route53_peer, FQDN) == ("NXDOMAIN", set())
    assert ("ChangeResourceRecordSets", 400) in operations(route53_peer)


@pytest.mark.parametrize(
    ("zones", "private_zones", "fqdn", "zone", "expected_zone"),
    [
        pytest.param(
            ("example.test", "sub.example.test"),
            (),
            "_acme-challenge.www.sub.example.test.",
            "sub.example.test.",
            "sub.example.test",
            id="the-zone-the-soa-lookup-found",
        ),
        pytest.param(
            ("example.test",),
            ("example.test",),
            FQDN,
            ZONE,
            "example.test",
            id="public-zone-chosen-over-private-of-same-name",
        ),
    ],
)
async def test_hosted_zone_found_by_name(
    route53_peer: Route53PeerProcess,
    zones: tuple[str, ...],
    private_zones: tuple[str, ...],
    fqdn: str,
    zone: str,
    expected_zone: str,
) -> None:
    world = route53_peer.seed(zones=zones, private_zones=private_zones)
    route53 = provider(route53_peer, solver(world.dns_admin), key=world.dns_admin)

    await present(route53, request("v", fqdn=fqdn, zone=zone))

    assert route53_peer.txt_values(world, zone=expected_zone, name=fqdn) == {"v"}
    for other in set(zones) - {expected_zone}:
        assert route53_peer.txt_values(world, zone=other, name=fqdn) == set()


async def test_hosted_zone_id_given_skips_the_lookup(route53_peer: Route53PeerProcess) -> None:
    world = route53_peer.seed()
    zone_id = "/hostedzone/" + world.zones["example.test"]
    route53 = provider(
        route53_peer, solver(world.dns_admin, hostedZoneID=zone_id), key=world.dns_admin
    )

    await present(route53, request("v"))

    assert [op for op, _ in operations(route53_peer)] == ["ChangeResourceRecordSets", "GetChange"]
    assert route53_peer.txt_values(world, zone="example.test", name=FQDN) == {"v"}


@pytest.mark.parametrize(
    ("private_zones", "hosted_zone_id", "message"),
    [
        pytest.param(
            ("example.test",),
            "",
            "failed to determine Route 53 hosted zone ID: zone example.test. not found in "
            "Route 53 for domain _acme-challenge.example.test.",
            id="only-a-private-zone",
        ),
        pytest.param(
            (),
            "Z0000000NOTTHERE",
            "failed to change Route 53 record set: ChangeResourceRecordSets: NoSuchHostedZone",
            id="unknown-hosted-zone-id",
        ),
    ],
)
async def test_unknown_zone_is_a_clear_error(
    route53_peer: Route53PeerProcess,
    private_zones: tuple[str, ...],
    hosted_zone_id: str,
    message: str,
) -> None:
    world = route53_peer.seed(zones=(), private_zones=private_zones)
    config = solver(world.dns_admin, hostedZoneID=hosted_zone_id)

    with pytest.raises(Route53ZoneNotFound) as raised:
        await present(provider(route53_peer, config, key=world.dns_admin), request("v"))

    assert str(raised.value).startswith(message)


WRONG_SECRET = AccessKey("", "not-the-secret")


@pytest.mark.parametrize(
    ("config", "secret", "ambient", "error", "message"),
    [
        pytest.param(
            "admin",
            WRONG_SECRET,
            False,
            Route53AuthError,
            "failed to determine Route 53 hosted zone ID: ListHostedZonesByName: "
            "SignatureDoesNotMatch: ",
            id="wrong-secret",
        ),
        pytest.param(
            {"accessKeyID": "AKIANOSUCHKEY0000000"},
            None,
            False,
            Route53AuthError,
            "failed to determine Route 53 hosted zone ID: ListHostedZonesByName: "
            "InvalidClientTokenId: The security token included in the request is invalid. "
            "(HTTP 403; check accessKeyID)",
            id="unknown-access-key",
        ),
        pytest.param(
            {},
            None,
            False,
            Route53ConfigError,
            "unable to construct route53 provider: empty credentials; perhaps you meant to "
            "enable ambient credentials?",
            id="no-credentials-and-no-ambient",
        ),
        pytest.param(
            {"accessKeyID": "AKIAHALF000000000000"},
            "no-secret-ref",
            False,
            Route53ConfigError,
            "unable to construct route53 provider: only one of access and secret key was provided",
            id="half-the-credentials",
        ),
        pytest.param(
            {},
            None,
            True,
            Route53AuthError,
            "failed to determine Route 53 hosted zone ID: ListHostedZonesByName: no AWS "
            "credentials found in the environment",
            id="ambient-allowed-but-none-there",
        ),
        pytest.param(
            {"secretAccessKeySecretRef": {"name": "missing", "key": "k"}},
            None,
            False,
            DNS01Error,
            'route53 secretAccessKeySecretRef: secret "team/missing" not found',
            id="secret-missing",
        ),
    ],
)
async def test_bad_credentials_are_a_clear_error(
    route53_peer: Route53PeerProcess,
    config: Any,
    secret: Any,
    ambient: bool,
    error: type[Exception],
    message: str,
) -> None:
    world = route53_peer.seed()
    if config == "admin":
        block = solver(world.dns_admin)
    else:
        block = {"region": REGION, **config}
        if secret is None and "accessKeyID" in config:
            block["secretAccessKeySecretRef"] = {"name": "aws", "key": "secret-access-key"}
    key = (
        AccessKey(world.dns_admin.access_key_id, secret.secret_access_key)
        if secret == WRONG_SECRET
        else world.dns_admin
    )
    route53 = provider(route53_peer, block, key=key)

    with pytest.raises(error) as raised:
        await present(route53, request("v", ambient=ambient))

    assert str(raised.value).startswith(message)
    # One call at most: a credentials error is not retried here (the Challenge backs off).
    assert len(operations(route53_peer)) <= 1


async def test_ambient_credentials_from_the_environment(
    route53_peer: Route53PeerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = route53_peer.seed()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", world.dns_admin.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", world.dns_admin.secret_access_key)

    await present(provider(route53_peer, solver(None)), request("v", ambient=True))

    assert route53_peer.txt_values(world, zone="example.test", name=FQDN) == {"v"}


async def test_role_is_assumed(route53_peer: Route53PeerProcess) -> None:
    world = route53_peer.seed()
    # The assumer alone may not touch Route 53...
    alone = provider(route53_peer, solver(world.assumer), key=world.assumer)
    with pytest.raises(Route53AuthError, match="AccessDenied"):
        await present(alone, request("v"))

    # ...through the role it may.
    config = solver(world.assumer, role=world.role_arn)
    await present(provider(route53_peer, config, key=world.assumer), request("v"))

    assert route53_peer.txt_values(world, zone="example.test", name=FQDN) == {"v"}
    assert ("AssumeRole", 200) in operations(route53_peer)


async def test_role_that_cannot_be_assumed(route53_peer: Route53PeerProcess) -> None:
    world = route53_peer.seed()
    config = solver(world.dns_admin, role="arn:aws:iam::123456789012:role/no-such-role")

    with pytest.raises(Route53AuthError, match=r"^unable to assume role: AssumeRole: "):
        await present(provider(route53_peer, config, key=world.dns_admin), request("v"))


async def test_throttling_is_asked_again_after_a_backoff(route53_peer: Route53PeerProcess) -> None:
    world = route53_peer.seed()
    route53_peer.throttle("ChangeResourceRecordSets", times=2)
    clock = InstantClock()
    route53 = provider(
        route53_peer, solver(world.dns_admin), key=world.dns_admin, clock=clock, jitter=lambda: 1.0
    )

    waits = await present(route53, request("v"), clock)

    # Backoff 1 s then 2 s, then the change is accepted and INSYNC at the first poll.
    assert waits == [1.0, 2.0, 1.0]
    changes = [
        status for op, status in operations(route53_peer) if op == "ChangeResourceRecordSets"
    ]
    assert changes == [400, 400, 200]
    assert route53_peer.txt_values(world, zone="example.test", name=FQDN) == {"v"}


async def test_throttling_that_goes_on_is_an_error(route53_peer: Route53PeerProcess) -> None:
    world = route53_peer.seed()
    route53_peer.throttle("ListHostedZonesByName", times=100)
    clock = InstantClock()
    route53 = provider(
        route53_peer,
        solver(world.dns_admin),
        key=world.dns_admin,
        clock=clock,
        backoff=Backoff(retries=3),
        jitter=lambda: 0.0,
    )

    waits: list[float] = []
    with pytest.raises(Route53Throttled) as raised:
        for _ in range(MAX_CALLS):
            wait = await route53.present(request("v"))
            assert wait is not None
            waits.append(wait)

    assert str(raised.value) == (
        "still throttled after 3 retries: failed to determine Route 53 hosted zone ID: "
        "ListHostedZonesByName: Throttling: Rate exceeded (HTTP 400)"
    )
    assert waits == [0.5, 1.0, 2.0]
    assert operations(route53_peer) == [("ListHostedZonesByName", 400)] * 4


async def test_change_pending_for_a_while_is_followed(route53_peer: Route53PeerProcess) -> None:
    world = route53_peer.seed()
    route53_peer.pending_polls(3)
    clock = InstantClock()
    route53 = provider(route53_peer, solver(world.dns_admin), key=world.dns_admin, clock=clock)

    waits = await present(route53, request("v"), clock)

    assert waits == [1.0, 2.0, 4.0, 4.0]
    assert [op for op, _ in operations(route53_peer)] == [
        "ListHostedZonesByName",
        "ChangeResourceRecordSets",
        "GetChange",
        "GetChange",
        "GetChange",
        "GetChange",
    ]


async def test_change_that_stays_pending_times_out(route53_peer: Route53PeerProcess) -> None:
    world = route53_peer.seed()
    route53_peer.pending_polls(1000)
    clock = InstantClock()
    route53 = provider(
        route53_peer, solver(world.dns_admin), key=world.dns_admin, clock=clock, insync_timeout=30
    )

    with pytest.raises(
        Route53ChangeTimeout, match=r"^Route 53 change /change/C\d+ was not INSYNC after 30s$"
    ):
        await present(route53, request("v"), clock)

    assert clock.mono == 30
    gets = [op for op, _ in operations(route53_peer)].count("GetChange")
    assert gets == 9  # after 1, 3, 7, 11, ... 27 and 30 s

    # The next present starts over with a new change.
    route53_peer.pending_polls(0)
    assert await present(route53, request("v"), clock) == [1.0]


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        pytest.param(
            {"accessKeyID": "A", "accessKeyIDSecretRef": {"name": "s", "key": "k"}},
            "error instantiating route53 challenge solver: route53 accessKeyID and "
            "accessKeyIDSecretRef cannot both be specified",
            id="both-access-key-forms",
        ),
        pytest.param(
            {"accessKeyIDSecretRef": {"name": "s"}},
            "error instantiating route53 challenge solver: route53 accessKeyIDSecretRef "
            "requires a key field to be specified",
            id="secret-ref-without-key",
        ),
        pytest.param(
            {"auth": {"kubernetes": {"serviceAccountRef": {"name": "sa"}}}},
            "error instantiating route53 challenge solver: route53 "
            "auth.kubernetes.serviceAccountRef is not supported by certmgr",
            id="service-account-auth",
        ),
    ],
)
def test_unusable_blocks_get_a_reason(block: dict[str, Any], reason: str) -> None:
    found = provider_for(
        {"route53": block}, ProviderContext(client=SecretsKube({}), clock=InstantClock())
    )  # type: ignore[arg-type]

    assert not isinstance(found, Selected)
    assert found.reason.startswith(reason)


def test_registry_builds_route53() -> None:
    found = provider_for(
        {"route53": {"region": REGION}},
        ProviderContext(client=SecretsKube({}), clock=InstantClock()),  # type: ignore[arg-type]
    )

    assert isinstance(found, Selected)
    assert isinstance(found.provider, Route53Provider)


async def test_the_assumed_role_is_kept_while_its_credentials_last(
    route53_peer: Route53PeerProcess,
) -> None:
    world = route53_peer.seed()
    route53 = provider(route53_peer, solver(world.assumer, role=world.role_arn), key=world.assumer)

    await present(route53, request("a"))
    await present(route53, request("b"))
    await route53.clean_up(request("a"))
    await route53.clean_up(request("b"))

    assert [op for op, _ in operations(route53_peer)].count("AssumeRole") == 1
    assert route53_peer.txt_values(world, zone="example.test", name=FQDN) == set()
