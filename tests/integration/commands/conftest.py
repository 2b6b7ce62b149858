"""A simulator with cert-manager's CRDs, helpers to seed objects (status included, through
the status subresource as a controller would write it) and to run the CLI in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from certmgr import cli
from certmgr.kube.client import KubeClient
from certmgr.kube.resources import ALL, Resource
from certmgr.testing.apiserver import Simulator

CRDS = Path(__file__).resolve().parents[3] / "crds"


def resource_of(obj: dict[str, Any]) -> Resource:
    return next(r for r in ALL if r.api_version == obj["apiVersion"] and r.kind == obj["kind"])


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Cluster:
    sim: Simulator
    kubeconfig: Path
    capsys: pytest.CaptureFixture[str]

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj``; its ``status`` (if any) is then written through /status."""
        return asyncio.run(self._create(obj))

    async def _create(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = resource_of(obj)
        body = {k: v for k, v in obj.items() if k != "status"}
        async with await KubeClient.connect(kubeconfig=str(self.kubeconfig)) as client:
            created = await client.create(resource, body)
            if "status" in obj:
                created = await client.update_status(resource, {**created, "status": obj["status"]})
        return created

    def get(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        stored = self.sim.get(
            obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace", "")
        )
        assert stored is not None
        return stored

    def cli(self, *args: str) -> Result:
        self.capsys.readouterr()  # only this command's output
        code = cli.main([*args, "--kubeconfig", str(self.kubeconfig)])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def cluster(apiserver: Simulator, kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> Cluster:
    apiserver.install_crds([CRDS])
    return Cluster(apiserver, kubeconfig, capsys)


def certificate(
    name: str,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    conditions: Sequence[dict[str, Any]] = (),
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "secretName": f"{name}-tls",
            "dnsNames": [f"{name}.example.com"],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        },
    }
    if conditions or status:
        obj["status"] = {**(status or {}), "conditions": list(conditions)}
    return obj


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
