"""DNS-01 through cert-manager's webhook API, end to end.

`certmgr run` under deploy/'s service account (plus the grant a webhook's install
makes) sends ChallengePayloads through the simulator's API aggregation to the test
webhook, which writes the TXT values into BIND; Pebble validates against that BIND.
A webhook that says no and a missing APIService each leave a clear reason and a
Warning Event on the Challenge, retried with backoff rather than in a loop. The run
fails on any request of the controller that RBAC refused.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from certmgr.testing.bind import BIND_ALGORITHMS, BindServer
from certmgr.testing.dns_webhook import DNSWebhook, RFC2136Zone
from certmgr.testing.localenv import (
    CONTROLLER_USER,
    LocalEnvironment,
    local_environment,
    pointed_at,
)
from certmgr.testing.pebble import PebbleServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.simulator_only("the webhook is a local process behind the simulator's aggregation"),
]

GROUP = "acme.webhook.test"
SOLVER = "bind"


def issuer(env: LocalEnvironment, name: str, group: str) -> dict[str, Any]:
    return pointed_at(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": name, "namespace": env.namespace},
            "spec": {
                "acme": {
                    "server": "https://acme.invalid/directory",
                    "privateKeySecretRef": {"name": f"{name}-account-key"},
                    "solvers": [
                        {
                            "dns01": {
                                "webhook": {
                                    "groupName": group,
                                    "solverName": SOLVER,
                                    "config": {"zone": "example.test"},
                                }
                            }
                        }
                    ],
                }
            },
        },
        env.pebble,
    )


def certificate(env: LocalEnvironment, name: str, issuer_name: str, *names: str) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": env.namespace},
        "spec": {
            "secretName": f"{name}-tls",
            "dnsNames": list(names),
            "issuerRef": {"name": issuer_name, "kind": "Issuer"},
            "privateKey": {"algorithm": "ECDSA", "size": 256},
        },
    }


def ready(env: LocalEnvironment, name: str) -> bool:
    obj = env.simulator.get("cert-manager.io/v1", "Certificate", name, env.namespace) or {}
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def issuer_ready(env: LocalEnvironment, name: str) -> bool:
    obj = env.simulator.get("cert-manager.io/v1", "Issuer", name, env.namespace) or {}
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def challenge_for(env: LocalEnvironment, dns_name: str) -> dict[str, Any] | None:
    for challenge in env.list("acme.cert-manager.io/v1", "Challenge"):
        if challenge["spec"]["dnsName"] == dns_name and (challenge.get("status") or {}).get(
            "reason"
        ):
            return challenge
    return None


def warnings_about(env: LocalEnvironment, challenge: dict[str, Any]) -> list[str]:
    return [
        event["message"]
        for event in env.list("v1", "Event")
        if event.get("type") == "Warning"
        and event["involvedObject"].get("uid") == challenge["metadata"]["uid"]
    ]


def available(env: LocalEnvironment) -> bool:
    obj = env.simulator.get("apiregistration.k8s.io/v1", "APIService", f"v1alpha1.{GROUP}") or {}
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


async def test_wildcard_and_apex_issue_through_a_webhook_and_failures_say_why(
    bind: BindServer, bind_pebble: PebbleServer, tmp_path: Path
) -> None:
    async with local_environment(tmp_path, pebble=bind_pebble) as env:
        zone = RFC2136Zone(
            host="127.0.0.1",
            port=bind.port,
            key_name=bind.key.name,
            secret=bind.key.secret,
            algorithm=BIND_ALGORITHMS[bind.key.algorithm],
        )
        sim = env.simulator
        hook = DNSWebhook(
            group_name=GROUP,
            solver_name=SOLVER,
            zone=zone,
            front_proxy_ca_pem=sim.front_proxy_ca_pem,
        )
        async with hook:
            # What a webhook chart installs: Service, endpoints, APIService, and the
            # grant of create on its group to certmgr's service account.
            env.apply([hook.service(), hook.endpoint_slice(), hook.apiservice()])
            env.apply(hook.domain_solver_rbac(service_account="certmgr", namespace="certmgr"))
            await env.eventually(lambda: available(env), what="the APIService Available")
            env.apply([issuer(env, "webhook", GROUP)])
            env.start_controller(
                f"--dns01-recursive-nameservers={bind.address}",
                "--dns01-recursive-nameservers-only",
            )
            # The controller's start (imports, ACME account) stays out of the figure.
            await env.eventually(lambda: issuer_ready(env, "webhook"), what="the Issuer Ready")

            started = time.monotonic()
            env.apply([certificate(env, "wild", "webhook", "*.example.test", "example.test")])
            await env.eventually(lambda: ready(env, "wild"), what="the wildcard certificate Ready")
            took = time.monotonic() - started
            print(f"wildcard + apex through the webhook, created->Ready: {took:.3f}s")
            actions = sorted(r.request["action"] for r in hook.received)
            assert actions.count("Present") == 2
            await env.eventually(
                lambda: sorted(r.request["action"] for r in hook.received).count("CleanUp") == 2,
                what="cleaned up",
            )
            assert {r.user for r in hook.received} == {CONTROLLER_USER}
            assert {r.request["resolvedFQDN"] for r in hook.received} == {
                "_acme-challenge.example.test."
            }
            assert {r.request["resolvedZone"] for r in hook.received} == {"example.test."}
            assert {r.request["config"]["zone"] for r in hook.received} == {"example.test"}
            # An Issuer's: its namespace, and no ambient credentials (cert-manager's rule).
            assert {r.request["resourceNamespace"] for r in hook.received} == {env.namespace}
            assert {r.request["allowAmbientCredentials"] for r in hook.received} == {False}
            assert {r.request["dnsName"] for r in hook.received} == {"example.test"}
            assert {r.request["type"] for r in hook.received} == {"dns-01"}
            # The webhook records a CleanUp before it sends BIND the UPDATE: wait for the
            # record itself rather than race the second one.
            await env.eventually(
                lambda: not bind.txt_values("_acme-challenge.example.test."),
                what="the TXT values removed from BIND",
            )

            # The webhook says no: its message is the reason, with a Warning Event.
            hook.fail_with = "hetzner: zone fail.example.test not found in account"
            env.apply([certificate(env, "failing", "webhook", "fail.example.test")])
            failed = await env.eventually(
                lambda: challenge_for(env, "fail.example.test"), what="a reason"
            )
            print(f"failing webhook, Challenge reason: {failed['status']['reason']}")
            assert (
                "hetzner: zone fail.example.test not found in account" in failed["status"]["reason"]
            )
            await env.eventually(lambda: warnings_about(env, failed), what="a Warning Event")
            assert any(hook.fail_with in m for m in warnings_about(env, failed))
            # No hot loop: retries back off (5 s, 10 s, ...).
            before = sim.requests.count(verb="create", resource=SOLVER, user=CONTROLLER_USER)
            await asyncio.sleep(8)
            after = sim.requests.count(verb="create", resource=SOLVER, user=CONTROLLER_USER)
            print(f"failing webhook: {after - before} calls in 8 s")
            assert after - before <= 3

            # No APIService for the group (the grant is there): the reason says so.
            absent = "absent.webhook.test"
            other = DNSWebhook(
                group_name=absent,
                solver_name=SOLVER,
                zone=zone,
                front_proxy_ca_pem=sim.front_proxy_ca_pem,
                service_name="absent-webhook",
            )
            env.apply(other.domain_solver_rbac(service_account="certmgr", namespace="certmgr"))
            env.apply([issuer(env, "absent", absent)])
            env.apply([certificate(env, "missing", "absent", "missing.example.test")])
            missing = await env.eventually(
                lambda: challenge_for(env, "missing.example.test"), what="a reason"
            )
            print(f"missing APIService, Challenge reason: {missing['status']['reason']}")
            assert (
                "is the APIService v1alpha1.absent.webhook.test of the DNS webhook installed?"
                in missing["status"]["reason"]
            )
            await env.eventually(lambda: warnings_about(env, missing), what="a Warning Event")

            # The webhook down: kube-aggregator's 503, and the APIService says why.
            await hook.stop()
            env.apply([certificate(env, "down", "webhook", "down.example.test")])
            down = await env.eventually(
                lambda: challenge_for(env, "down.example.test"), what="a reason"
            )
            print(f"webhook down, Challenge reason: {down['status']['reason']}")
            assert (
                "the server is currently unable to handle the request" in down["status"]["reason"]
            )
            assert "connect: connection refused" in down["status"]["reason"]
            await env.eventually(lambda: warnings_about(env, down), what="a Warning Event")
            before = sim.requests.count(verb="create", resource=SOLVER, user=CONTROLLER_USER)
            await asyncio.sleep(8)
            after = sim.requests.count(verb="create", resource=SOLVER, user=CONTROLLER_USER)
            print(f"webhook down: {after - before} calls in 8 s")
            assert after - before <= 3
