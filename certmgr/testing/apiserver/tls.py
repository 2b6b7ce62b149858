"""A throwaway CA and a serving certificate for 127.0.0.1, made fresh per simulator.

Owns the simulator's TLS material, so clients verify the server through the normal
kubeconfig ``certificate-authority-data`` path. It must not be used for anything but
the loopback simulator: keys live in memory and a temporary directory.
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from certmgr.testing.throwaway_ca import ThrowawayCA


@dataclass(frozen=True, slots=True)
class ServingCert:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # load_cert_chain reads files only; the directory is removed right after.
        with tempfile.TemporaryDirectory(prefix="certmgr-sim-") as tmp:
            cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert.write_bytes(self.cert_pem + self.ca_pem)
            key.write_bytes(self.key_pem)
            context.load_cert_chain(cert, key)
        return context


def make_serving_cert(host: str = "127.0.0.1") -> ServingCert:
    ca = ThrowawayCA.create("certmgr-simulator-ca", validity=datetime.timedelta(days=7))
    pair = ca.issue("kube-apiserver", names=["localhost", "127.0.0.1", host])
    return ServingCert(ca_pem=ca.pem, cert_pem=pair.certificate_pem, key_pem=pair.key_pem)
