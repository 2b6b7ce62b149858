"""The simulator's own Python API: helpers tests use, the thread runner, the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster, eventually

CRD_DIR = Path(__file__).resolve().parents[3] / "crds"


def test_install_crds_serves_every_cert_manager_kind(apiserver: Simulator) -> None:
    apiserver.install_crds([CRD_DIR])
    kinds = {(r.group, r.kind) for r in apiserver.store.catalogue}
    assert {
        ("cert-manager.io", "Certificate"),
        ("cert-manager.io", "CertificateRequest"),
        ("cert-manager.io", "Issuer"),
        ("cert-manager.io", "ClusterIssuer"),
        ("acme.cert-manager.io", "Order"),
        ("acme.cert-manager.io", "Challenge"),
    } <= kinds


def test_apply_manifests_creates_then_replaces(apiserver: Simulator, tmp_path: Path) -> None:
    manifest = tmp_path / "install.yaml"
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
    ]
    manifest.write_text(yaml.safe_dump_all(docs))
    apiserver.apply_manifests([manifest])
    first = apiserver.get("v1", "ConfigMap", "c", "x")
    assert first is not None
    docs[0]["data"] = {"k": "v"}
    manifest.write_text(yaml.safe_dump_all(docs))
    apiserver.apply_manifests([manifest])
    second = apiserver.get("v1", "ConfigMap", "c", "x")
    assert second is not None
    assert second["data"] == {"k": "v"}
    assert second["metadata"]["uid"] == first["metadata"]["uid"]


async def test_simulator_runs_on_the_callers_loop(tmp_path: Path) -> None:
    async with Simulator() as sim:
        sim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "here"}})
        async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "kc")) as admin:
            reply = await admin.request("GET", "/api/v1/namespaces/default/configmaps/here")
        assert reply.status == 200


@pytest.mark.slow
async def test_dev_cluster_command_writes_a_working_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "certmgr",
        "dev",
        "cluster",
        "--kubeconfig",
        str(kubeconfig),
        "--crds",
        str(CRD_DIR),
        "--apply",
        str(CRD_DIR.parent / "deploy"),
        "--service-account",
        "certmgr/certmgr",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def written() -> bool:
            return kubeconfig.exists() and kubeconfig.stat().st_size > 0

        await eventually(written, within=30)
        async with Cluster.from_kubeconfig(kubeconfig) as admin:
            reply = await admin.request("GET", "/apis/cert-manager.io/v1/certificates")
        assert reply.status == 200
        # Written before the admin kubeconfig, so it exists by now.
        account = kubeconfig.with_name("kubeconfig.certmgr.certmgr")
        async with Cluster.from_kubeconfig(account) as controller:
            allowed = await controller.request("GET", "/apis/cert-manager.io/v1/certificates")
            denied = await controller.request("DELETE", "/api/v1/namespaces/default")
        assert (allowed.status, denied.status) == (200, 403)
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


DEPLOY_DIR = CRD_DIR.parent / "deploy"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        pytest.param("GET", "/apis/cert-manager.io/v1/certificates", True, id="list-certificates"),
        pytest.param("GET", "/api/v1/namespaces/default/secrets", True, id="list-secrets"),
        pytest.param("DELETE", "/api/v1/namespaces/default", False, id="no-namespace-delete"),
        pytest.param("GET", "/apis/cert-manager.io/v1/issuers", True, id="list-issuers"),
    ],
)
async def test_deploy_manifests_give_the_service_account_its_rbac(
    apiserver: Simulator, tmp_path: Path, method: str, path: str, allowed: bool
) -> None:
    apiserver.apply_manifests([CRD_DIR, DEPLOY_DIR])
    token = apiserver.service_account_token("certmgr", "certmgr")
    async with Cluster.from_kubeconfig(apiserver.kubeconfig(tmp_path / "kc", token=token)) as sa:
        reply = await sa.request(method, path)
    assert (reply.status != 403) is allowed, reply.body


def test_apply_many_seeds_a_store_in_one_call(apiserver: Simulator) -> None:
    secrets = (
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"s-{i}"},
            "data": {"k": "dg=="},
        }
        for i in range(500)
    )
    assert apiserver.apply_many(secrets) == 500
    stored = apiserver.get("v1", "Secret", "s-499", "default")
    assert stored is not None
    assert stored["data"] == {"k": "dg=="}
