"""TLS termination for the router: one SSL context per Secret, chosen by SNI.

Owns turning a ``kubernetes.io/tls`` Secret (``tls.crt`` chain, ``tls.key``) into an
``ssl.SSLContext`` (cached by the Secret's resourceVersion), the fallback certificate
served for names no Ingress covers (ingress-nginx's "Fake Certificate"), and the server
context whose SNI callback swaps in the right one. The ``ssl`` module only loads PEM
from files, so PEMs are written to a private temporary directory removed on ``close``.
It must not decide which Secret serves which name (that is ``routing``).
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

FAKE_CERTIFICATE_NAME = "Kubernetes Ingress Controller Fake Certificate"
ContextChooser = Callable[[str], ssl.SSLContext | None]
_log = structlog.get_logger("dataplane")


class SecretContexts:
    """SSL contexts built from TLS Secrets, plus the default one."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="certmgr-dataplane-tls-"))
        os.chmod(self._dir, 0o700)
        self._cache: dict[tuple[str, str], tuple[str, ssl.SSLContext | None]] = {}
        self._serial = 0
        cert_pem, key_pem = _self_signed(FAKE_CERTIFICATE_NAME)
        self.default = self._load(cert_pem, key_pem)

    def for_secret(self, secret: dict[str, Any]) -> ssl.SSLContext | None:
        """The context for a TLS Secret, or ``None`` when it holds no usable pair."""
        meta = secret.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        version = str(meta.get("resourceVersion") or "")
        cached = self._cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        data = secret.get("data") or {}
        try:
            cert_pem = base64.b64decode(data.get("tls.crt") or "")
            key_pem = base64.b64decode(data.get("tls.key") or "")
            context = self._load(cert_pem, key_pem) if cert_pem and key_pem else None
        except (ValueError, ssl.SSLError) as exc:
            # A half-written or foreign Secret must not take the listener down; nginx
            # too falls back to its default certificate.
            _log.info("dataplane_tls_secret_unusable", secret="/".join(key), error=str(exc))
            context = None
        self._cache[key] = (version, context)
        return context

    def server_context(self, choose: ContextChooser) -> ssl.SSLContext:
        """A listening context that asks ``choose(server_name)`` on every handshake."""
        server = self._new_context()
        server.load_cert_chain(*self._paths("default"))

        def on_sni(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
            sock.context = (choose(name) if name else None) or self.default

        server.sni_callback = on_sni
        return server

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def _load(self, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        self._serial += 1
        name = "default" if self._serial == 1 else str(self._serial)
        cert_path, key_path = self._paths(name)
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(key_pem)
        context = self._new_context()
        try:
            context.load_cert_chain(cert_path, key_path)
        finally:
            if name != "default":
                cert_path.unlink()
                key_path.unlink()
        return context

    def _paths(self, name: str) -> tuple[Path, Path]:
        return self._dir / f"{name}.crt", self._dir / f"{name}.key"

    @staticmethod
    def _new_context() -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def _self_signed(common_name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
