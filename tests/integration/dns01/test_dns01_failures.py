"""DNS-01 Challenges that cannot be presented, against a real BIND: a clear reason on the
Challenge, a Warning Event per attempt, and attempts backed off over fake time (no hot
loop); and the RFC 2136 provider's present / clean up of values that coexist."""

from __future__ import annotations

import base64
import copy
import secrets
from typing import Any

import pytest

from certmgr.controllers.context import Settings
from certmgr.dns01.providers import ChallengeRequest, DNS01Error, ProviderContext
from certmgr.dns01.rfc2136 import RFC2136Provider
from certmgr.runtime.cache import Cache
from certmgr.testing.bind import BindServer
from certmgr.testing.clock import FakeClock
from tests.integration.dns01.challenge_harness import (
    KEY,
    NS,
    FakeKube,
    challenge,
    harness,
    refused_for_ten_minutes,
    secret,
    txt_request,
)


def tsig_secret(value: str) -> dict[str, Any]:
    return secret("tsig", secret=value)


def through(bind: BindServer) -> Settings:
    """The controller's settings: the zone and the propagation check asked of ``bind``."""
    return Settings(
        dns01_recursive_nameservers=(bind.address,), dns01_recursive_nameservers_only=True
    )


def rfc2136(bind: BindServer, **overrides: Any) -> dict[str, Any]:
    return {"rfc2136": {**bind.rfc2136_solver(), **overrides}}


@pytest.mark.parametrize(
    ("dns_name", "provider", "tsig", "reason"),
    [
        pytest.param(
            "bad-tsig.example.test",
            None,
            base64.b64encode(secrets.token_bytes(32)).decode(),
            "rejected the TSIG signature",
            id="bad-tsig-secret",
        ),
        pytest.param(
            "www.nowhere.invalid",
            None,
            None,
            "Could not find the SOA record in the DNS tree for the domain "
            "'_acme-challenge.www.nowhere.invalid.'",
            id="nxdomain-zone",
        ),
        pytest.param(
            "www.refused.test",
            None,
            None,
            "DNS update failed. Server replied: REFUSED",
            id="refused-update",
        ),
        pytest.param(
            "missing-secret.example.test",
            {"tsigSecretSecretRef": {"name": "absent", "key": "secret"}},
            None,
            'secret "ns/absent" not found',
            id="missing-secret",
        ),
        pytest.param(
            "azure.example.test",
            {"azureDNS": {}},
            None,
            "the dns01 provider 'azureDNS' is not supported by certmgr",
            id="unsupported-provider",
        ),
        pytest.param(
            "cloudflare.example.test",
            {"cloudflare": {"apiTokenSecretRef": {"name": "cf", "key": "token"}}},
            None,
            "the dns01 provider 'cloudflare' is not supported by certmgr "
            "(supported: rfc2136, route53, webhook)",
            id="unsupported-cloudflare",
        ),
        pytest.param(
            "acme-dns.example.test",
            {"acmeDNS": {"host": "https://auth.example.test"}},
            None,
            "the dns01 provider 'acmeDNS' is not supported by certmgr",
            id="unsupported-acme-dns",
        ),
        pytest.param(
            "none.example.test",
            {"cnameStrategy": "Follow"},
            None,
            "no dns provider config specified for challenge",
            id="no-provider",
        ),
    ],
)
async def test_a_dns01_challenge_that_cannot_be_presented_says_why_and_backs_off(
    bind: BindServer,
    dns_name: str,
    provider: dict[str, Any] | None,
    tsig: str | None,
    reason: str,
) -> None:
    if provider is None or "tsigSecretSecretRef" in provider:
        solver = rfc2136(bind, **(provider or {}))
    else:
        solver = provider
    run = harness(
        challenge(dns_name, solver),
        settings=through(bind),
        secrets={"tsig": tsig_secret(tsig or bind.key.secret)},
    )
    await refused_for_ten_minutes(run, reason=reason)
    assert not bind.txt_values(f"_acme-challenge.{dns_name}.")


