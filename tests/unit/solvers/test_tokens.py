"""normalize_host and StaticTokenSource: when a Host header matches a challenge."""

from __future__ import annotations

import pytest

from solvers import StaticTokenSource, normalize_host


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("example.com", "example.com", id="plain"),
        pytest.param("Example.COM", "example.com", id="case-insensitive"),
        pytest.param("example.com:5002", "example.com", id="port-stripped"),
        pytest.param("example.com.", "example.com", id="trailing-dot"),
        pytest.param("example.com.:80", "example.com", id="trailing-dot-and-port"),
        pytest.param("127.0.0.1:5002", "127.0.0.1", id="ipv4-with-port"),
        pytest.param("10.0.0.1.", "10.0.0.1", id="ipv4-trailing-dot"),
        pytest.param("1.2.3", "1.2.3", id="digits-and-dots-not-an-address"),
        pytest.param("0x7f.0.0.1", "0x7f.0.0.1", id="hex-is-a-name"),
        pytest.param("[::1]:8089", "::1", id="ipv6-bracketed-with-port"),
        pytest.param("[2001:DB8:0::1]", "2001:db8::1", id="ipv6-bracketed-canonical"),
        pytest.param("2001:db8:0:0::1", "2001:db8::1", id="ipv6-bare-canonical"),
        pytest.param("", "", id="empty"),
        pytest.param("[::1", "", id="unclosed-bracket"),
        pytest.param("[::1]junk", "", id="junk-after-bracket"),
        pytest.param("[not-an-ip]:80", "", id="bracketed-non-ip"),
        pytest.param("a:b:c", "", id="colons-but-not-ipv6"),
    ],
)
def test_normalize_host(header: str, expected: str) -> None:
    assert normalize_host(header) == expected


SOURCE = StaticTokenSource.of(
    [
        ("Example.com.", "tok-a", "tok-a.thumb"),
        ("2001:DB8::1", "tok-v6", "tok-v6.thumb"),
        ("other.example", "tok-b", "tok-b.thumb"),
    ]
)


@pytest.mark.parametrize(
    ("host", "token", "expected"),
    [
        pytest.param("example.com", "tok-a", "tok-a.thumb", id="match"),
        pytest.param("example.com", "tok-b", None, id="token-of-another-host"),
        pytest.param("other.example", "tok-a", None, id="host-of-another-token"),
        pytest.param("2001:db8::1", "tok-v6", "tok-v6.thumb", id="ipv6-identifier"),
        pytest.param("example.com", "TOK-A", None, id="token-is-case-sensitive"),
        pytest.param("www.example.com", "tok-a", None, id="no-subdomain-match"),
    ],
)
def test_static_source_lookup(host: str, token: str, expected: str | None) -> None:
    assert SOURCE.lookup(host, token) == expected


def test_static_source_drops_unusable_identifiers() -> None:
    assert StaticTokenSource.of([("[bad", "t", "k")]).entries == {}
