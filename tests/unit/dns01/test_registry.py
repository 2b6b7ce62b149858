"""Which provider a dns01 block gets, and the reasons when none."""

from __future__ import annotations

from typing import Any
from unittest.mock import Mock

import pytest

from certmgr.dns01.providers import ProviderContext
from certmgr.dns01.registry import Selected, Unsupported, provider_for
from certmgr.dns01.rfc2136 import RFC2136Provider
from certmgr.testing.clock import FakeClock

CONTEXT = ProviderContext(client=Mock(), clock=FakeClock())


@pytest.mark.parametrize(
    ("dns01", "reason"),
    [
        pytest.param({"azureDNS": {}}, "'azureDNS' is not supported", id="azureDNS"),
        pytest.param({"cloudDNS": {}}, "'cloudDNS' is not supported", id="cloudDNS"),
        pytest.param({"digitalocean": {}}, "'digitalocean' is not supported", id="digitalocean"),
        pytest.param({"akamai": {}}, "'akamai' is not supported", id="akamai"),
        pytest.param({"acmeDNS": {}}, "'acmeDNS' is not supported", id="acmeDNS"),
        pytest.param({"cloudflare": {}}, "'cloudflare' is not supported", id="cloudflare"),
        pytest.param({}, "no dns provider config specified", id="none"),
        pytest.param({"cnameStrategy": "Follow"}, "no dns provider config", id="strategy-only"),
        pytest.param(
            {"rfc2136": {"nameserver": "127.0.0.1", "tsigAlgorithm": "HMACSHA3"}},
            "algorithm 'HMACSHA3' is not supported",
            id="rfc2136-bad-algorithm",
        ),
        pytest.param(
            {"rfc2136": {"nameserver": "dns.example.com:53"}},
            "must be an IP address",
            id="rfc2136-hostname",
        ),
        pytest.param({"rfc2136": {}}, "nameserver must be set", id="rfc2136-no-nameserver"),
    ],
)
def test_unusable_dns01_blocks_get_a_reason(dns01: dict[str, Any], reason: str) -> None:
    got = provider_for(dns01, CONTEXT)
    assert isinstance(got, Unsupported)
    assert reason in got.reason


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"nameserver": "127.0.0.1:5353"}, id="host-port"),
        pytest.param({"nameserver": "[::1]:53", "tsigAlgorithm": "hmacsha256"}, id="v6-lower"),
        pytest.param({"nameserver": "::1", "protocol": "TCP"}, id="bare-v6-tcp"),
        pytest.param(
            {
                "nameserver": "10.0.0.1",
                "tsigKeyName": "k",
                "tsigAlgorithm": "HMACSHA512",
                "tsigSecretSecretRef": {"name": "s", "key": "k"},
            },
            id="tsig",
        ),
    ],
)
def test_rfc2136_configs_build(config: dict[str, Any]) -> None:
    got = provider_for({"rfc2136": config}, CONTEXT)
    assert isinstance(got, Selected)
    assert got.name == "rfc2136"
    assert isinstance(got.provider, RFC2136Provider)
