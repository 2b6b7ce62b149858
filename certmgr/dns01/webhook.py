"""The webhook provider: cert-manager's DNS-01 webhook API, through the Kubernetes API.

Owns the ``webhook`` solver block (``groupName``, ``solverName``, ``config``) and the
call cert-manager makes for it: a ``ChallengePayload`` (``webhook.acme.cert-manager.io/
v1alpha1``, action ``Present`` or ``CleanUp``) created at
``/apis/<groupName>/v1alpha1/<solverName>``, which kube-apiserver's aggregation layer
proxies to the webhook's Service, so existing webhook Deployments and their APIServices
work unchanged. It turns the answer (``response.success``, ``response.status.message``)
and the API's refusals (no APIService, RBAC, the service unavailable) into a
:class:`DNS01Error` that says what to fix. Must not speak HTTP itself (``certmgr.kube``
does) nor retry: the controller backs off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from certmgr.dns01.providers import ChallengeRequest, DNS01Error, ProviderContext
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import APIError, Forbidden, NotFound, ServerError, Unreachable
from certmgr.kube.resources import Resource

API_GROUP: Final = "webhook.acme.cert-manager.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{API_GROUP}/{VERSION}"
KIND: Final = "ChallengePayload"
PRESENT: Final = "Present"
CLEAN_UP: Final = "CleanUp"


@dataclass(frozen=True, slots=True)
class WebhookSolver:
    """One ``webhook`` block: where the payload goes and the ``config`` it carries."""

    group_name: str
    solver_name: str
    config: Any  # any JSON, passed through as the Issuer holds it; None when absent

    @property
    def resource(self) -> Resource:
        """The aggregated resource the payload is created at (cluster-scoped)."""
        return Resource(self.group_name, VERSION, KIND, self.solver_name, namespaced=False)

    @property
    def described(self) -> str:
        return f"webhook solver {self.solver_name!r} of group {self.group_name!r}"


def parse(config: Mapping[str, Any]) -> WebhookSolver:
    """The webhook block as cert-manager reads it; a DNS01Error for an unusable one."""
    group, solver = config.get("groupName"), config.get("solverName")
    if not isinstance(group, str) or not group:
        raise DNS01Error("webhook groupName must be specified")
    if not isinstance(solver, str) or not solver:
        raise DNS01Error("solver name must be specified")
    if "/" in group or "/" in solver:
        raise DNS01Error("webhook groupName and solverName may not contain '/'")
    return WebhookSolver(group_name=group, solver_name=solver, config=config.get("config"))


def payload(solver: WebhookSolver, request: ChallengeRequest, *, action: str) -> dict[str, Any]:
    """The ChallengePayload cert-manager sends, field for field (``config`` is only the
    block's ``config``, left out when the Issuer has none)."""
    body: dict[str, Any] = {
        "uid": request.uid,
        "action": action,
        "type": "dns-01",
        "dnsName": request.dns_name,
        "key": request.key,
        "resourceNamespace": request.resource_namespace,
        "resolvedFQDN": request.resolved_fqdn,
        "resolvedZone": request.resolved_zone,
        "allowAmbientCredentials": request.allow_ambient_credentials,
    }
    if solver.config is not None:
        body["config"] = solver.config
    return {"apiVersion": API_VERSION, "kind": KIND, "request": body}


def outcome(solver: WebhookSolver, answer: Mapping[str, Any], *, action: str) -> str | None:
    """None when the webhook reports success, else why not (cert-manager's wording)."""
    response = answer.get("response")
    if not isinstance(response, Mapping):
        return f"{solver.described} answered {action} without a response"
    if response.get("success") is True:
        return None
    result = response.get("status")
    if not isinstance(result, Mapping):
        return "invalid payload response, did not succeed but no result provided"
    message = str(result.get("message") or "")
    return message or f"{solver.described} did not succeed ({action}) and gave no message"


def refusal(solver: WebhookSolver, error: APIError) -> str:
    """Why the API server did not deliver the payload, and what to look at."""
    target = f"{solver.solver_name}.{solver.group_name}"
    apiservice = f"v1alpha1.{solver.group_name}"
    if isinstance(error, NotFound):
        return (
            f"the server could not find the requested resource (post {target}): "
            f"is the APIService {apiservice} of the DNS webhook installed?"
        )
    if isinstance(error, Forbidden):
        return (
            f"{error.message} (the DNS webhook's install must grant certmgr's service "
            f"account create on {solver.group_name} resources)"
        )
    if isinstance(error, ServerError) and error.code == 503:
        return (
            f"the server is currently unable to handle the request (post {target}): "
            f"{error.message} (see the status of APIService {apiservice})"
        )
    if isinstance(error, Unreachable):
        return f"the Kubernetes API is unreachable (post {target}): {error.message}"
    return f"{solver.described}: {error.message} (post {target}, HTTP {error.code})"


class WebhookProvider:
    """Presents and cleans up through a cert-manager DNS-01 webhook."""

    def __init__(self, solver: WebhookSolver, *, context: ProviderContext) -> None:
        self._solver = solver
        self._client = context.client

    async def present(self, request: ChallengeRequest) -> float | None:
        await self._call(request, action=PRESENT)
        return None

    async def clean_up(self, request: ChallengeRequest) -> None:
        await self._call(request, action=CLEAN_UP)

    async def _call(self, request: ChallengeRequest, *, action: str) -> None:
        solver = self._solver
        body = payload(solver, request, action=action)
        try:
            if isinstance(self._client, KubeClient):
                # kube-aggregator's 503 (the webhook down) lasts until its APIService
                # says otherwise: one call per attempt, the controller backs off.
                answer = await self._client.create(solver.resource, body, retry_unavailable=False)
            else:
                answer = await self._client.create(solver.resource, body)
        except APIError as exc:
            raise DNS01Error(refusal(solver, exc)) from exc
        problem = outcome(solver, answer, action=action)
        if problem is not None:
            raise DNS01Error(problem)


def build(config: Mapping[str, Any], context: ProviderContext) -> WebhookProvider:
    return WebhookProvider(parse(config), context=context)