async def test_a_nameserver_that_does_not_serve_the_zone_refuses_the_update(
    bind: BindServer,
) -> None:
    """The zone (other.test) is found through the recursive nameservers, but the rfc2136
    nameserver is another server: it is not authoritative for it (NOTAUTH)."""
    with BindServer(dynamic_zone="other.test") as other:
        run = harness(
            challenge("www.other.test", rfc2136(bind)),
            settings=through(other),
            secrets={"tsig": tsig_secret(bind.key.secret)},
        )
        result = await run.reconciler.reconcile(KEY)
        await run.reconciler.close()
        assert result is not None and result.requeue_after == pytest.approx(5.0, rel=0.25)
        assert "DNS update failed. Server replied: NOTAUTH" in run.status()["reason"]
        assert [e[2] for e in run.events.events] == ["PresentError"]


def rfc2136_provider(bind: BindServer, **overrides: Any) -> RFC2136Provider:
    """The provider for ``bind``'s solver block, its TSIG secret in Secret ``tsig``."""
    kube = FakeKube(Cache(), {"tsig": tsig_secret(bind.key.secret)})
    return RFC2136Provider(
        rfc2136(bind, **overrides)["rfc2136"],
        ProviderContext(client=kube, clock=FakeClock()),  # type: ignore[arg-type]
    )


async def test_values_for_a_name_and_its_wildcard_coexist_and_are_removed_one_by_one(
    bind: BindServer,
) -> None:
    provider = rfc2136_provider(bind)
    fqdn = "_acme-challenge.both.example.test."

    def request(value: str) -> ChallengeRequest:
        return txt_request(fqdn, value, uid=value)

    assert await provider.present(request("apex-value")) is None
    assert await provider.present(request("wildcard-value")) is None
    await provider.present(request("apex-value"))  # idempotent
    assert bind.txt_values(fqdn) == {"apex-value", "wildcard-value"}
    await provider.clean_up(request("apex-value"))
    assert bind.txt_values(fqdn) == {"wildcard-value"}
    await provider.clean_up(request("wildcard-value"))
    await provider.clean_up(request("wildcard-value"))  # idempotent
    assert bind.txt_values(fqdn) == set()


@pytest.mark.parametrize("algorithm", ["HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512"])
async def test_every_tsig_algorithm_updates_bind(algorithm: str) -> None:
    with BindServer(algorithm=algorithm) as bind:
        provider = rfc2136_provider(bind)
        request = txt_request("_acme-challenge.alg.example.test.", algorithm)
        await provider.present(request)
        assert bind.txt_values(request.resolved_fqdn) == {algorithm}
        await provider.clean_up(request)
        assert bind.txt_values(request.resolved_fqdn) == set()


async def test_a_mismatched_algorithm_is_a_tsig_error(bind: BindServer) -> None:
    other = "HMACSHA512" if bind.key.algorithm != "HMACSHA512" else "HMACSHA256"
    provider = rfc2136_provider(bind, tsigAlgorithm=other)
    with pytest.raises(DNS01Error, match="TSIG"):
        await provider.present(txt_request("_acme-challenge.x.example.test.", "v"))


class FakeCAPending:
    """A CA whose challenge stays pending (the Challenge is mid-way when deleted)."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    async def accept_challenge(self, url: str) -> Any:
        self.accepted.append(url)
        return type("C", (), {"status": "processing"})()

    async def get_authorization(self, url: str) -> Any:
        offered = type(
            "C", (), {"url": "https://ca/chall/1", "status": "processing", "error": None}
        )
        return type("A", (), {"status": "pending", "challenges": [offered], "retry_after": None})()


async def test_a_deleted_challenge_removes_its_txt_record_then_its_finalizer(
    bind: BindServer,
) -> None:
    obj = challenge("deleted.example.test", rfc2136(bind))
    obj["metadata"]["finalizers"] = ["acme.cert-manager.io/finalizer"]
    ca = FakeCAPending()
    run = harness(
        obj, settings=through(bind), secrets={"tsig": tsig_secret(bind.key.secret)}, ca=ca
    )
    fqdn = "_acme-challenge.deleted.example.test."
    result = await run.reconciler.reconcile(KEY)
    assert result is not None
    assert bind.txt_values(fqdn) == {"txt-value"}
    assert ca.accepted == ["https://ca/chall/1"]  # propagated, so the CA was told
    deleting = copy.deepcopy(run.challenges.get(NS, "c"))
    assert deleting is not None
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    run.challenges.apply("MODIFIED", deleting)
    assert await run.reconciler.reconcile(KEY) is None
    assert bind.txt_values(fqdn) == set()
    assert run.challenges.get(NS, "c")["metadata"]["finalizers"] == []  # type: ignore[index]
    await run.reconciler.close()
