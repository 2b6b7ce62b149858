"""The JSONPath subset of printer columns and the cells it renders (pure, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.apiserver import tables

CERTIFICATE: dict[str, Any] = {
    "metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"secretName": "web-tls", "dnsNames": ["a.example", "b.example"]},
    "status": {
        "conditions": [
            {"type": "Issuing", "status": "False"},
            {"type": "Ready", "status": "True", "message": "up to date"},
        ]
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(".spec.secretName", ["web-tls"], id="field"),
        pytest.param(".spec.dnsNames[1]", ["b.example"], id="index"),
        pytest.param(".spec.dnsNames[-1]", ["b.example"], id="negative-index"),
        pytest.param(".spec.dnsNames[*]", ["a.example", "b.example"], id="wildcard"),
        pytest.param('.status.conditions[?(@.type=="Ready")].status', ["True"], id="filter"),
        pytest.param("{.spec.secretName}", ["web-tls"], id="braces"),
        pytest.param(".spec.missing", [], id="missing"),
        pytest.param(".spec.dnsNames[5]", [], id="out-of-range"),
    ],
)
def test_evaluate(path: str, expected: list[Any]) -> None:
    assert tables.evaluate(CERTIFICATE, path) == expected


def test_table_renders_cells_and_hides_json_paths() -> None:
    columns = [
        tables.NAME_COLUMN,
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {"name": "Hosts", "type": "string", "jsonPath": ".spec.dnsNames[*]"},
        {"name": "Expiry", "type": "date", "jsonPath": ".status.notAfter"},
    ]
    table = tables.table([CERTIFICATE], columns, resource_version="7")
    assert table["kind"] == "Table"
    assert table["rows"][0]["cells"] == ["web", "True", "a.example,b.example", None]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert all("jsonPath" not in c for c in table["columnDefinitions"])
