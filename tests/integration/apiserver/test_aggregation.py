"""API aggregation: APIServices proxied to a local webhook as kube-aggregator does.

The aggregated server is the test DNS webhook on 127.0.0.1, published by a Service
without a selector and an EndpointSlice, as a webhook chart's Service would be.
"""

from __future__ import annotations

import base64
import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster, eventually
from certmgr.testing.dns_webhook import DNSWebhook, MemoryZone
from certmgr.testing.throwaway_ca import ThrowawayCA

GROUP = "acme.example.org"
SOLVER = "memory"
SOLVER_PATH = f"/apis/{GROUP}/v1alpha1/{SOLVER}"
APISERVICES = "/apis/apiregistration.k8s.io/v1/apiservices"
SA_USER = "system:serviceaccount:certmgr:certmgr"


def payload(action: str = "Present") -> dict[str, Any]:
    return {
        "apiVersion": "webhook.acme.cert-manager.io/v1alpha1",
        "kind": "ChallengePayload",
        "request": {
            "uid": "u1",
            "action": action,
            "type": "dns-01",
            "dnsName": "example.test",
            "key": "value-1",
            "resourceNamespace": "certmgr",
            "resolvedFQDN": "_acme-challenge.example.test.",
            "resolvedZone": "example.test.",
            "allowAmbientCredentials": False,
        },
    }


@pytest.fixture
async def admin(sim: Simulator, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "admin")) as cluster:
        yield cluster


@pytest.fixture
async def webhook(sim: Simulator) -> AsyncIterator[DNSWebhook]:
    hook = DNSWebhook(
        group_name=GROUP,
        solver_name=SOLVER,
        zone=MemoryZone(),
        front_proxy_ca_pem=sim.front_proxy_ca_pem,
    )
    async with hook:
        sim.apply_manifests(
            [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "certmgr"}},
                hook.service(),
                hook.endpoint_slice(),
            ]
        )
        yield hook


def available(admin: Cluster, name: str, status: str = "True", reason: str | None = None) -> Any:
    async def check() -> dict[str, Any] | None:
        reply = await admin.request("GET", f"{APISERVICES}/{name}")
        for condition in (reply.body.get("status") or {}).get("conditions") or ():
            if (condition["type"], condition["status"]) == ("Available", status) and (
                reason is None or condition["reason"] == reason
            ):
                return dict(condition)
        return None

    return check


async def register(admin: Cluster, body: dict[str, Any]) -> None:
    reply = await admin.request("POST", APISERVICES, body=body)
    assert reply.status == 201, reply.body


async def test_a_request_reaches_the_webhook_as_the_caller(
    sim: Simulator, admin: Cluster, webhook: DNSWebhook, tmp_path: Path
) -> None:
    await register(admin, webhook.apiservice())
    condition = await eventually(available(admin, f"v1alpha1.{GROUP}", "True", "Passed"))
    assert condition["message"] == "all checks passed"
    sim.apply_manifests(webhook.domain_solver_rbac(service_account="certmgr", namespace="certmgr"))
    token = sim.service_account_token("certmgr", "certmgr")
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "sa", token=token)) as sa:
        # Identity headers the caller sends are dropped; the front proxy sets its own.
        reply = await sa.request(
            "POST", SOLVER_PATH, body=payload(), headers={"X-Remote-User": "admin"}
        )
        assert reply.status == 201, reply.body
        assert reply.body["response"] == {"uid": "u1", "success": True}
        groups = await sa.request("GET", "/apis")
        assert GROUP in [g["name"] for g in groups.body["groups"]]
        group = await sa.request("GET", f"/apis/{GROUP}")
        assert group.body["preferredVersion"]["groupVersion"] == f"{GROUP}/v1alpha1"
        resources = await sa.request("GET", f"/apis/{GROUP}/v1alpha1")
        assert [r["name"] for r in resources.body["resources"]] == [SOLVER]
    [received] = webhook.received
    assert received.user == SA_USER
    assert set(received.groups) >= {"system:serviceaccounts", "system:authenticated"}
    assert isinstance(webhook.zone, MemoryZone)
    assert webhook.zone.records == {"_acme-challenge.example.test.": {"value-1"}}
    assert sim.requests.count(verb="create", resource=SOLVER, user=SA_USER) == 1


