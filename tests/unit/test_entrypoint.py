"""The image's entry point: a solver Pod's args (cert-manager's, no command) run the
solver; everything else is the certmgr command line."""

from __future__ import annotations

import pytest

from certmgr.entrypoint import is_solver


@pytest.mark.parametrize(
    ("argv", "solver"),
    [
        pytest.param(
            ["--listen-port=8089", "--domain=a", "--token=t", "--key=k"], True, id="acmesolver"
        ),
        pytest.param(["--domain", "a", "--token", "t", "--key", "k"], True, id="spaced"),
        pytest.param(["run", "--leader-elect"], False, id="run"),
        pytest.param(["--help"], False, id="help"),
        pytest.param(["--version"], False, id="version"),
        pytest.param([], False, id="nothing"),
    ],
)
def test_is_solver(argv: list[str], solver: bool) -> None:
    assert is_solver(argv) is solver
