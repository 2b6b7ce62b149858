"""``certmgr dev demo``: the main job on a local setup, end to end, in under 30 seconds.

Starts Pebble, the API simulator with its data plane (an Ingress controller and a Gateway
API implementation) and ``certmgr run --enable-gateway-api``; applies the ClusterIssuer
and Certificate from ``examples/`` (pointed at Pebble instead of Let's Encrypt, the one
change), the annotated Ingress, and beside it an annotated Gateway whose ClusterIssuer
solves through an HTTPRoute; waits until the Certificates are Ready; prints what was
issued, and the answers of HTTPS requests to the Ingress and Gateway hosts through the
router, verified against Pebble's root. It must tell the truth: every line
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

from certmgr import bundled
from certmgr.pki.certificates import CertificateInfo, parse_chain
from certmgr.runtime.logging import configure_logging
from certmgr.testing.bind import BindServer
from certmgr.testing.gatewayapi import manifests as gateway_manifests
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
    async with local_environment(workdir, https_port=https_port, gateway_api=True) as env:
        say(f"Pebble ACME directory     {env.pebble.directory_url}")
        say(f"Kubernetes API simulator  {env.simulator.url}")
        say(f"ingress router            http :{env.pebble.http01_port}  https :{https_port}")
        say(f"workdir (logs, kubeconfig) {workdir}")
        env.apply(load_manifests(bundled.folder("deploy") / "gateway-api" / "rbac.yaml"))
        env.start_controller("--enable-gateway-api")
        issuer = env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")
        env.apply([issuer])
        env.apply(load_manifests(EXAMPLES_DIR / "certificate.yaml"))
        backend = await start_backend()
        env.apply(with_backend(load_manifests(EXAMPLES_DIR / "ingress-annotated.yaml"), backend))
        env.apply(gateway_docs(issuer, env, backend))
        say(f"applied ClusterIssuer/{issuer['metadata']['name']} (server: Pebble),")
        say("        Certificate default/www-example-com, Ingress default/shop (annotated),")
        say(f"        ClusterIssuer/{GATEWAY_ISSUER} (gatewayHTTPRoute), Gateway default/edge")
        say("        (annotated, HTTP and HTTPS listeners) with an HTTPRoute to the shop")
        try:
            certs = [
                await wait_ready(env, "default", name, within=ready_within)
                for name in ("www-example-com", "shop-example-com-tls", GATEWAY_SECRET)
            ]
        except TimeoutError as exc:
            say(f"FAILED: {exc}")
            say("controller log (tail):")
            say(env.controller_logs())
            return 1
        for cert in certs:
            describe(env, cert)
        say()
        say(await https_get(env, host="shop.example.com", port=https_port))
        say(await https_get_soon(env, host=GATEWAY_HOST, port=https_port))
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
GATEWAY_ISSUER = "letsencrypt-staging-gateway"
GATEWAY_HOST = "gateway.example.com"
GATEWAY_SECRET = "gateway-example-com-tls"


def gateway_docs(
    issuer: dict[str, Any], env: LocalEnvironment, backend: web.AppRunner
) -> list[dict[str, Any]]:
    """The example ClusterIssuer solving through an HTTPRoute on Gateway default/edge
    instead of an Ingress, that Gateway (annotated with it; an HTTP listener for the
    challenges, an HTTPS one for the shop) and the shop's HTTPRoute on it."""
    m = gateway_manifests
    parent = {"name": "edge", "namespace": "default", "kind": "Gateway"}
    solver = {"http01": {"gatewayHTTPRoute": {"parentRefs": [parent]}}}
    acme = {**issuer["spec"]["acme"], "solvers": [solver]}
    gateway_issuer = {**issuer, "metadata": {"name": GATEWAY_ISSUER}, "spec": {"acme": acme}}
    port = int(backend.addresses[0][1])
    listeners = [
        m.http_listener(hostname=GATEWAY_HOST),
        m.https_listener(secret=GATEWAY_SECRET, hostname=GATEWAY_HOST),
    ]
    annotations = {"cert-manager.io/cluster-issuer": GATEWAY_ISSUER}
    route = m.http_route(
        "shop",
        namespace="default",
        parents=[m.parent_ref("edge", section="https")],
        hostnames=[GATEWAY_HOST],
        rules=[m.path_rule("/", [m.backend_ref("shop", port)])],
    )
    return [
        gateway_issuer,
        m.gateway("edge", namespace="default", listeners=listeners, annotations=annotations),
        route,
    ]


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


async def https_get_soon(env: LocalEnvironment, *, host: str, port: int) -> str:
    """``https_get`` through the Gateway, retried for a few seconds while its listener
    loads the Secret that was just issued (a failed verification then is not the end)."""
    deadline = time.monotonic() + 10.0
    while True:
        try:
            return await https_get(env, host=host, port=port, via="Gateway default/edge")
        except (ssl.SSLError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def https_get(
    env: LocalEnvironment, *, host: str, port: int, via: str = "the ingress router"
) -> str:
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
        f"HTTPS GET https://{host}/ via {via}: TLS verified against Pebble's root "
        f"(issuer CN={issuer.get('commonName', '?')})\n  response: {status_line}: "
        f"{body.decode(errors='replace').strip()!r}"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(argparse.Namespace(workdir=None, timeout=READY_TIMEOUT)))
