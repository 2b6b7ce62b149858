"""Shared mode's source: Challenges in the runtime cache answer by token and dnsName."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.runtime.cache import Cache
from solvers import ChallengeCacheSource, normalize_host


def _challenge(name: str, *, token: str, dns_name: str, kind: str = "HTTP-01") -> dict[str, Any]:
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Challenge",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "1"},
        "spec": {"type": kind, "token": token, "key": f"{token}.thumb", "dnsName": dns_name},
    }


@pytest.fixture
def cache() -> Cache:
    cache = Cache()
    # One challenge is cached before the source exists: the index must file it too.
    cache.apply("ADDED", _challenge("early", token="tok-early", dns_name="early.example"))
    return cache


@pytest.mark.parametrize(
    ("host", "token", "expected"),
    [
        pytest.param("a.example.com", "tok-a", "tok-a.thumb", id="match"),
        pytest.param("early.example", "tok-early", "tok-early.thumb", id="cached-before-source"),
        pytest.param("b.example.com", "tok-a", None, id="token-for-another-name"),
        pytest.param("a.example.com", "tok-missing", None, id="unknown-token"),
        pytest.param("dns.example.com", "tok-dns", None, id="dns01-never-served"),
        pytest.param("2001:db8::1", "tok-ip", "tok-ip.thumb", id="ip-identifier"),
        pytest.param("shared.example.com", "tok-shared", "tok-shared.thumb", id="same-token-1"),
        pytest.param("other.example.com", "tok-shared", "tok-shared.thumb", id="same-token-2"),
    ],
)
def test_lookup(cache: Cache, host: str, token: str, expected: str | None) -> None:
    source = ChallengeCacheSource(cache)
    for challenge in [
        _challenge("a", token="tok-a", dns_name="A.example.com"),
        _challenge("dns", token="tok-dns", dns_name="dns.example.com", kind="DNS-01"),
        _challenge("ip", token="tok-ip", dns_name="2001:DB8:0::1"),
        _challenge("s1", token="tok-shared", dns_name="shared.example.com"),
        _challenge("s2", token="tok-shared", dns_name="other.example.com"),
    ]:
        cache.apply("ADDED", challenge)
    assert source.lookup(normalize_host(host), token) == expected


def test_a_deleted_challenge_stops_answering(cache: Cache) -> None:
    source = ChallengeCacheSource(cache)
    challenge = _challenge("a", token="tok-a", dns_name="a.example.com")
    cache.apply("ADDED", challenge)
    assert source.lookup("a.example.com", "tok-a") == "tok-a.thumb"
    cache.apply("DELETED", challenge)
    assert source.lookup("a.example.com", "tok-a") is None
