"""deploy/'s RBAC grants exactly what the controller uses (issue 14 item 7).

Two `certmgr run` processes (leader and standby, as deploy/ runs them) with deploy/'s
service account, OwnerReferencesPermissionEnforcement on and
--enable-certificate-owner-ref, go through every path: issuance from a ClusterIssuer
(shared solver) and from a namespaced Issuer whose solver has a podTemplate (pod mode),
a request signed by an external issuer, ingress-shim (a solver Ingress, and edit in
place on the user's Ingress), an Order left by an earlier controller, reissuance after a
spec change (old requests pruned), failover after a SIGKILL of the leader, and deletion.
The permissions the simulator's authorizer was asked for on the controller's behalf are
what the code needs: the test fails on any request RBAC refused and on any grant in
deploy/rbac.yaml that no run asked for.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.api import labels
from certmgr.api.codec import rfc3339
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.runtime.clock import SystemClock
from certmgr.testing.issuers import LocalCAIssuer
from certmgr.testing.localenv import (
    CONTROLLER_USER,
    EXAMPLES_DIR,
    LocalEnvironment,
    assert_no_denials,
    load_manifests,
    local_environment,
)
from certmgr.testing.pebble import PebbleServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.simulator_only("reads the simulator's record of RBAC denials"),
]

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
CERT = ("cert-manager.io/v1", "Certificate")
LEASE = ("coordination.k8s.io/v1", "Lease", "certmgr-controller", "certmgr")
DEADLINE = 90.0
TIMING = (
    "--enable-certificate-owner-ref",
    "--leader-election-lease-duration=3",
    "--leader-election-renew-deadline=2",
    "--leader-election-retry-period=0.5",
)

Permission = tuple[str, str, str]  # (API group, resource[/subresource], verb)


def granted(path: Path = RBAC) -> dict[Permission, str]:
    """Every (group, resource, verb) deploy/ grants, with the Role that grants it."""
    out: dict[Permission, str] = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc.get("kind") not in ("ClusterRole", "Role"):
            continue
        for rule in doc.get("rules") or ():
            for group in rule.get("apiGroups") or ():
                for resource in rule.get("resources") or ():
                    for verb in rule.get("verbs") or ():
                        out[(group, resource, verb)] = f"{doc['kind']} {doc['metadata']['name']}"
    return out


async def until(probe: Callable[[], Any], what: str, env: LocalEnvironment) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"{what} not reached within {DEADLINE} s\n{env.controller_logs()}")


def ready(obj: dict[str, Any] | None, revision: int = 1) -> bool:
    status = (obj or {}).get("status") or {}
    conditions = status.get("conditions") or []
    ok = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ok and (status.get("revision") or 0) >= revision


def certificate(env: LocalEnvironment, name: str, namespace: str = "default") -> Any:
    return env.simulator.get(*CERT, name, namespace)


def shim_ingress(name: str, host: str, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-staging", **annotations},
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": name, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


def left_over_order(name: str, host: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=True)
        .sign(key, hashes.SHA256())
    )
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Order",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
            "issuerRef": {
                "name": "letsencrypt-staging",
                "kind": "ClusterIssuer",
                "group": "cert-manager.io",
            },
            "dnsNames": [host],
        },
    }


def external_certificate(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "secretName": f"{name}-tls",
            "issuerRef": {"name": "ext", "kind": "ExtIssuer", "group": "issuers.example.com"},
            "dnsNames": [f"{name}.example.com"],
        },
    }


def approved_request(env: LocalEnvironment, certificate_name: str) -> dict[str, Any] | None:
    for request in env.list("cert-manager.io/v1", "CertificateRequest"):
        annotations = request["metadata"].get("annotations") or {}
        conditions = (request.get("status") or {}).get("conditions") or []
        if annotations.get("cert-manager.io/certificate-name") == certificate_name and any(
            c.get("type") == "Approved" and c.get("status") == "True" for c in conditions
        ):
            return copy.deepcopy(request)
    return None


def externally_issued(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` signed and marked Issued, as an external issuer's controller does."""
    issuer = LocalCAIssuer(clock=SystemClock(), name="ext")
    status = request.setdefault("status", {})
    status["conditions"] = [
        *status.get("conditions", ()),
        {
            "type": "Ready",
            "status": "True",
            "reason": "Issued",
            "message": "Certificate fetched from issuer successfully",
            "lastTransitionTime": rfc3339(SystemClock().now()),
        },
    ]
    status["certificate"] = base64.b64encode(issuer.sign(request)).decode()
    status["ca"] = base64.b64encode(issuer.ca_pem).decode()
    return request


def order_state(env: LocalEnvironment, name: str) -> Any:
    order = env.simulator.get("acme.cert-manager.io/v1", "Order", name, "default")
    return ((order or {}).get("status") or {}).get("state")


