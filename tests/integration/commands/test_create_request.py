"""``certmgr create certificaterequest`` against the simulator, as cmctl's: the request
made from a Certificate manifest, the key file, and --fetch-certificate writing the
certificate once an issuer (here: the test, from another thread) signs it."""

from __future__ import annotations

import asyncio
import base64
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.kube.client import KubeClient
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import CERTIFICATEREQUESTS
from certmgr.pki.csr import parse_csr
from certmgr.pki.keys import parse_private_key, public_key_fingerprint

from .conftest import Cluster

CERTIFICATE = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "template", "labels": {"team": "a"}, "annotations": {"note": "x"}},
    "spec": {
        "secretName": "ignored",
        "dnsNames": ["api.example.com"],
        "duration": "24h",
        "usages": ["server auth"],
        "privateKey": {"algorithm": "ECDSA", "size": 384, "encoding": "PKCS8"},
        "issuerRef": {"name": "ca", "kind": "Issuer"},
    },
}


def manifest(tmp_path: Path, *documents: dict[str, Any]) -> str:
    path = tmp_path / "certificate.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def test_a_request_is_created_from_the_manifest(cluster: Cluster, tmp_path: Path) -> None:
    key_file = tmp_path / "my.key"
    result = cluster.cli(
        "create",
        "certificaterequest",
        "my-cr",
        "--from-certificate-file",
        manifest(tmp_path, CERTIFICATE),
        "--output-key-file",
        str(key_file),
    )
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        f"Private key written to file {key_file}",
        "CertificateRequest my-cr has been created in namespace default",
    ]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    stored = cluster.sim.get("cert-manager.io/v1", "CertificateRequest", "my-cr", "default")
    assert stored is not None
    assert stored["metadata"]["labels"] == {"team": "a"}
    assert stored["metadata"]["annotations"] == {"note": "x"}
    spec = stored["spec"]
    assert (spec["issuerRef"]["name"], spec["duration"], spec["usages"]) == (
        "ca",
        "24h0m0s",
        ["server auth"],
    )
    csr = parse_csr(base64.b64decode(spec["request"]))
    assert csr.dns_names == ("api.example.com",)
    key = parse_private_key(key_file.read_bytes())
    assert csr.public_key_fingerprint == public_key_fingerprint(key)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        pytest.param([], "the name of the CertificateRequest to be created", id="no-name"),
        pytest.param(["cr"], "--from-certificate-file", id="no-file"),
        pytest.param(
            ["cr", "--from-certificate-file", "x", "--output-certificate-file", "c.crt"],
            "please set --fetch-certificate flag",
            id="cert-file-without-fetch",
        ),
        pytest.param(
            ["cr", "--from-certificate-file", "x", "--timeout", "soon"],
            "--timeout",
            id="bad-timeout",
        ),
    ],
)
def test_usage_errors(cluster: Cluster, args: list[str], said: str) -> None:
    result = cluster.cli("create", "certificaterequest", *args)
    assert result.code == 2
    assert said in result.err


def test_a_manifest_with_two_objects_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    result = cluster.cli(
        "create",
        "certificaterequest",
        "cr",
        "--from-certificate-file",
        manifest(tmp_path, CERTIFICATE, CERTIFICATE),
    )
    assert result.code == 2
    assert "multiple objects found in manifest file" in result.err


def sign_when_created(kubeconfig: Path, name: str, certificate: bytes) -> threading.Thread:
    """An issuer in another thread: marks the request Ready with ``certificate``."""

    async def sign() -> None:
        async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as client:
            for _ in range(200):
                try:
                    request = await client.get(CERTIFICATEREQUESTS, name, namespace="default")
                except NotFound:
                    await asyncio.sleep(0.05)
                    continue
                request["status"] = {
                    "conditions": [
                        {"type": "Ready", "status": "True", "reason": "Issued", "message": "m"}
                    ],
                    "certificate": base64.b64encode(certificate).decode(),
                }
                await client.update_status(CERTIFICATEREQUESTS, request)
                return

    thread = threading.Thread(target=lambda: asyncio.run(sign()), daemon=True)
    thread.start()
    return thread


def test_fetch_certificate_writes_it_once_signed(cluster: Cluster, tmp_path: Path) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nTUlJ\n-----END CERTIFICATE-----\n"
    signer = sign_when_created(cluster.kubeconfig, "fetched", pem)
    cert_file = tmp_path / "out.crt"
    result = cluster.cli(
        "create",
        "certificaterequest",
        "fetched",
        "--from-certificate-file",
        manifest(tmp_path, CERTIFICATE),
        "--output-key-file",
        str(tmp_path / "k.key"),
        "--fetch-certificate",
        "--output-certificate-file",
        str(cert_file),
        "--timeout",
        "30s",
    )
    signer.join(timeout=30)
    assert result.code == 0, result.err
    assert cert_file.read_bytes() == pem
    assert result.err.splitlines()[-2:] == [
        "CertificateRequest fetched in namespace default has been signed",
        f"Certificate written to file {cert_file}",
    ]
