"""The proxy choice and Link header reading the transport took from ``requests.utils``:
the same answers for the same environment and headers, without importing requests."""

from __future__ import annotations

import pytest
import requests.utils

from certmgr.acme.parsing import parse_link_header
from certmgr.acme.proxies import environment_proxies, select_proxy

VARIABLES = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
    "ALL_PROXY", "all_proxy", "REQUEST_METHOD",
)  # fmt: skip
URLS = (
    "https://acme.example.com/directory",
    "https://acme.example.com:14000/dir",
    "http://badexample.com/",
    "https://10.1.2.3/dir",
    "https://10.1.2.3:8443/dir",
    "https://192.168.7.9/",
    "https://127.0.0.1:14000/dir",
    "https://[::1]:14000/dir",
    "https://localhost/dir",
    "file:///etc/hosts",
)
ENVIRONMENTS = {
    "none": {},
    "https-only": {"HTTPS_PROXY": "http://proxy:3128"},
    "lowercase-wins": {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"},
    "all-proxy": {"ALL_PROXY": "http://all:3128", "HTTP_PROXY": "http://plain:8080"},
    "no-proxy-suffix": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"},
    "no-proxy-dot-suffix": {"HTTPS_PROXY": "http://p:1", "no_proxy": ".example.com, localhost"},
    "no-proxy-host-port": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "acme.example.com:14000"},
    "no-proxy-domain-port": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com:14000"},
    "no-proxy-not-a-label": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ample.com,calhost"},
    "no-proxy-ip": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.1.2.3"},
    "no-proxy-cidr": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8,192.168.0.0/16"},
    "no-proxy-bad-cidr": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/40,10.0.0.0/x"},
    "no-proxy-star": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"},
    "no-proxy-ipv6": {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "::1"},
    "cgi": {"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"},
}


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("environment", ENVIRONMENTS.values(), ids=list(ENVIRONMENTS))
def test_proxies_are_requests_own(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str
) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    expected = requests.utils.get_environ_proxies(url, no_proxy=None)
    proxies = environment_proxies(url)
    assert proxies == expected
    assert select_proxy(url, proxies) == requests.utils.select_proxy(url, expected)


@pytest.mark.parametrize(
    "proxies",
    [
        {},
        {"https": "http://s:1", "all": "http://a:1"},
        {"all://acme.example.com": "http://h:1", "all": "http://a:1"},
        {"https://acme.example.com": "http://sh:1", "https": "http://s:1"},
    ],
    ids=["none", "scheme-before-all", "host-before-all", "scheme-and-host-first"],
)
@pytest.mark.parametrize("url", ["https://acme.example.com/dir", "https:///no-host"])
def test_the_most_specific_proxy_is_chosen(proxies: dict[str, str], url: str) -> None:
    assert select_proxy(url, proxies) == requests.utils.select_proxy(url, proxies)


@pytest.mark.parametrize(
    "header",
    [
        '<https://ca.example/acme/issuer-cert>;rel="up"',
        '<https://ca.example/directory>; rel="index"',
        '<https://ca.example/cert/1>;rel="alternate", <https://ca.example/cert/2>;rel="alternate"',
        "<https://ca.example/a,b>;rel=up",
        '<https://ca.example/x>; rel="up"; title="a=b"; type="text"',
        '<https://ca.example/x>; rel="up"; novalue; type="text"',
        "<https://ca.example/no-params>",
        "'<https://ca.example/q>;rel=\"up\"'",
        "",
        "   ",
    ],
    ids=[
        "up", "index-spaced", "two-alternates", "comma-in-url", "equals-in-value",
        "param-without-value", "no-params", "quoted-whole", "empty", "blank",
    ],
)  # fmt: skip
def test_link_headers_read_as_requests_reads_them(header: str) -> None:
    assert parse_link_header(header) == requests.utils.parse_header_links(header)
