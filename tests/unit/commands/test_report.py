"""Rendering the status report (pure): ages, the Secret section's secrecy, soft failures."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from certmgr.commands.chain import Found, IssuanceChain
from certmgr.commands.report import _age, render

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CRT: dict[str, Any] = {
    "kind": "Certificate",
    "metadata": {"name": "web", "namespace": "default", "uid": "u"},
    "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"]},
}
KEY = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nsecret\n").decode()


@pytest.mark.parametrize(
    ("when", "age"),
    [
        pytest.param("2026-03-01T11:59:15Z", "45s", id="seconds"),
        pytest.param("2026-03-01T11:58:01Z", "119s", id="under-two-minutes"),
        pytest.param("2026-03-01T11:58:00Z", "2m", id="two-minutes"),
        pytest.param("2026-03-01T11:30:00Z", "30m", id="minutes"),
        pytest.param("2026-03-01T02:00:00Z", "10h", id="hours"),
        pytest.param("2026-02-20T12:00:00Z", "9d", id="days"),
        pytest.param("2026-03-01T12:00:30Z", "0s", id="future-clock-skew"),
        pytest.param("", "<unknown>", id="no-time"),
    ],
)
def test_age(when: str, age: str) -> None:
    assert _age(when, now=NOW) == age


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"tls.key": KEY}, "  Certificate: 'tls.crt' is not set", id="no-crt"),
        pytest.param(
            {"tls.crt": base64.b64encode(b"garbage").decode(), "tls.key": KEY},
            "  Certificate: cannot parse 'tls.crt': error decoding certificate PEM block: "
            "no certificate found",
            id="bad-crt",
        ),
        pytest.param(
            {"tls.crt": "%%%", "tls.key": KEY},
            "  Certificate: cannot parse 'tls.crt': ",
            id="bad-base64",
        ),
    ],
)
def test_secret_values_are_never_printed(data: dict[str, str], expected: str) -> None:
    secret = {
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "web-tls"},
        "data": data,
    }

    out = render(IssuanceChain(certificate=CRT, secret=Found(secret)), now=NOW)

    assert any(line.startswith(expected) for line in out.splitlines())
    assert f"  Keys: {', '.join(sorted(data))}\n" in out
    assert KEY not in out and "secret" not in out.replace("Secret", "")


def test_missing_pieces_each_get_one_line() -> None:
    chain = IssuanceChain(
        certificate=CRT,
        issuer=Found(note="error when getting Issuer 'x' in namespace default: NotFound: gone"),
        secret=Found(note="error when getting Secret 'web-tls' in namespace default: NotFound"),
        request=Found(note="No CertificateRequest found for this Certificate"),
    )

    out = render(chain, now=NOW)

    assert "Issuer: error when getting Issuer 'x' in namespace default: NotFound: gone\n" in out
    assert "Secret: web-tls: error when getting Secret" in out
    assert "CertificateRequest: No CertificateRequest found for this Certificate\n" in out
    assert "Order" not in out and "Challenges" not in out  # not looked for: not mentioned
    assert "Events: <none>\n" in out


@pytest.mark.parametrize(
    ("ari", "expected"),
    [
        pytest.param({}, [], id="no-ari"),
        pytest.param(
            {
                "suggestedWindow": {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"},
                "explanationURL": "https://ca.example/why",
                "lastChecked": "2026-03-01T11:00:00Z",
                "nextCheck": "2026-03-01T17:00:00Z",
            },
            [
                "Renewal Window (ACME Renewal Information): "
                "2026-03-02T00:00:00Z - 2026-03-03T00:00:00Z",
                "  Explanation: https://ca.example/why",
                "  Last Checked: 2026-03-01T11:00:00Z, Next Check: 2026-03-01T17:00:00Z",
            ],
            id="window",
        ),
        pytest.param(
            {"lastChecked": "2026-03-01T11:00:00Z", "lastError": "500 oops"},
            [
                "Renewal Window (ACME Renewal Information): <none>",
                "  Last Checked: 2026-03-01T11:00:00Z, Next Check: <none>",
                "  Last Error: 500 oops",
            ],
            id="error",
        ),
    ],
)
def test_renewal_window(ari: dict[str, Any], expected: list[str]) -> None:
    crt = {**CRT, "status": {"acme": {"ari": ari}} if ari else {}}
    lines = render(IssuanceChain(certificate=crt), now=NOW).splitlines()
    prefixes = ("Renewal Window", "  Explanation:", "  Last Checked:", "  Last Error:")
    shown = [line for line in lines if line.startswith(prefixes)]
    assert shown == expected
