"""``certmgr create certificaterequest``: a CertificateRequest made from a Certificate
manifest with a key generated here, as ``cmctl create certificaterequest`` does.

Owns the flags (one name, ``--from-certificate-file``, ``--output-key-file``,
``--output-certificate-file``, ``--fetch-certificate``, ``--timeout``) with cmctl's checks
and messages (on stderr), reading the one Certificate of the manifest, the private key
(its ``spec.privateKey``; written to ``<name>.key``, mode 0600), the request (CSR, spec,
the Certificate's labels and annotations) and, with ``--fetch-certificate``, waiting for
it to be signed and writing ``status.certificate`` to ``<name>.crt``. It must not sign
anything itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time
from pathlib import Path
from typing import Any, Final, TextIO

import yaml

from certmgr.api.conditions import READY, get_condition
from certmgr.api.durations import parse_go_duration
from certmgr.commands.connecting import (
    add_connection_flags,
    connect,
    run_command,
    target_namespace,
)
from certmgr.controllers.certificates.requestmanager import request_spec
from certmgr.controllers.certificates.spec import CertificateView, requirements_of
from certmgr.errors import UsageError
from certmgr.kube.errors import APIError
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import CERTIFICATEREQUESTS
from certmgr.pki.csr import build_csr
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import encode_private_key, generate_private_key_for_spec

POLL_SECONDS: Final = 1.0  # cmctl's


class CommandFailed(Exception):
    """One line on stderr, exit 1."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples: certmgr create certificaterequest my-cr --from-certificate-file "
        "my-certificate.yaml; ... --fetch-certificate --timeout 20m"
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="the CertificateRequest's name")
    parser.add_argument(
        "--from-certificate-file",
        default="",
        help="path to a file containing a Certificate resource used as a template",
    )
    parser.add_argument(
        "--output-key-file", default="", help="file the generated private key is written to"
    )
    parser.add_argument(
        "--output-certificate-file", default="", help="file the certificate is written to"
    )
    parser.add_argument(
        "--fetch-certificate",
        action="store_true",
        help="wait for the CertificateRequest to be signed and write the certificate to a file",
    )
    parser.add_argument(
        "--timeout",
        default="5m",
        help="how long to wait for the signature, with a unit, e.g. 10m or 1h (default: 5m)",
    )
    add_connection_flags(parser)


