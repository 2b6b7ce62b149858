"""kubectl against the simulator: the CRDs install, examples apply, short names resolve,
and a manifest that breaks a webhook rule is refused with the rule's message."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from certmgr.testing.apiserver.server import Simulator

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl binary"),
]

BAD_CERTIFICATE = """
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bad, namespace: default}
spec:
  secretName: bad-tls
  issuerRef: {name: letsencrypt-staging, kind: ClusterIssuer}
  dnsNames: [bad.example.com]
  duration: 24h
  renewBefore: 48h
"""


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with Simulator.in_thread() as sim:
        config = sim.kubeconfig(tmp_path_factory.mktemp("kube") / "config")
        command = ["kubectl", f"--kubeconfig={config}"]
        installed = _run(command, "apply", "-f", "-", stdin=_install_manifests())
        assert installed.returncode == 0, installed.stderr
        yield command


def _run(kubectl: list[str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*kubectl, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def _install_manifests() -> str:
    # The simulator serves no apps/v1; everything else in deploy/ is applied as is.
    built = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy")], capture_output=True, text=True, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(built) if d and d["kind"] != "Deployment"]
    docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    return yaml.safe_dump_all(docs)


def test_examples_apply_and_short_names_resolve(kubectl: list[str]) -> None:
    applied = _run(kubectl, "apply", "-f", str(ROOT / "examples"))
    assert applied.returncode == 0, applied.stderr
    names = _run(kubectl, "get", "cert,ciss,iss", "-A", "-o", "name")
    assert names.returncode == 0, names.stderr
    assert set(names.stdout.split()) == _example_names({"Certificate", "ClusterIssuer", "Issuer"})
    assert "certificate.cert-manager.io/www-example-com" in names.stdout


def _example_names(kinds: set[str]) -> set[str]:
    """`kubectl get -o name` of every object of ``kinds`` that examples/ declares."""
    names = set()
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] in kinds:
                group = doc["apiVersion"].split("/")[0]
                names.add(f"{doc['kind'].lower()}.{group}/{doc['metadata']['name']}")
    return names


def test_webhook_rule_refuses_with_its_message(kubectl: list[str]) -> None:
    refused = _run(kubectl, "apply", "-f", "-", stdin=BAD_CERTIFICATE)
    assert refused.returncode != 0
    assert "renewBefore must be shorter than duration" in refused.stderr
