"""``certmgr check api`` against the simulator: ready once the CRDs are installed (and the
dry-run create stores nothing), cmctl's reason when they are not, and plain
``certmgr check`` still being the migration check next to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr import cli
from certmgr.testing.apiserver import Simulator

from .conftest import Cluster


def test_ready_when_the_crds_are_installed(cluster: Cluster) -> None:
    result = cluster.cli("check", "api", "-n", "default")
    assert (result.code, result.out, result.err) == (0, "The cert-manager API is ready\n", "")
    # dryRun=All: the probe Certificate was admitted but not stored.
    assert cluster.sim.list_objects("cert-manager.io/v1", "Certificate") == []


def test_not_ready_without_crds(
    apiserver: Simulator, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["check", "api", "--wait", "0s", "--kubeconfig", str(kubeconfig)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.startswith(
        "certmgr: error: the cert-manager CRDs are not yet installed on the Kubernetes API "
        "server (NotFound: "
    )


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        pytest.param(["check"], "certmgr.commands.check", id="check-is-the-migration-check"),
        pytest.param(
            ["check", "--service-account", "a/b"], "certmgr.commands.check", id="check-with-flags"
        ),
        pytest.param(["check", "api"], "certmgr.commands.check_api", id="check-api"),
        pytest.param(
            ["check", "api", "--wait", "1m", "--interval", "2s"],
            "certmgr.commands.check_api",
            id="check-api-with-flags",
        ),
    ],
)
def test_check_and_check_api_parse_apart(argv: list[str], module: str) -> None:
    args = cli.build_parser(argv).parse_args(argv)
    assert args._module == module