async def test_rbac_is_checked_before_proxying(
    sim: Simulator, admin: Cluster, webhook: DNSWebhook, tmp_path: Path
) -> None:
    await register(admin, webhook.apiservice())
    await eventually(available(admin, f"v1alpha1.{GROUP}"))
    token = sim.service_account_token("certmgr", "certmgr")
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "sa", token=token)) as sa:
        reply = await sa.request("POST", SOLVER_PATH, body=payload())
        # Not served at all: still authorization first (403), never a 404 that leaks.
        missing = await sa.request("POST", "/apis/absent.example.org/v1alpha1/x", body=payload())
    assert reply.status == 403
    assert f'cannot create resource "{SOLVER}" in API group "{GROUP}"' in reply.body["message"]
    assert missing.status == 403
    assert webhook.received == []
    allowed = await admin.request("POST", "/apis/absent.example.org/v1alpha1/x", body=payload())
    assert allowed.status == 404


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        pytest.param(
            "no-service",
            "ServiceNotFound",
            'service/dns-webhook in "certmgr" is not present',
            id="service-missing",
        ),
        pytest.param(
            "wrong-port",
            "ServicePortError",
            'service/dns-webhook in "certmgr" is not listening on port 8443',
            id="port-missing",
        ),
        pytest.param(
            "no-endpoints",
            "EndpointsNotFound",
            'cannot find endpointslices for service/dns-webhook in "certmgr"',
            id="endpoints-missing",
        ),
        pytest.param(
            "no-ready-pods",
            "MissingEndpoints",
            'endpointslices for service/dns-webhook in "certmgr" have no addresses with port '
            'name "https"',
            id="no-ready-pods",
        ),
        pytest.param(
            "stopped",
            "FailedDiscoveryCheck",
            "connect: connection refused",
            id="webhook-down",
        ),
    ],
)
async def test_an_unavailable_service_is_a_503_and_the_condition_says_why(
    sim: Simulator, admin: Cluster, webhook: DNSWebhook, change: str, reason: str, message: str
) -> None:
    body = webhook.apiservice()
    if change == "no-service":
        body["spec"]["service"]["name"] = "dns-webhook"
        await admin.request("DELETE", "/api/v1/namespaces/certmgr/services/dns-webhook")
    elif change == "wrong-port":
        body["spec"]["service"]["port"] = 8443
    elif change == "no-endpoints":
        await admin.request(
            "DELETE",
            "/apis/discovery.k8s.io/v1/namespaces/certmgr/endpointslices/dns-webhook-local",
        )
    elif change == "no-ready-pods":
        service = webhook.service()
        service["spec"]["selector"] = {"app": "dns-webhook"}
        sim.apply_manifests([service])
    elif change == "stopped":
        await webhook.stop()
    await register(admin, body)
    condition = await eventually(available(admin, f"v1alpha1.{GROUP}", "False", reason))
    assert message in condition["message"]
    reply = await admin.request("POST", SOLVER_PATH, body=payload())
    assert (reply.status, reply.body) == (503, "service unavailable\n")
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_the_serving_certificate_must_verify_against_the_ca_bundle(
    sim: Simulator, admin: Cluster, webhook: DNSWebhook
) -> None:
    other = ThrowawayCA.create("someone-else", validity=datetime.timedelta(days=1))
    await register(admin, webhook.apiservice(ca_bundle=other.pem))
    # The discovery probe does not verify (as upstream): Available, yet every call fails.
    await eventually(available(admin, f"v1alpha1.{GROUP}"))
    reply = await admin.request("POST", SOLVER_PATH, body=payload())
    assert reply.status == 503
    assert reply.body == (
        "tls: failed to verify certificate: x509: certificate signed by unknown authority\n"
    )
    assert webhook.received == []


async def test_the_certificate_must_name_the_service(
    sim: Simulator, admin: Cluster, webhook: DNSWebhook
) -> None:
    body = webhook.apiservice()
    # Another Service (same endpoints): the certificate is for dns-webhook.certmgr.svc.
    other = {**webhook.service(), "metadata": {"name": "renamed", "namespace": "certmgr"}}
    slice_ = webhook.endpoint_slice()
    slice_["metadata"] = {
        "name": "renamed-local",
        "namespace": "certmgr",
        "labels": {"kubernetes.io/service-name": "renamed"},
    }
    sim.apply_manifests([other, slice_])
    body["spec"]["service"]["name"] = "renamed"
    await register(admin, body)
    await eventually(available(admin, f"v1alpha1.{GROUP}"))
    reply = await admin.request("POST", SOLVER_PATH, body=payload())
    assert reply.status == 503
    assert reply.body == (
        "tls: failed to verify certificate: x509: certificate is valid for dns-webhook, "
        "dns-webhook.certmgr, dns-webhook.certmgr.svc, not renamed.certmgr.svc\n"
    )