def validate(args: argparse.Namespace) -> float:
    """cmctl's checks; the timeout in seconds."""
    if not args.names:
        raise UsageError(
            "the name of the CertificateRequest to be created has to be provided as argument"
        )
    if len(args.names) > 1:
        raise UsageError("only one argument can be passed in: the name of the CertificateRequest")
    if not args.from_certificate_file:
        raise UsageError(
            "the path to a YAML manifest of a Certificate resource cannot be empty, please "
            "specify by using --from-certificate-file flag"
        )
    if args.output_key_file and args.output_key_file == args.output_certificate_file:
        raise UsageError(
            "the file to store private key cannot be the same as the file to store certificate"
        )
    if not args.fetch_certificate and args.output_certificate_file:
        raise UsageError(
            "cannot specify file to store certificate if not waiting for and fetching "
            "certificate, please set --fetch-certificate flag"
        )
    try:
        return parse_go_duration(args.timeout).total_seconds()
    except ValueError as exc:
        raise UsageError(f"invalid --timeout {args.timeout!r}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    timeout = validate(args)
    certificate = read_certificate(Path(args.from_certificate_file))

    async def main() -> int:
        async with connect(args) as client:
            namespace = certificate_namespace(certificate, args.namespace) or target_namespace(
                args, client
            )
            try:
                await create(
                    client,
                    certificate,
                    name=args.names[0],
                    namespace=namespace,
                    key_file=args.output_key_file or f"{args.names[0]}.key",
                    certificate_file=(
                        (args.output_certificate_file or f"{args.names[0]}.crt")
                        if args.fetch_certificate
                        else None
                    ),
                    wait_seconds=timeout,
                )
            except CommandFailed as exc:
                print(f"certmgr: error: {exc}", file=sys.stderr)
                return 1
            return 0

    return run_command(main, log_level=args.log_level)


def read_certificate(path: Path) -> dict[str, Any]:
    """The one v1 Certificate of a manifest file; `UsageError` otherwise."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read {str(path)!r}: {exc}") from None
    if not documents:
        raise UsageError(
            f'no objects found in manifest file "{path}". Expected one Certificate object'
        )
    if len(documents) > 1:
        raise UsageError(
            f'multiple objects found in manifest file "{path}". Expected only one Certificate '
            "object"
        )
    (certificate,) = documents
    if (
        not isinstance(certificate, dict)
        or certificate.get("apiVersion") != "cert-manager.io/v1"
        or certificate.get("kind") != "Certificate"
    ):
        raise UsageError("decoded object is not a v1 Certificate")
    return certificate


def certificate_namespace(certificate: dict[str, Any], flag: str | None) -> str:
    """The manifest's namespace; a different ``--namespace`` is refused, as kubectl does."""
    written = str((certificate.get("metadata") or {}).get("namespace") or "")
    if written and flag and written != flag:
        raise UsageError(
            f'the namespace from the provided object "{written}" does not match the '
            f"namespace \"{flag}\". You must pass '--namespace={written}' to perform this "
            "operation."
        )
    return written


async def create(
    client: KubeAPI,
    certificate: dict[str, Any],
    *,
    name: str,
    namespace: str,
    key_file: str,
    certificate_file: str | None,
    wait_seconds: float,
    err: TextIO | None = None,
) -> None:
    err = err or sys.stderr
    metadata = dict(certificate.get("metadata") or {})
    view = CertificateView.of({**certificate, "metadata": {"name": name, **metadata}})
    if view.spec is None:
        raise CommandFailed(f"error when building CertificateRequest: {view.spec_error}")
    requirements = requirements_of(view.spec)
    try:
        key = await asyncio.to_thread(generate_private_key_for_spec, requirements.key_spec)
        key_pem = encode_private_key(key, encoding=requirements.key_spec.encoding)
        csr = build_csr(key, requirements)
    except PKIError as exc:
        raise CommandFailed(
            f"error when generating new private key for CertificateRequest: {exc}"
        ) from None
    _write(Path(key_file), key_pem, mode=0o600)
    print(f"Private key written to file {key_file}", file=err)
    body = {
        "apiVersion": CERTIFICATEREQUESTS.api_version,
        "kind": CERTIFICATEREQUESTS.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": dict(metadata.get("annotations") or {}),
            "labels": dict(metadata.get("labels") or {}),
        },
        "spec": request_spec(view, csr),
    }
    try:
        created = await client.create(CERTIFICATEREQUESTS, body, namespace=namespace)
    except APIError as exc:
        raise CommandFailed(f"error creating CertificateRequest: {exc.message}") from None
    print(f"CertificateRequest {name} has been created in namespace {namespace}", file=err)
    if certificate_file is None:
        return
    print(
        f"CertificateRequest {name} in namespace {namespace} has not been signed yet. "
        "Wait until it is signed...",
        file=err,
    )
    signed = await _wait_signed(client, created, wait_seconds=wait_seconds)
    print(f"CertificateRequest {name} in namespace {namespace} has been signed", file=err)
    _write(Path(certificate_file), base64.b64decode(signed["status"]["certificate"]))
    print(f"Certificate written to file {certificate_file}", file=err)


async def _wait_signed(client: KubeAPI, request: dict[str, Any], *, wait_seconds: float) -> Any:
    meta = request["metadata"]
    deadline = time.monotonic() + wait_seconds
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            request = await client.get(
                CERTIFICATEREQUESTS, meta["name"], namespace=meta["namespace"]
            )
        except APIError:
            request = {}  # cmctl retries until the deadline
        status = request.get("status") or {}
        ready = get_condition(status.get("conditions"), READY)
        if ready is not None and ready.is_true and status.get("certificate"):
            return request
        if time.monotonic() >= deadline:
            raise CommandFailed(
                "error when waiting for CertificateRequest to be signed: context deadline exceeded"
            )


def _write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
