"""TLS from the kubeconfig: CA data or file, client certificates, insecure-skip-tls-verify."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.kube import errors as e
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes


def issue(
    common_name: str, *, issuer: tuple[x509.Certificate, Any] | None = None, ca: bool = False
) -> tuple[x509.Certificate, Any, Pem]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    pem = Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return cert, key, pem


@dataclass(frozen=True)
class Pki:
    ca: Pem
    other_ca: Pem
    client: Pem
    url: str


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[Pki]:
    ca_cert, ca_key, ca = issue("server-ca", ca=True)
    _, _, other_ca = issue("someone-else", ca=True)
    _, _, server = issue("127.0.0.1", issuer=(ca_cert, ca_key))
    client_ca_cert, client_ca_key, client_ca = issue("client-ca", ca=True)
    _, _, client = issue("certmgr-client", issuer=(client_ca_cert, client_ca_key))
    (tmp_path / "server.pem").write_bytes(server.cert)
    (tmp_path / "server.key").write_bytes(server.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    context.load_verify_locations(cadata=client_ca.cert.decode())
    context.verify_mode = ssl.CERT_OPTIONAL

    async def whoami(request: web.Request) -> web.Response:
        assert request.transport is not None
        peer = request.transport.get_extra_info("peercert") or {}
        names = [
            value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"
        ]
        body = {"kind": "Namespace", "metadata": {"name": names[0] if names else "anonymous"}}
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{name}", whoami)
    server_ = TestServer(app, host="127.0.0.1", scheme="https")
    await server_.start_server(ssl=context)
    try:
        yield Pki(
            ca=ca, other_ca=other_ca, client=client, url=str(server_.make_url("")).rstrip("/")
        )
    finally:
        await server_.close()


def kubeconfig(path: Path, *, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("ca-data+client-data", "certmgr-client"),
        ("ca-file+client-files", "certmgr-client"),
        ("ca-data-no-client", "anonymous"),
        ("insecure-skip-verify", "anonymous"),
    ],
    ids=["data", "files", "server-auth-only", "insecure"],
)
async def test_tls_settings_from_kubeconfig(
    tls_server: Pki, tmp_path: Path, setup: str, expected: str
) -> None:
    cluster: dict[str, Any] = {"server": tls_server.url}
    user: dict[str, Any] = {"token": "t"}
    if setup == "ca-data+client-data":
        cluster["certificate-authority-data"] = b64(tls_server.ca.cert)
        user["client-certificate-data"] = b64(tls_server.client.cert)
        user["client-key-data"] = b64(tls_server.client.key)
    elif setup == "ca-file+client-files":
        for name, data in (
            ("ca.pem", tls_server.ca.cert),
            ("c.pem", tls_server.client.cert),
            ("c.key", tls_server.client.key),
        ):
            (tmp_path / name).write_bytes(data)
        cluster["certificate-authority"] = str(tmp_path / "ca.pem")
        user["client-certificate"] = str(tmp_path / "c.pem")
        user["client-key"] = str(tmp_path / "c.key")
    elif setup == "ca-data-no-client":
        cluster["certificate-authority-data"] = b64(tls_server.ca.cert)
    else:
        cluster["insecure-skip-tls-verify"] = True
    path = kubeconfig(tmp_path / "kc", cluster=cluster, user=user)
    async with await KubeClient.connect(kubeconfig=str(path)) as kube:
        who = await kube.get(r.NAMESPACES, "whoami")
    assert who["metadata"]["name"] == expected


async def test_unverifiable_server_is_reported_without_retrying(
    tls_server: Pki, tmp_path: Path
) -> None:
    cluster = {
        "server": tls_server.url,
        "certificate-authority-data": b64(tls_server.other_ca.cert),
    }
    path = kubeconfig(tmp_path / "kc", cluster=cluster, user={"token": "t"})
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with await KubeClient.connect(kubeconfig=str(path), sleep=sleep) as kube:
        with pytest.raises(e.Unreachable, match=r"(?i)certificate"):
            await kube.get(r.NAMESPACES, "whoami")
    assert slept == []
