"""``certmgr dev demo``: the main job on a local setup, end to end, in under 30 seconds.

Starts Pebble, the API simulator with its data plane and ``certmgr run``; applies the
ClusterIssuer and Certificate from ``examples/`` (pointed at Pebble instead of Let's
Encrypt, the one change) and the annotated Ingress; waits until the Certificates are
Ready; prints what was issued, and the answer of an HTTPS request to the Ingress host
through the router, verified against Pebble's root. It must tell the truth: every line
it prints is read back from the API or from the TLS handshake.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509

from certmgr.pki.certificates import CertificateInfo, parse_chain
from certmgr.runtime.logging import configure_logging
from certmgr.testing.bind import BindServer
from certmgr.testing.localenv import (
    CONTROLLER_NAMESPACE,
    EXAMPLES_DIR,
    LocalEnvironment,
    load_manifests,
    local_environment,
)
from certmgr.testing.pebble import PebbleConfig, free_port

READY_TIMEOUT = 60.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", type=Path, help="keep logs and kubeconfigs here")
    parser.add_argument("--timeout", type=float, default=READY_TIMEOUT)
    parser.add_argument(
        "--wildcard",
        action="store_true",
        help="issue *.example.test + example.test by DNS-01 through a local BIND 9 (rfc2136) "
        "instead of the HTTP-01 demo (needs Debian's bind9)",
    )


def run(args: argparse.Namespace) -> int:
    # The demo prints its own story; the components' logs go to files in the workdir.
    configure_logging("warning")
    # Absolute: the processes it starts (Pebble, the controller) have other working dirs.
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="certmgr-demo-"))).absolute()
    if args.wildcard:
        return asyncio.run(wildcard_demo(workdir, ready_within=args.timeout))
    return asyncio.run(demo(workdir, ready_within=args.timeout))


def say(text: str = "") -> None:
    print(text, flush=True)


async def demo(workdir: Path, *, ready_within: float) -> int:
    started = time.monotonic()
    https_port = free_port()
    async with local_environment(workdir, https_port=https_port) as env:
        say(f"Pebble ACME directory     {env.pebble.directory_url}")
        say(f"Kubernetes API simulator  {env.simulator.url}")
        say(f"ingress router            http :{env.pebble.http01_port}  https :{https_port}")
        say(f"workdir (logs, kubeconfig) {workdir}")
        env.start_controller()
        issuer = env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")
        env.apply([issuer])
        env.apply(load_manifests(EXAMPLES_DIR / "certificate.yaml"))
        backend = await start_backend()
        env.apply(with_backend(load_manifests(EXAMPLES_DIR / "ingress-annotated.yaml"), backend))
        say(f"applied ClusterIssuer/{issuer['metadata']['name']} (server: Pebble),")
        say("        Certificate default/www-example-com, Ingress default/shop (annotated)")
        try:
            certs = [
                await wait_ready(env, "default", "www-example-com", within=ready_within),
                await wait_ready(env, "default", "shop-example-com-tls", within=ready_within),
            ]
        except TimeoutError as exc:
            say(f"FAILED: {exc}")
            say("controller log (tail):")
            say(env.controller_logs())
            return 1
        for cert in certs:
            describe(env, cert)
        say()
        answer = await https_get(env, host="shop.example.com", port=https_port)
        say(answer)
        say()
        say(f"done in {time.monotonic() - started:.1f} s")
        await backend.cleanup()
    return 0


async def wildcard_demo(workdir: Path, *, ready_within: float) -> int:
    """DNS-01: the example rfc2136 ClusterIssuer pointed at a local BIND 9 (and Pebble
    validating against that BIND), and the example wildcard Certificate."""
    started = time.monotonic()
    with BindServer() as bind:
        config = PebbleConfig(dns_server=bind.address)
        async with local_environment(workdir, pebble_config=config) as env:
            say(f"Pebble ACME directory     {env.pebble.directory_url} (DNS: BIND)")
            say(
                f"BIND 9 (named)            {bind.address}, zone example.test, TSIG {bind.key.name}"
            )
            say(f"Kubernetes API simulator  {env.simulator.url}")
            say(f"workdir (logs, kubeconfig) {workdir}")
            env.start_controller(
                f"--dns01-recursive-nameservers={bind.address}",
                "--dns01-recursive-nameservers-only",
            )
            (issuer,) = load_manifests(EXAMPLES_DIR / "clusterissuer-rfc2136.yaml")
            issuer = env.issuer_for_pebble_manifest(issuer)
            solver = issuer["spec"]["acme"]["solvers"][0]["dns01"]["rfc2136"]
            solver.update(nameserver=bind.address, tsigKeyName=bind.key.name)
            ref = solver["tsigSecretSecretRef"]
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": ref["name"], "namespace": CONTROLLER_NAMESPACE},
                "data": {ref["key"]: base64.b64encode(bind.key.secret.encode()).decode()},
            }
            env.apply([secret, issuer])
            env.apply(load_manifests(EXAMPLES_DIR / "certificate-wildcard.yaml"))
            say(f"applied ClusterIssuer/{issuer['metadata']['name']} (rfc2136 -> BIND),")
            say("        Certificate default/wildcard-example-test")
            try:
                cert = await wait_ready(
                    env, "default", "wildcard-example-test", within=ready_within
                )
            except TimeoutError as exc:
                say(f"FAILED: {exc}")
                say("controller log (tail):")
                say(env.controller_logs())
                return 1
            describe(env, cert)
            left: set[str] = set()
            for _ in range(50):  # clean-up follows Ready
                left = bind.txt_values("_acme-challenge.example.test.")
                if not left:
                    break
                await asyncio.sleep(0.1)
            say(f"  TXT records left at _acme-challenge.example.test: {len(left)}")
            say()
            say(f"done in {time.monotonic() - started:.1f} s")
    return 0


SHOP_ANSWER = "hello from the shop backend"


async def start_backend() -> web.AppRunner:
    """The workload behind the demo's Ingress: one page, on a free loopback port."""

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=SHOP_ANSWER)

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def with_backend(docs: list[dict[str, Any]], backend: web.AppRunner) -> list[dict[str, Any]]:
    """The example Ingress plus a Service for its backend: an ExternalName Service on the
    loopback port the demo's backend listens on (the data plane dials it directly), and
    the Ingress's backend port set to that port."""
    port = int(backend.addresses[0][1])
    out: list[dict[str, Any]] = []
    for doc in docs:
        if doc.get("kind") == "Ingress":
            for rule in doc["spec"].get("rules", []):
                for path in rule.get("http", {}).get("paths", []):
                    service = path["backend"]["service"]
                    service["port"] = {"number": port}
                    out.append(
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "metadata": {
                                "name": service["name"],
                                "namespace": doc["metadata"]["namespace"],
                            },
                            "spec": {
                                "type": "ExternalName",
                                "externalName": "127.0.0.1",
                                "ports": [{"port": port}],
                            },
                        }
                    )
        out.append(doc)
    return out


