"""Contract: kubectl get, create -f, apply -f, delete and get -w work against the server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster

KUBECTL = shutil.which("kubectl")
CRD_DIR = Path(__file__).resolve().parents[3] / "crds"

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]


def kubectl(
    kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def configmap(namespace: str, value: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": namespace},
            "data": {"key": value},
        }
    )


async def test_get_create_apply_delete_builtin(cluster_kubeconfig: Path, namespace: str) -> None:
    created = kubectl(cluster_kubeconfig, "create", "-f", "-", stdin=configmap(namespace, "1"))
    assert created.returncode == 0, created.stderr
    applied = kubectl(cluster_kubeconfig, "apply", "-f", "-", stdin=configmap(namespace, "2"))
    assert applied.returncode == 0, applied.stderr
    again = kubectl(cluster_kubeconfig, "apply", "-f", "-", stdin=configmap(namespace, "3"))
    assert again.returncode == 0, again.stderr
    got = kubectl(
        cluster_kubeconfig, "get", "-n", namespace, "cm", "cm", "-o", "jsonpath={.data.key}"
    )
    assert (got.returncode, got.stdout) == (0, "3")
    listed = kubectl(cluster_kubeconfig, "get", "-n", namespace, "configmaps")
    assert "cm" in listed.stdout
    deleted = kubectl(cluster_kubeconfig, "delete", "-n", namespace, "configmap", "cm")
    assert deleted.returncode == 0, deleted.stderr
    missing = kubectl(cluster_kubeconfig, "get", "-n", namespace, "cm", "cm")
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr


async def test_crds_and_custom_resources(cluster_kubeconfig: Path, namespace: str) -> None:
    installed = kubectl(
        cluster_kubeconfig, "apply", "-f", str(CRD_DIR / "cert-manager.io_certificates.yaml")
    )
    assert installed.returncode == 0, installed.stderr
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"secretName": "web-tls", "dnsNames": ["a.example"], "issuerRef": {"name": "le"}},
    }
    applied = kubectl(cluster_kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(certificate))
    assert applied.returncode == 0, applied.stderr
    certificate["spec"]["dnsNames"] = ["b.example"]  # type: ignore[index]
    reapplied = kubectl(cluster_kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(certificate))
    assert reapplied.returncode == 0, reapplied.stderr
    short = kubectl(
        cluster_kubeconfig,
        "get",
        "-n",
        namespace,
        "cert",
        "web",
        "-o",
        "jsonpath={.spec.dnsNames[0]}",
    )
    assert (short.returncode, short.stdout) == (0, "b.example")
    certificate["spec"]["dnsNames"] = []  # type: ignore[index]
    rejected = kubectl(cluster_kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(certificate))
    assert rejected.returncode != 0
    assert "invalid" in rejected.stderr.lower()


async def test_get_watch_prints_changes(
    cluster_kubeconfig: Path, cluster: Cluster, namespace: str
) -> None:
    assert KUBECTL is not None
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("POST", base, body={"metadata": {"name": "listed"}})
    args = ["get", "-n", namespace, "configmaps", "-w", "-o", "name"]
    process = await asyncio.create_subprocess_exec(
        KUBECTL,
        "--kubeconfig",
        str(cluster_kubeconfig),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None

        async def line_naming(name: bytes) -> str:
            assert process.stdout is not None
            async with asyncio.timeout(30):
                while name not in (line := await process.stdout.readline()):
                    assert line, "kubectl exited before printing the object"
            return line.decode().strip()

        # The list comes first; what follows can only come from the watch.
        assert await line_naming(b"listed") == "configmap/listed"
        await cluster.request("POST", base, body={"metadata": {"name": "watched"}})
        assert await line_naming(b"watched") == "configmap/watched"
    finally:
        process.kill()
        await process.wait()


async def test_get_prints_a_crds_printer_columns(cluster_kubeconfig: Path, namespace: str) -> None:
    installed = kubectl(
        cluster_kubeconfig, "apply", "-f", str(CRD_DIR / "cert-manager.io_certificates.yaml")
    )
    assert installed.returncode == 0, installed.stderr
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "shown", "namespace": namespace},
        "spec": {"secretName": "shown-tls", "dnsNames": ["a.example"], "issuerRef": {"name": "le"}},
    }
    assert (
        kubectl(
            cluster_kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(certificate)
        ).returncode
        == 0
    )
    printed = kubectl(cluster_kubeconfig, "get", "-n", namespace, "certificates")
    assert printed.returncode == 0, printed.stderr
    header, row = printed.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "READY", "SECRET", "ISSUER", "EXPIRATION", "AGE"]
    # No status yet: READY and EXPIRATION are empty cells.
    assert row.split()[:3] == ["shown", "shown-tls", "le"]


async def test_wait_for_a_condition(
    cluster_kubeconfig: Path, cluster: Cluster, namespace: str
) -> None:
    assert KUBECTL is not None
    kubectl(cluster_kubeconfig, "apply", "-f", str(CRD_DIR / "cert-manager.io_certificates.yaml"))
    base = f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates"
    body = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "awaited"},
        "spec": {
            "secretName": "awaited-tls",
            "dnsNames": ["a.example"],
            "issuerRef": {"name": "le"},
        },
    }
    assert (await cluster.request("POST", base, body=body)).status == 201
    process = await asyncio.create_subprocess_exec(
        KUBECTL,
        "--kubeconfig",
        str(cluster_kubeconfig),
        "-n",
        namespace,
        "wait",
        "--for=condition=Ready",
        "certificate/awaited",
        "--timeout=30s",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",
        "message": "ok",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    patched = await cluster.request(
        "PATCH",
        f"{base}/awaited/status",
        body={"status": {"conditions": [ready]}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status == 200, patched.body
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert b"condition met" in stdout


async def test_kubectl_default_validation_refuses_an_unknown_field(
    cluster_kubeconfig: Path, namespace: str
) -> None:
    document = yaml.safe_load(configmap(namespace, "1"))
    document["metadata"]["labelz"] = {"a": "b"}
    refused = kubectl(cluster_kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(document))
    assert refused.returncode != 0
    assert 'strict decoding error: unknown field "metadata.labelz"' in refused.stderr
    warned = kubectl(
        cluster_kubeconfig, "apply", "--validate=warn", "-f", "-", stdin=yaml.safe_dump(document)
    )
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "metadata.labelz"' in warned.stderr


async def test_kubectl_server_dry_run(cluster_kubeconfig: Path, namespace: str) -> None:
    for side in ("--server-side=false", "--server-side"):
        dry = kubectl(
            cluster_kubeconfig,
            "apply",
            side,
            "--dry-run=server",
            "-f",
            "-",
            stdin=configmap(namespace, "1"),
        )
        assert dry.returncode == 0, dry.stderr
        assert "(server dry run)" in dry.stdout
    missing = kubectl(cluster_kubeconfig, "get", "-n", namespace, "cm", "cm")
    assert "NotFound" in missing.stderr


DEPLOY_DIR = CRD_DIR.parent / "deploy"


def _without_field_ref_api_version(manifest: str) -> str:
    docs = list(yaml.safe_load_all(manifest))
    for doc in docs:
        if doc and doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for env in container.get("env") or []:
                    (env.get("valueFrom") or {}).get("fieldRef", {}).pop("apiVersion", None)
    return yaml.safe_dump_all(docs)


def test_deploy_applies_client_side_then_server_side(sim: Simulator, tmp_path: Path) -> None:
    """kubectl apply -k deploy/ then --server-side, as a new user would on a real cluster."""
    config = sim.kubeconfig(tmp_path / "kubeconfig")
    client_side = kubectl(config, "apply", "-k", str(DEPLOY_DIR))
    assert client_side.returncode == 0, client_side.stderr
    server_side = kubectl(config, "apply", "--server-side", "-k", str(DEPLOY_DIR))
    assert server_side.returncode == 0, server_side.stderr
    assert "serverside-applied" in server_side.stdout


def test_server_side_apply_conflicts_when_the_manifest_omits_a_defaulted_field(
    sim: Simulator, tmp_path: Path
) -> None:
    config = sim.kubeconfig(tmp_path / "kubeconfig")
    built = kubectl(config, "kustomize", str(DEPLOY_DIR)).stdout
    manifest = _without_field_ref_api_version(built)
    assert kubectl(config, "apply", "-f", "-", stdin=manifest).returncode == 0
    server_side = kubectl(config, "apply", "--server-side", "-f", "-", stdin=manifest)
    assert server_side.returncode != 0
    refs = manifest.count("fieldRef:")
    assert refs >= 2
    assert (
        f'Apply failed with {refs} conflicts: conflicts with "kubectl-client-side-apply" using '
        "apps/v1:" in server_side.stderr
    )
    assert (
        '- .spec.template.spec.containers[name="controller"].env[name="POD_NAME"]'
        ".valueFrom.fieldRef" in server_side.stderr
    )
