"""The minimum Kubernetes version: reading ``/version`` as servers and vendors write it,
the one-line refusal, and a MINIMUM that covers every feature crds/*.yaml use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.kube import serverversion
from certmgr.testing.apiserver import discovery

CRDS = Path(__file__).resolve().parents[3] / "crds"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param({"major": "1", "minor": "35", "gitVersion": "v1.35.0"}, (1, 35), id="plain"),
        pytest.param(
            {"major": "1", "minor": "30+", "gitVersion": "v1.30.4-eks-a"}, (1, 30), id="eks"
        ),
        pytest.param(
            {"major": "", "minor": "", "gitVersion": "v1.29.2+k3s1"}, (1, 29), id="git-only"
        ),
        pytest.param({}, None, id="empty"),
        pytest.param({"gitVersion": "unknown"}, None, id="unreadable"),
        pytest.param(discovery.VERSION, (1, 32), id="the-simulator"),
    ],
)
def test_parse(document: dict[str, Any], expected: tuple[int, int] | None) -> None:
    assert serverversion.parse(document) == expected


@pytest.mark.parametrize(
    ("document", "refused"),
    [
        pytest.param({"major": "1", "minor": "27", "gitVersion": "v1.27.16"}, True, id="1.27"),
        pytest.param({"major": "1", "minor": "28", "gitVersion": "v1.28.0"}, False, id="1.28"),
        pytest.param({"major": "2", "minor": "0"}, False, id="2.0"),
        pytest.param({}, False, id="unknown-goes-on"),
        pytest.param(discovery.VERSION, False, id="the-simulator"),
    ],
)
def test_refusal(document: dict[str, Any], refused: bool) -> None:
    line = serverversion.refusal(document)
    assert (line is not None) == refused
    if line is not None:
        assert "\n" not in line
        assert "v1.27.16" in line and "v1.28" in line


def _rule_keys(node: Any) -> set[str]:
    """What the validation rules under ``node`` use: their keys, and ``oldSelf``."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "x-kubernetes-validations":
                found.add(key)
                for rule in value:
                    found |= set(rule)
                    if "oldSelf" in rule.get("rule", ""):
                        found.add("oldSelf")
            else:
                found |= _rule_keys(value)
    elif isinstance(node, list):
        for item in node:
            found |= _rule_keys(item)
    return found


def test_minimum_covers_every_feature_the_crds_use() -> None:
    used: set[str] = set()
    for path in CRDS.glob("*_*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            for version in (doc or {}).get("spec", {}).get("versions", ()):
                used |= _rule_keys(version.get("schema") or {})
    needed = [f for f in serverversion.CRD_FEATURES if f.key in used]
    assert any(f.key == "x-kubernetes-validations" for f in needed)
    assert max(f.since for f in needed) == serverversion.MINIMUM, [(f.key, f.since) for f in needed]
