"""A solver object the API server refuses (here Pod Security ``restricted`` refusing a
solver Pod whose podTemplate sets runAsNonRoot=false) becomes the Challenge's reason with
the server's message and a Warning Event, and is retried with exponential backoff on
the (fake) clock: no traceback, no hot loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from certmgr.controllers.context import Settings
from certmgr.kube.client import KubeClient
from certmgr.kube.resources import CHALLENGES, ISSUERS, NAMESPACES
from certmgr.testing.apiserver.server import Simulator
from certmgr.testing.idle import until_idle
from tests.integration.controllers.acme.presenting_harness import NS, challenge, running

CRD_DIR = Path(__file__).resolve().parents[4] / "crds"


class NeverAskedCA:
    account_uri = "https://ca/acct/1"


class FakeAccounts:
    async def client_for(self, issuer: dict[str, Any]) -> NeverAskedCA:
        return NeverAskedCA()


@pytest.fixture
async def kube(apiserver: Simulator, kubeconfig: Path) -> AsyncIterator[KubeClient]:
    apiserver.install_crds([CRD_DIR])
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as client:
        issuer = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "ca", "namespace": NS},
            "spec": {"acme": {"server": "https://ca/dir", "privateKeySecretRef": {"name": "k"}}},
        }
        await client.create(ISSUERS, issuer, namespace=NS)
        labels = {"pod-security.kubernetes.io/enforce": "restricted"}
        await client.patch(NAMESPACES, NS, {"metadata": {"labels": labels}})
        yield client


@pytest.mark.parametrize(
    ("solver", "refused", "refusal"),
    [
        pytest.param(
            {
                "http01": {
                    "ingress": {
                        "podTemplate": {"spec": {"securityContext": {"runAsNonRoot": False}}}
                    }
                }
            },
            "pods",
            '" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true '
            "(pod must not set securityContext.runAsNonRoot=false)",
            id="pod-security-refuses-the-solver-pod",
        ),
        pytest.param(
            {
                "http01": {
                    "ingress": {"ingressTemplate": {"metadata": {"labels": {"team": "not ok"}}}}
                }
            },
            "ingresses",
            '" is invalid: metadata.labels: Invalid value: "not ok": a valid label must be',
            id="validation-refuses-the-solver-ingress",
        ),
    ],
)
async def test_a_refused_solver_object_is_the_challenge_reason_and_retried_with_backoff(
    apiserver: Simulator,
    kube: KubeClient,
    solver: dict[str, Any],
    refused: str,
    refusal: str,
) -> None:
    async with running(kube, settings=Settings(), accounts=FakeAccounts()) as controller:
        clock, events = controller.clock, controller.events
        await kube.create(CHALLENGES, challenge(solver), namespace=NS)
        written = await controller.reason()
        kind = {"pods": "pods", "ingresses": "Ingress.networking.k8s.io"}[refused]
        prefix = f'Error presenting challenge: {kind} "cm-acme-http-solver-'
        assert written["reason"].startswith(prefix)
        assert refusal in written["reason"]
        assert written["processing"] is True
        assert ("Warning", "PresentError", written["reason"]) in events.seen

        # Ten minutes on the clock, waking every sleeper when it is due.
        await until_idle(controller.manager)
        end = clock.monotonic() + 600
        wakes = 0
        while (deadline := clock.next_deadline()) is not None and deadline <= end:
            clock.advance(deadline - clock.monotonic())
            await until_idle(controller.manager)
            wakes += 1
            assert wakes < 200, "a hot loop on the fake clock"
        attempts = apiserver.requests.count(verb="create", resource=refused)
        # 5 s doubling to 5 min (less up to 20 % jitter): 7 or 8 tries in 10 minutes.
        assert 5 <= attempts <= 9
        assert len([e for e in events.seen if e[1] == "PresentError"]) == attempts
        assert apiserver.requests.writes(resource="challenges/status") == 1
        assert (await controller.status())["reason"] == written["reason"]
