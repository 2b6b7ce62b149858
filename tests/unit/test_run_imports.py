"""What ``certmgr run`` imports: nothing that only the tests, the dev tools or other
configurations use (each byte of an import is resident for the process's whole life).

Each case runs a fresh interpreter: the test process itself has imported all of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Top-level packages `certmgr run` must not load; with why they would be there.
NEVER_IMPORTED = {
    "pytest": "the tests",
    "hypothesis": "the tests",
    "moto": "the tests' Route 53",
    "jks": "the tests' JKS reader",
    "celpy": "the simulator's CEL (the 'demo' extra)",
    "importlinter": "make lint",
    "mypy": "make lint",
    "boto3": "Route 53 only, loaded by the first Route 53 solver",
    "botocore": "Route 53 only, loaded by the first Route 53 solver",
    "yaml": "kubeconfig files and the manifests command",
    "pydantic": "the kubernetes package's API client, which certmgr never uses",
    "oauthlib": "the kubernetes package's kubeconfig loader (OIDC)",
    "requests_oauthlib": "the kubernetes package's kubeconfig loader (OIDC)",
    "websocket": "the kubernetes package's exec/attach streams",
    "requests": "the kubernetes package's kubeconfig loader (OIDC), acme.messages (EAB only)",
    "dns": "dnspython: DNS-01 and --http01-self-check-nameserver, loaded by their first use",
    "zoneinfo": "renewal windows in a named time zone, loaded by the first one",
}
# Modules of ours that only other commands or the tests use, or that only some
# configurations use (loaded by their first use).
NEVER_IMPORTED_OURS = (
    "certmgr.testing",
    "certmgr.commands",
    "certmgr.dns01.lookups",
    "certmgr.dns01.rfc2136",
    "certmgr.dns01.route53",
    "certmgr.dns01.webhook",
    "certmgr.controllers.acme.addresslookup",
    "certmgr.pki.jks",  # JKS keystores, loaded by the first Certificate that asks for one
)

PROGRAM = """
import json, os, sys
from certmgr.cli import build_parser
build_parser(["run"])  # what `certmgr run` imports before it runs
# What the Challenge controller builds at start (default flags: no DNS server of its own).
from types import SimpleNamespace
from certmgr.controllers.acme.dns01_solving import DNS01Solving
from certmgr.controllers.acme.selfcheck import SelfCheck
DNS01Solving(SimpleNamespace(client=None, clock=None))
SelfCheck(port=80)
if sys.argv[1] == "in-cluster":
    from certmgr.kube import config
    config.SERVICE_ACCOUNT_DIR = sys.argv[2]
    os.environ.update(KUBERNETES_SERVICE_HOST="10.0.0.1", KUBERNETES_SERVICE_PORT="443")
    os.environ.pop("KUBECONFIG", None)
    connection, _ = config.load()
    assert connection.source == "in-cluster", connection
print(json.dumps(sorted(sys.modules)))
"""


def imported_by_run(*argv: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def unwanted(modules: set[str]) -> list[str]:
    return sorted(
        name
        for name in modules
        if name.partition(".")[0] in NEVER_IMPORTED
        or any(name == ours or name.startswith(f"{ours}.") for ours in NEVER_IMPORTED_OURS)
    )


@pytest.fixture
def service_account(tmp_path: Path) -> Path:
    (tmp_path / "token").write_text("token")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "namespace").write_text("cert-manager\n")
    return tmp_path


@pytest.mark.parametrize("configured", ["imported", "in-cluster"], ids=["imports", "in-cluster"])
def test_run_loads_only_what_running_needs(configured: str, service_account: Path) -> None:
    modules = imported_by_run(configured, str(service_account))
    assert "certmgr.app" in modules
    assert unwanted(modules) == []
    # In a cluster, only the in-cluster loader of the kubernetes package, not the package.
    assert {"kubernetes.config.kube_config", "kubernetes.dynamic", "kubernetes.watch"}.isdisjoint(
        modules
    )
