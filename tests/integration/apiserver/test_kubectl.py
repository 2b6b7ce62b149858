"""Contract: kubectl get, create -f, apply -f, delete and get -w work against the server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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
