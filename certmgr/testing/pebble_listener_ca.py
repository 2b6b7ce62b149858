"""The throwaway CA and server certificate for Pebble's own HTTPS listener.

Debian's ``pebble`` package ships no listener certificate, so every harness start makes
a fresh CA and a ``localhost`` / ``127.0.0.1`` server certificate signed by it. Clients
trust the CA through ``PebbleServer.ca_bundle``. This is not the CA that signs issued
certificates (Pebble makes that one itself, see its management interface). Nothing here
is written anywhere but the paths the caller gives.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from certmgr.testing.throwaway_ca import ThrowawayCA

_VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True, slots=True)
class ListenerFiles:
    ca_bundle: Path
    certificate: Path
    private_key: Path


def write_listener_certificates(directory: Path) -> ListenerFiles:
    """Create ``ca.pem``, ``listener.pem`` and ``listener-key.pem`` in ``directory``."""
    ca = ThrowawayCA.create("certmgr Pebble listener CA", validity=_VALIDITY)
    pair = ca.issue("localhost", names=["localhost", "127.0.0.1", "::1"])
    files = ListenerFiles(
        ca_bundle=directory / "ca.pem",
        certificate=directory / "listener.pem",
        private_key=directory / "listener-key.pem",
    )
    files.ca_bundle.write_bytes(ca.pem)
    files.certificate.write_bytes(pair.certificate_pem)
    files.private_key.touch(mode=0o600)
    files.private_key.write_bytes(pair.key_pem)
    return files