async def test_insecure_skip_tls_verify_skips_the_check(
    sim: Simulator, admin: Cluster, webhook: DNSWebhook
) -> None:
    body = webhook.apiservice()
    del body["spec"]["caBundle"]
    body["spec"]["insecureSkipTLSVerify"] = True
    await register(admin, body)
    await eventually(available(admin, f"v1alpha1.{GROUP}"))
    reply = await admin.request("POST", SOLVER_PATH, body=payload("CleanUp"))
    assert reply.status == 201, reply.body
    assert webhook.received[0].user == "admin"


def apiservice(**spec: Any) -> dict[str, Any]:
    name = spec.pop("name", "v1alpha1.acme.example.org")
    base = {
        "group": "acme.example.org",
        "version": "v1alpha1",
        "groupPriorityMinimum": 1000,
        "versionPriority": 15,
        "service": {"name": "w", "namespace": "certmgr"},
    }
    merged = {k: v for k, v in {**base, **spec}.items() if v is not None}
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": name},
        "spec": merged,
    }


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        pytest.param(
            apiservice(name="acme.example.org"),
            422,
            'metadata.name: Invalid value: "acme.example.org": must be '
            '`spec.version+"."+spec.group`: "v1alpha1.acme.example.org"',
            id="name",
        ),
        pytest.param(
            apiservice(groupPriorityMinimum=0),
            422,
            "spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000",
            id="group-priority",
        ),
        pytest.param(
            apiservice(versionPriority=1001),
            422,
            "spec.versionPriority: Invalid value: 1001: must be positive and less than 1000",
            id="version-priority",
        ),
        pytest.param(
            apiservice(insecureSkipTLSVerify=True, caBundle=base64.b64encode(b"x").decode()),
            422,
            "spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is "
            "present",
            id="insecure-and-bundle",
        ),
        pytest.param(
            apiservice(service={"name": "w"}),
            422,
            "spec.service.namespace: Required value",
            id="service-namespace",
        ),
        pytest.param(
            apiservice(service=None, caBundle=base64.b64encode(b"abc").decode()),
            422,
            'spec.caBundle: Invalid value: "3 bytes": local APIServices may not have a caBundle',
            id="local-bundle",
        ),
        pytest.param(
            apiservice(caBundle="not base64!"), 400, "illegal base64 data", id="bundle-base64"
        ),
        pytest.param(
            apiservice(name="v1alpha1.Acme", group="Acme"),
            422,
            'spec.group: Invalid value: "Acme": a lowercase RFC 1123 subdomain',
            id="group-syntax",
        ),
    ],
)
async def test_invalid_apiservices_are_refused(
    sim: Simulator, admin: Cluster, body: dict[str, Any], code: int, message: str
) -> None:
    reply = await admin.request("POST", APISERVICES, body=body)
    assert reply.status == code, reply.body
    assert message in reply.body["message"]


async def test_the_port_defaults_to_443_and_status_is_the_servers(
    sim: Simulator, admin: Cluster
) -> None:
    body = apiservice()
    body["status"] = {"conditions": [{"type": "Available", "status": "True"}]}
    reply = await admin.request("POST", APISERVICES, body=body)
    assert reply.status == 201, reply.body
    assert reply.body["spec"]["service"]["port"] == 443
    assert "status" not in reply.body or not reply.body["status"].get("conditions")
    condition = await eventually(available(admin, body["metadata"]["name"], "False"))
    assert condition["reason"] == "ServiceNotFound"


async def test_the_webhook_trusts_identity_headers_only_from_the_front_proxy(
    webhook: DNSWebhook,
) -> None:
    tls = ssl.create_default_context(cadata=webhook.ca_pem.decode())
    tls.check_hostname = False  # dialled by IP; the name check is the aggregator's test
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as direct,
        direct.post(
            f"https://127.0.0.1:{webhook.port}{SOLVER_PATH}",
            json=payload(),
            headers={"X-Remote-User": SA_USER, "X-Remote-Group": "system:masters"},
        ) as reply,
    ):
        body = await reply.json()
    assert reply.status == 403
    assert body["message"].startswith('forbidden: User "system:anonymous"')
    assert webhook.received == []
