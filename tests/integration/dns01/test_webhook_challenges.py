"""Webhook Challenges the API server or the webhook refuses, through the Challenge
controller on fake time (the zone found in BIND): a clear reason and a Warning Event per
attempt, a handful of payloads in ten minutes (no hot loop), nothing presented."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.controllers.context import Settings
from certmgr.kube.errors import APIError, error_for
from certmgr.testing.bind import BindServer
from tests.integration.dns01.challenge_harness import challenge, harness, refused_for_ten_minutes

WEBHOOK = {"webhook": {"groupName": "acme.webhook.test", "solverName": "bind"}}


def refused(code: int, message: str) -> APIError:
    return error_for(code, {"kind": "Status", "code": code, "message": message})


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(
            refused(404, "the server could not find the requested resource"),
            "is the APIService v1alpha1.acme.webhook.test of the DNS webhook installed?",
            id="no-apiservice",
        ),
        pytest.param(
            refused(403, 'bind is forbidden: User "system:serviceaccount:certmgr:certmgr"'),
            "must grant certmgr's service account create on acme.webhook.test resources",
            id="rbac-denied",
        ),
        pytest.param(
            error_for(503, "dial tcp 10.0.0.7:443: connect: connection refused\n"),
            "the server is currently unable to handle the request (post bind.acme.webhook.test)",
            id="webhook-down",
        ),
        pytest.param(
            {
                "apiVersion": "webhook.acme.cert-manager.io/v1alpha1",
                "kind": "ChallengePayload",
                "response": {
                    "uid": "u",
                    "success": False,
                    "status": {"message": "hetzner: invalid API token"},
                },
            },
            "hetzner: invalid API token",
            id="webhook-says-no",
        ),
    ],
)
async def test_a_webhook_challenge_that_cannot_be_presented_says_why_and_backs_off(
    bind: BindServer, answer: dict[str, Any] | APIError, reason: str
) -> None:
    settings = Settings(
        dns01_recursive_nameservers=(bind.address,), dns01_recursive_nameservers_only=True
    )
    run = harness(challenge("hook.example.test", WEBHOOK), settings=settings, answer=answer)
    warnings = await refused_for_ten_minutes(run, reason=reason)

    # One payload per attempt: the provider does not retry inside a call.
    payloads = [body["request"]["action"] for _, body in run.kube.created]
    assert payloads == ["Present"] * len(warnings)
