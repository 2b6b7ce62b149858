"""ARI end to end: Certificates of an issuer whose CA offers renewal information (the ARI
proxy in front of Pebble), with the ACME and certificate controllers, simulator and data
plane of ``test_acme_controllers``.

Covers: a window in the past (renewal now, the order carries ``replaces``), a window in the
future (renewalTime inside it), Retry-After (nextCheck, bounded), a CA without ARI
(nothing changes), malformed answers (normal schedule + one Warning), a refused
``replaces`` (the order is placed again without it) and the per-issuer opt-out.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest

from certmgr.api.codec import parse_rfc3339
from certmgr.kube.resources import CERTIFICATES, SECRETS
from certmgr.pki.certificates import parse_chain
from certmgr.pki.renewalinfo import ari_cert_id
from certmgr.testing.ari_proxy import AriProxy, RenewalAnswer, window
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.pebble import PebbleServer
from tests.e2e.test_acme_controllers import DEADLINE, World, running_world

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "web"
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@pytest.fixture
async def proxy(pebble: PebbleServer) -> AsyncIterator[AriProxy]:
    async with AriProxy(pebble) as running:
        yield running


@pytest.fixture
async def world(kube_cluster: KubeCluster, pebble: PebbleServer) -> AsyncIterator[World]:
    async with running_world(kube_cluster, pebble, with_certificates=True) as w:
        yield w


async def _certificate(world: World, proxy: AriProxy, **issuer_acme: Any) -> None:
    await world.issuer(acme={"server": proxy.directory_url, **issuer_acme})
    body = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": NAME, "namespace": world.namespace},
        "spec": {
            "secretName": "web-tls",
            "dnsNames": ["ari.example.com"],
            "issuerRef": {"name": "pebble", "kind": "Issuer"},
        },
    }
    await world.kube.create(CERTIFICATES, body, namespace=world.namespace)


async def _get(world: World) -> dict[str, Any]:
    got: dict[str, Any] = await world.kube.get(CERTIFICATES, NAME, namespace=world.namespace)
    return got


async def _until(world: World, done: Any) -> dict[str, Any]:
    found: dict[str, Any] = await eventually(lambda: _get(world), done, deadline=DEADLINE)
    return found


def _ari(certificate: dict[str, Any]) -> dict[str, Any]:
    return dict(((certificate.get("status") or {}).get("acme") or {}).get("ari") or {})


def _ready(certificate: dict[str, Any], revision: int) -> bool:
    status = certificate.get("status") or {}
    ready = [c for c in status.get("conditions") or () if c.get("type") == "Ready"]
    return status.get("revision") == revision and bool(ready) and ready[0]["status"] == "True"


async def _cert_id(world: World) -> str:
    secret = await world.kube.get(SECRETS, "web-tls", namespace=world.namespace)
    cert_id = ari_cert_id(parse_chain(base64.b64decode(secret["data"]["tls.crt"]))[0])
    assert cert_id is not None
    return cert_id


def _renews_inside_window(certificate: dict[str, Any]) -> bool:
    """renewalTime (readiness writes it after the window arrives) lies in the window."""
    window = _ari(certificate).get("suggestedWindow") or {}
    renewal = (certificate.get("status") or {}).get("renewalTime")
    if not window or not renewal:
        return False
    start, end = parse_rfc3339(window["start"]), parse_rfc3339(window["end"])
    return start <= parse_rfc3339(renewal) <= end


def _events(world: World, reason: str) -> list[str]:
    return [m for name, _, r, m in world.controllers.events.events if r == reason and name == NAME]


@pytest.mark.parametrize("refuse", [None, "alreadyReplaced"], ids=["replaces", "refused"])
async def test_a_window_in_the_past_renews_now_with_replaces(
    world: World, proxy: AriProxy, refuse: str | None
) -> None:
    now = _now()
    asked: list[str] = []
    past = window(now - 2 * HOUR, now - HOUR, explanation_url="https://ca.example/incident")
    future = window(now + DAY, now + 2 * DAY, retry_after=3600)

    def answer(cert_id: str) -> RenewalAnswer:
        if not asked or asked[0] == cert_id:
            asked.append(cert_id)
            return past
        return future

    proxy.answer_for = answer
    proxy.refuse_replaces = refuse
    await _certificate(world, proxy)
    renewed = await _until(world, lambda c: _ready(c, 2) and _ari(c).get("suggestedWindow"))
    first = asked[0]
    second = await _cert_id(world)
    # Renewed at once, the renewal order named the certificate it replaces.
    assert proxy.replaces()[:2] == [None, first]
    assert proxy.replaces()[2:] == ([None] if refuse else []), (proxy.replaces(), asked)
    # The new certificate follows its own (future) window, fetched for its CertID.
    renewed = await _until(
        world, lambda c: _ari(c).get("certID") == second and _renews_inside_window(c)
    )
    ari = _ari(renewed)
    # Retry-After: 3600 is honoured as it is.
    checked = parse_rfc3339(ari["nextCheck"]) - parse_rfc3339(ari["lastChecked"])
    assert checked == HOUR
    assert any("https://ca.example/incident" in m for m in _events(world, "RenewalInfo"))
    assert renewed["status"]["revision"] == 2


async def test_a_ca_without_ari_keeps_the_normal_schedule(world: World, proxy: AriProxy) -> None:
    proxy.ari = False
    await _certificate(world, proxy)
    ready = await _until(world, lambda c: _ready(c, 1) and c["status"].get("renewalTime"))
    status = ready["status"]
    lifetime = parse_rfc3339(status["notAfter"]) - parse_rfc3339(status["notBefore"])
    renewal = parse_rfc3339(status["renewalTime"])
    # Two thirds of the lifetime, less at most the 10-minute jitter.
    normal = parse_rfc3339(status["notAfter"]) - lifetime / 3
    assert normal - datetime.timedelta(minutes=11) <= renewal <= normal
    assert "acme" not in status
    assert proxy.fetches == []


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(RenewalAnswer(body="{not json"), id="not-json"),
        pytest.param(window(_now() + 2 * DAY, _now() + DAY), id="end-before-start"),
        pytest.param(RenewalAnswer(status=500, body="oops", retry_after=1), id="server-error"),
    ],
)
async def test_a_bad_answer_falls_back_with_one_warning(
    world: World, proxy: AriProxy, answer: RenewalAnswer
) -> None:
    proxy.default = answer
    await _certificate(world, proxy)
    failed = await _until(world, lambda c: _ready(c, 1) and _ari(c).get("lastError"))
    ari = _ari(failed)
    assert "suggestedWindow" not in ari
    status = failed["status"]
    lifetime = parse_rfc3339(status["notAfter"]) - parse_rfc3339(status["notBefore"])
    assert parse_rfc3339(status["renewalTime"]) > parse_rfc3339(status["notBefore"]) + lifetime / 2
    # Retry-After (1 s on the 500) is bounded below by a minute; otherwise an hour.
    checked = parse_rfc3339(ari["nextCheck"]) - parse_rfc3339(ari["lastChecked"])
    assert checked == (datetime.timedelta(minutes=1) if answer.status == 500 else HOUR)
    assert len(_events(world, "RenewalInfoFailed")) == 1
    assert status["revision"] == 1


async def test_the_issuer_can_opt_out(world: World, proxy: AriProxy) -> None:
    proxy.default = window(_now() - 2 * HOUR, _now() - HOUR)
    await _certificate(world, proxy, renewalInformationSource="None")
    ready = await _until(world, lambda c: _ready(c, 1) and c["status"].get("renewalTime"))
    assert "acme" not in ready["status"]
    assert proxy.fetches == []
