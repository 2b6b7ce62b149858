"""The webhook provider: cert-manager's ChallengePayload, and what each answer becomes."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.dns01.providers import ChallengeRequest, DNS01Error, ProviderContext
from certmgr.dns01.registry import Selected, Unsupported, provider_for
from certmgr.dns01.webhook import WebhookProvider
from certmgr.kube.errors import APIError, Unreachable, error_for
from certmgr.kube.resources import Resource
from certmgr.testing.clock import FakeClock

REQUEST = ChallengeRequest(
    uid="3f1c",
    dns_name="example.test",
    key="txt-value",
    resolved_fqdn="_acme-challenge.example.test.",
    resolved_zone="example.test.",
    resource_namespace="team-a",
    allow_ambient_credentials=False,
    config={"groupName": "acme.example.org", "solverName": "hetzner", "config": {"zone": "z"}},
)
BLOCK = {"groupName": "acme.example.org", "solverName": "hetzner", "config": {"zone": "z"}}


class FakeAPI:
    """Records creates and answers with ``answer`` (a body or an APIError to raise)."""

    def __init__(self, answer: dict[str, Any] | APIError) -> None:
        self.answer = answer
        self.created: list[tuple[Resource, dict[str, Any]]] = []

    async def create(
        self, resource: Resource, obj: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        self.created.append((resource, obj))
        if isinstance(self.answer, APIError):
            raise self.answer
        return self.answer


def provider(api: FakeAPI, block: dict[str, Any] = BLOCK) -> WebhookProvider:
    selected = provider_for({"webhook": block}, ProviderContext(client=api, clock=FakeClock()))  # type: ignore[arg-type]
    assert isinstance(selected, Selected)
    assert isinstance(selected.provider, WebhookProvider)
    return selected.provider


def answered(success: bool, message: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": "3f1c", "success": success}
    if message is not None:
        response["status"] = {"status": "Failed", "message": message}
    return {
        "apiVersion": "webhook.acme.cert-manager.io/v1alpha1",
        "kind": "ChallengePayload",
        "response": response,
    }


@pytest.mark.parametrize(
    ("action", "method"),
    [("Present", "present"), ("CleanUp", "clean_up")],
    ids=["present", "clean-up"],
)
async def test_the_payload_is_cert_managers(action: str, method: str) -> None:
    api = FakeAPI(answered(True))
    await getattr(provider(api), method)(REQUEST)
    [(resource, body)] = api.created
    assert resource.path() == "/apis/acme.example.org/v1alpha1/hetzner"
    assert body == {
        "apiVersion": "webhook.acme.cert-manager.io/v1alpha1",
        "kind": "ChallengePayload",
        "request": {
            "uid": "3f1c",
            "action": action,
            "type": "dns-01",
            "dnsName": "example.test",
            "key": "txt-value",
            "resourceNamespace": "team-a",
            "resolvedFQDN": "_acme-challenge.example.test.",
            "resolvedZone": "example.test.",
            "allowAmbientCredentials": False,
            "config": {"zone": "z"},
        },
    }


async def test_no_config_block_sends_no_config() -> None:
    api = FakeAPI(answered(True))
    await provider(api, {"groupName": "g.example", "solverName": "s"}).present(REQUEST)
    assert "config" not in api.created[0][1]["request"]


def status(code: int, message: str) -> APIError:
    return error_for(code, {"kind": "Status", "code": code, "message": message})


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(
            answered(False, "zone z not found"), "zone z not found", id="webhook-says-why"
        ),
        pytest.param(
            answered(False),
            "invalid payload response, did not succeed but no result provided",
            id="no-result",
        ),
        pytest.param(
            {"kind": "ChallengePayload"}, "answered Present without a response", id="no-response"
        ),
        pytest.param(
            status(404, "the server could not find the requested resource"),
            "is the APIService v1alpha1.acme.example.org of the DNS webhook installed?",
            id="no-apiservice",
        ),
        pytest.param(
            status(
                403,
                'hetzner is forbidden: User "system:serviceaccount:certmgr:certmgr" cannot create',
            ),
            "must grant certmgr's service account create on acme.example.org resources",
            id="rbac",
        ),
        pytest.param(
            error_for(503, "service unavailable\n"),
            "the server is currently unable to handle the request (post hetzner.acme.example.org): "
            "service unavailable (see the status of APIService v1alpha1.acme.example.org)",
            id="service-unavailable",
        ),
        pytest.param(
            Unreachable("ClientConnectorError: refused"),
            "the Kubernetes API is unreachable (post hetzner.acme.example.org)",
            id="api-down",
        ),
        pytest.param(
            status(500, 'unknown action type "Present"'),
            'unknown action type "Present" (post hetzner.acme.example.org, HTTP 500)',
            id="webhook-error",
        ),
    ],
)
async def test_failures_say_what_to_fix(answer: dict[str, Any] | APIError, reason: str) -> None:
    with pytest.raises(DNS01Error) as raised:
        await provider(FakeAPI(answer)).present(REQUEST)
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        pytest.param({"solverName": "s"}, "webhook groupName must be specified", id="no-group"),
        pytest.param({"groupName": "g.example"}, "solver name must be specified", id="no-solver"),
        pytest.param({"groupName": "g/x", "solverName": "s"}, "may not contain '/'", id="slash"),
    ],
)
def test_unusable_blocks_get_a_reason(block: dict[str, Any], reason: str) -> None:
    got = provider_for({"webhook": block}, ProviderContext(client=FakeAPI({}), clock=FakeClock()))  # type: ignore[arg-type]
    assert isinstance(got, Unsupported)
    assert reason in got.reason