async def wait_ready(
    env: LocalEnvironment, namespace: str, name: str, *, within: float
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        cert = env.simulator.get("cert-manager.io/v1", "Certificate", name, namespace)
        if cert is not None and _ready(cert):
            return cert
        await asyncio.sleep(0.1)
    raise TimeoutError(f"Certificate {namespace}/{name} not Ready after {within:.0f} s")


def _ready(cert: dict[str, Any]) -> bool:
    conditions = (cert.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def describe(env: LocalEnvironment, cert: dict[str, Any]) -> None:
    namespace = cert["metadata"]["namespace"]
    secret_name = cert["spec"]["secretName"]
    secret = env.simulator.get("v1", "Secret", secret_name, namespace) or {}
    data = secret.get("data") or {}
    chain = parse_chain(base64.b64decode(data.get("tls.crt", "")))
    info = CertificateInfo.of(chain[0])
    status = cert.get("status") or {}
    say()
    say(f"Certificate {namespace}/{cert['metadata']['name']}: Ready")
    say(f"  subject     {chain[0].subject.rfc4514_string()}")
    say(f"  SANs        {', '.join(_sans(chain[0]))}")
    say(f"  issuer      {chain[0].issuer.rfc4514_string()}")
    moment = "%Y-%m-%d %H:%M:%S"
    say(f"  valid       {info.not_before:{moment}} .. {info.not_after:{moment}} UTC")
    say(f"  key         {info.key_algorithm} {info.key_size}")
    say(f"  renewal     {status.get('renewalTime')}  revision {status.get('revision')}")
    say(f"  Secret      {namespace}/{secret_name} ({secret.get('type')}): keys {sorted(data)}")


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.get_values_for_type(x509.DNSName)] + [
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    ]


async def https_get(env: LocalEnvironment, *, host: str, port: int) -> str:
    """GET https://host/ through the router, verifying the chain against Pebble's roots."""
    context = ssl.create_default_context(cadata="\n".join(env.pebble.root_pems()))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=host
    )
    try:
        peer = writer.get_extra_info("peercert") or {}
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await reader.read(4096)
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    issuer = dict(x[0] for x in peer.get("issuer", ()))
    return (
        f"HTTPS GET https://{host}/ via the ingress router: TLS verified against Pebble's root "
        f"(issuer CN={issuer.get('commonName', '?')})\n  response: {status_line}: "
        f"{body.decode(errors='replace').strip()!r}"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(argparse.Namespace(workdir=None, timeout=READY_TIMEOUT)))
