"""``certmgr inspect secret NAME``: reads the Secret and this computer's trust roots, prints
``inspect_secret``'s report. Owns the I/O only; it must not format anything itself."""

from __future__ import annotations

import argparse
import base64
import ssl
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from certmgr.commands.connecting import (
    add_connection_flags,
    connect,
    describe_error,
    run_command,
    target_namespace,
)
from certmgr.commands.inspect_secret import InspectError, SecretData, describe
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import SECRETS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "example: certmgr inspect secret my-crt --namespace my-namespace"
    parser.add_argument("name", metavar="NAME", help="the Secret (kubernetes.io/tls)")
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with connect(args) as client:
            namespace = target_namespace(args, client)
            try:
                secret = await client.get(SECRETS, args.name, namespace=namespace)
            except NotFound as exc:
                print(
                    f'certmgr: error: error when finding Secret "{args.name}": '
                    f"{describe_error(exc)}",
                    file=sys.stderr,
                )
                return 1
        data = secret.get("data") or {}
        try:
            report = describe(
                SecretData(
                    tls_crt=_decoded(data, "tls.crt"),
                    tls_key=_decoded(data, "tls.key"),
                    ca_crt=_decoded(data, "ca.crt"),
                ),
                now=datetime.now(UTC),
                system_roots=system_roots(),
            )
        except InspectError as exc:
            print(f"certmgr: error: {exc}", file=sys.stderr)
            return 1
        sys.stdout.write(report)
        return 0

    return run_command(main, log_level=args.log_level)


def system_roots() -> list[x509.Certificate]:
    """The roots OpenSSL trusts by default here (the bundle file; none when unreadable)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if not candidate:
            continue
        try:
            with warnings.catch_warnings():  # some distro roots have non-positive serials
                warnings.simplefilter("ignore")
                return x509.load_pem_x509_certificates(Path(candidate).read_bytes())
        except (OSError, ValueError):
            continue
    return []


def _decoded(data: dict[str, str], key: str) -> bytes | None:
    value = data.get(key)
    return base64.b64decode(value) if value else None