async def test_deploy_rbac_grants_exactly_what_every_path_uses(
    pebble: PebbleServer, tmp_path: Path
) -> None:
    async with local_environment(tmp_path, pebble=pebble, enforce_owner_references=True) as env:
        env.apply([env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")])
        shop = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
        env.apply([shop, env.issuer_for_pebble(EXAMPLES_DIR / "issuer-namespaced.yaml")])
        first = env.start_controller(*TIMING)
        await until(lambda: (env.simulator.get(*LEASE) or {}).get("spec"), "a leader", env)
        second = env.start_controller(*TIMING)

        # Issuance (shared solver) and a reissuance that prunes the old request.
        env.apply(load_manifests(EXAMPLES_DIR / "certificate.yaml"))
        await until(lambda: ready(certificate(env, "www-example-com")), "issued", env)
        cert = copy.deepcopy(certificate(env, "www-example-com"))  # the store's own object
        cert["spec"]["dnsNames"] = ["www.example.com"]
        env.apply([cert])
        await until(lambda: ready(certificate(env, "www-example-com"), 2), "reissued", env)

        # Pod mode: the namespaced Issuer's solver has a podTemplate.
        env.apply(
            [
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "Certificate",
                    "metadata": {"name": "shop", "namespace": "shop"},
                    "spec": {
                        "secretName": "shop-tls",
                        "issuerRef": {"name": "letsencrypt", "kind": "Issuer"},
                        "dnsNames": ["shop.example.com"],
                    },
                }
            ]
        )
        await until(lambda: ready(certificate(env, "shop", "shop")), "pod-mode issued", env)

        # An Order this process did not create (an earlier leader's, cert-manager's) is
        # read live before an ACME order is placed for it; its own are placed from the cache.
        env.apply([left_over_order("left-over", "left-over.example.com")])
        await until(
            lambda: order_state(env, "left-over") == "valid", "a left-over Order valid", env
        )

        # A request signed by an issuer of another group (its own controller: the test):
        # the issued chain is read from the API, as this process did not write it.
        env.apply([external_certificate("external")])
        request = await until(
            lambda: approved_request(env, "external"), "the external request approved", env
        )
        async with await KubeClient.connect(kubeconfig=str(env.admin_kubeconfig)) as admin:
            await admin.update_status(r.CERTIFICATEREQUESTS, externally_issued(request))
        await until(lambda: ready(certificate(env, "external")), "externally issued", env)

        # ingress-shim: a solver Ingress, and edit in place on the user's Ingress.
        env.apply([shim_ingress("shim", "shim.example.com")])
        env.apply(
            [shim_ingress("edit", "edit.example.com", **{labels.HTTP01_EDIT_IN_PLACE: "true"})]
        )
        await until(lambda: ready(certificate(env, "shim-tls")), "shim issued", env)
        await until(lambda: ready(certificate(env, "edit-tls")), "edit-in-place issued", env)

        # Failover: the leader is SIGKILLed; the standby takes over and issues.
        leader = str(env.simulator.get(*LEASE)["spec"]["holderIdentity"])  # type: ignore[index]
        killed = first if first.logged("leader_elected") else second
        killed.stop(sig=signal.SIGKILL)
        await until(
            lambda: (
                (env.simulator.get(*LEASE) or {}).get("spec", {}).get("holderIdentity")
                not in (None, "", leader)
            ),
            "the standby leading",
            env,
        )
        env.apply([shim_ingress("after", "after.example.com")])
        await until(lambda: ready(certificate(env, "after-tls")), "issued after failover", env)

        # Deletion: the shim's Certificate goes with its Ingress; a Certificate's Secret
        # goes with it (owner reference).
        async with await KubeClient.connect(kubeconfig=str(env.admin_kubeconfig)) as admin:
            # ingress-shim keeps its Certificate in line with the Ingress (an update).
            duration = {"metadata": {"annotations": {"cert-manager.io/duration": "720h"}}}
            await admin.patch(r.INGRESSES, "shim", duration, namespace="default")
            await until(
                lambda: (certificate(env, "shim-tls") or {}).get("spec", {}).get("duration"),
                "the shim's Certificate updated",
                env,
            )
            await admin.delete(r.INGRESSES, "shim", namespace="default")
            await until(lambda: certificate(env, "shim-tls") is None, "shim gone", env)
            await admin.delete(r.CERTIFICATES, "www-example-com", namespace="default")
        await until(
            lambda: env.simulator.get("v1", "Secret", "www-example-com-tls", "default") is None,
            "the owned Secret collected",
            env,
        )
        env.stop_controllers()

        assert_no_denials(env.simulator)
        needed = env.simulator.requests.permissions_asked(user=CONTROLLER_USER)
        grants = granted()
        unused = sorted(set(grants) - needed)
        print("\npermissions the runs needed:")
        for group, resource, verb in sorted(needed):
            print(f"  {group or 'core'} {resource} {verb}")
        assert not unused, "deploy/rbac.yaml grants what no run used:\n" + "\n".join(
            f"  {g or 'core'} {r} {v} ({grants[(g, r, v)]})" for g, r, v in unused
        )
