"""docs/api.md's field tables name exactly the fields of crds/, so the doc cannot drift.

Each kind's table (``### Certificate`` ... ``### Challenge``; Issuer and ClusterIssuer
share one) has a row per field path of the CRD's schema (``spec.a.b``, list items as
``[]``; map values and list items themselves are not fields of their own), and no row
for a field the CRD lacks. Each row carries a verdict.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.crds.conftest import load_crds, schema_of

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
TABLES = {
    "Certificate": "Certificate",
    "CertificateRequest": "CertificateRequest",
    "Issuer": "Issuer and ClusterIssuer",
    "ClusterIssuer": "Issuer and ClusterIssuer",
    "Order": "Order",
    "Challenge": "Challenge",
}
VERDICTS = ("honoured", "written", "reported", "n/a")
_ROW = re.compile(r"^\| `([^`]+)` \| (.+) \|$")


def field_paths(node: dict[str, Any], path: str = "") -> set[str]:
    out = {path} if path and not path.endswith("[]") else set()
    for name, child in node.get("properties", {}).items():
        if path or name not in ("apiVersion", "kind", "metadata"):
            out |= field_paths(child, f"{path}.{name}" if path else name)
    if "items" in node:
        out |= field_paths(node["items"], f"{path}[]")
    return out


def doc_tables() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in DOC.read_text().splitlines():
        if line.startswith("### "):
            current = tables.setdefault(line[4:].strip(), {})
        elif line.startswith("## "):
            current = None
        elif current is not None and (row := _ROW.match(line)):
            current[row.group(1)] = row.group(2)
    return tables


@pytest.mark.parametrize("kind", list(TABLES))
def test_the_doc_lists_every_field_of_the_crd_and_no_other(kind: str) -> None:
    table = doc_tables()[TABLES[kind]]
    assert set(table) == field_paths(schema_of(load_crds()[kind]))


@pytest.mark.parametrize("title", sorted(set(TABLES.values())))
def test_every_row_has_a_verdict(title: str) -> None:
    rows = doc_tables()[title]
    assert rows
    assert [p for p, text in rows.items() if not text.startswith(VERDICTS)] == []
