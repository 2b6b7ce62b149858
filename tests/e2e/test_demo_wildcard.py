"""`certmgr dev demo --wildcard`: a wildcard Certificate through BIND, as the demo prints it."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.testing.dev_demo import wildcard_demo


@pytest.mark.slow
async def test_the_wildcard_demo_issues_and_cleans_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await wildcard_demo(tmp_path / "demo", ready_within=60) == 0
    out = capsys.readouterr().out
    assert "Certificate default/wildcard-example-test: Ready" in out
    assert "SANs        *.example.test, example.test" in out
    assert "TXT records left at _acme-challenge.example.test: 0" in out
