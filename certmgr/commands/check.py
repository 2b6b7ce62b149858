"""``certmgr check``: is this cluster ready for certmgr, e.g. after moving off cert-manager
(docs/migrating.md)? One line per check, exit 0 when all pass, 1 otherwise.

Checks: the six CRDs are installed with every field of ours (the bundled CRDs' schemas)
and no conversion webhook; no ValidatingWebhookConfiguration or
MutatingWebhookConfiguration of cert-manager is left (they reject writes once its
webhook is gone); no cert-manager controller Deployment runs; the RBAC of deploy/rbac.yaml
is granted to certmgr's service account (SubjectAccessReviews). It only reads (and
creates access reviews, which store nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from certmgr import bundled
from certmgr.api.codec import parse_rfc3339
from certmgr.commands.connecting import connect, describe_error, run_command
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import APIError, NotFound
from certmgr.kube.resources import CRDS, LEASES, Resource
from certmgr.runtime.logging import LEVELS

DEPLOYMENTS: Final = Resource("apps", "v1", "Deployment", "deployments", namespaced=True)
WEBHOOK_CONFIGURATIONS: Final = (
    Resource(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        namespaced=False,
    ),
    Resource(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        namespaced=False,
    ),
)
SUBJECT_ACCESS_REVIEWS: Final = Resource(
    "authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False
)
# cert-manager's controller Lease with its chart's default --leader-election-namespace.
CERT_MANAGER_LEASE: Final = ("kube-system", "cert-manager-controller")
CERT_MANAGER_GROUPS: Final = frozenset({"cert-manager.io", "acme.cert-manager.io", "*"})
INSTALL_CRDS: Final = "certmgr manifests crds | kubectl apply -f -"
SHOWN: Final = 5  # items named in one line before "and N more"


@dataclass(frozen=True, slots=True)
class Result:
    check: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.check}: {self.detail}"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        help="path to a kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)",
    )
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument(
        "--service-account",
        default="certmgr/certmgr",
        metavar="NAMESPACE/NAME",
        help="certmgr's service account, whose RBAC is checked (default: certmgr/certmgr)",
    )
    parser.add_argument("--log-level", default="warning", choices=LEVELS, help="logs go to stderr")


def run(args: argparse.Namespace) -> int:
    namespace, _, name = args.service_account.partition("/")
    if not namespace or not name:
        print("certmgr: error: --service-account wants NAMESPACE/NAME", file=sys.stderr)
        return 2

    async def main() -> int:
        async with connect(args) as client:
            results = await check_all(client, namespace=namespace, service_account=name)
        for result in results:
            print(result.line())
        return 0 if all(r.ok for r in results) else 1

    return run_command(main, log_level=args.log_level)


async def check_all(client: KubeClient, *, namespace: str, service_account: str) -> list[Result]:
    crds, webhooks, controllers, rbac = await asyncio.gather(
        check_crds(client),
        check_webhooks(client),
        check_controllers(client),
        check_rbac(client, namespace=namespace, service_account=service_account),
    )
    return [*crds, webhooks, controllers, rbac]


# -- CRDs ------------------------------------------------------------------------------


async def check_crds(client: KubeClient) -> list[Result]:
    results = []
    for wanted in bundled.documents(bundled.kustomization_files("crds")):
        name = wanted["metadata"]["name"]
        try:
            live = await client.get(CRDS, name)
        except NotFound:
            live = None
        results.append(crd_result(wanted, live))
    return results


def crd_result(wanted: dict[str, Any], live: dict[str, Any] | None) -> Result:
    name = wanted["metadata"]["name"]
    check = f"crd {name}"
    if live is None:
        return Result(check, False, f"not installed ({INSTALL_CRDS})")
    strategy = ((live.get("spec") or {}).get("conversion") or {}).get("strategy", "None")
    if strategy != "None":
        return Result(
            check,
            False,
            f"conversion strategy {strategy} (cert-manager's webhook converts it; install "
            f"ours: {INSTALL_CRDS})",
        )
    missing = sorted(schema_paths(wanted) - schema_paths(live))
    if missing:
        return Result(check, False, f"lacks {_some(missing)} ({INSTALL_CRDS})")
    return Result(check, True, "installed, with every field certmgr uses")


def schema_paths(crd: dict[str, Any]) -> set[str]:
    """Every field path of the served v1 schema (``spec.dnsNames[]``, ``status.x``)."""
    for version in (crd.get("spec") or {}).get("versions") or []:
        if version.get("name") == "v1" and version.get("served", True):
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
            return set(_paths(schema, ""))
    return set()


def _paths(schema: dict[str, Any], prefix: str) -> Iterator[str]:
    for key, child in (schema.get("properties") or {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path
        yield from _paths(child, path)
    if isinstance(schema.get("items"), dict):
        yield from _paths(schema["items"], f"{prefix}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _paths(schema["additionalProperties"], f"{prefix}{{}}")


# -- cert-manager leftovers -------------------------------------------------------------


async def check_webhooks(client: KubeClient) -> Result:
    left: list[str] = []
    for resource in WEBHOOK_CONFIGURATIONS:
        listed = await client.list(resource)
        left += [
            f"{resource.kind} {c['metadata']['name']}"
            for c in listed.items
            if cert_manager_webhook(c)
        ]
    if left:
        return Result(
            "webhooks",
            False,
            f"cert-manager's {_some(left)} still installed: they reject writes to "
            "cert-manager.io objects once its webhook is gone; delete them",
        )
    return Result("webhooks", True, "no cert-manager webhook configuration")


def cert_manager_webhook(configuration: dict[str, Any]) -> bool:
    """A webhook configuration that intercepts cert-manager's API groups or calls its
    webhook Service."""
    for webhook in configuration.get("webhooks") or []:
        service = (webhook.get("clientConfig") or {}).get("service") or {}
        if "cert-manager" in str(service.get("name", "")):
            return True
        for rule in webhook.get("rules") or []:
            if CERT_MANAGER_GROUPS & set(rule.get("apiGroups") or []):
                return True
    return False


async def check_controllers(client: KubeClient, *, now: datetime | None = None) -> Result:
    listed = await client.list(DEPLOYMENTS)
    running = [
        f"Deployment {d['metadata']['namespace']}/{d['metadata']['name']}"
        for d in listed.items
        if cert_manager_controller(d) and (d.get("spec") or {}).get("replicas", 1) != 0
    ]
    # However it was installed, a running cert-manager controller renews its Lease.
    namespace, name = CERT_MANAGER_LEASE
    try:
        lease = await client.get(LEASES, name, namespace=namespace)
    except NotFound:
        lease = None
    if lease is not None and lease_held(lease, now=now or datetime.now(UTC)):
        running.append(f"Lease {namespace}/{name} (renewed by a running controller)")
    if running:
        return Result(
            "cert-manager controller",
            False,
            f"{_some(running)}: cert-manager runs, and it and certmgr would both reconcile every "
            "Certificate; delete it (or scale it to 0)",
        )
    return Result("cert-manager controller", True, "no cert-manager controller Deployment runs")


def lease_held(lease: dict[str, Any], *, now: datetime) -> bool:
    """Whether a Lease's holder renewed it within its duration (as a candidate would see)."""
    spec = lease.get("spec") or {}
    renewed, holder = spec.get("renewTime"), spec.get("holderIdentity")
    if not renewed or not holder:
        return False
    try:
        renew_time = parse_rfc3339(str(renewed))
    except ValueError:
        return False
    duration = timedelta(seconds=float(spec.get("leaseDurationSeconds") or 60))
    return now - renew_time <= duration


def cert_manager_controller(deployment: dict[str, Any]) -> bool:
    labels = (deployment.get("metadata") or {}).get("labels") or {}
    if labels.get("app.kubernetes.io/name") == "cert-manager" and labels.get(
        "app.kubernetes.io/component"
    ) in ("controller", None):
        return True
    pod_spec = (((deployment.get("spec") or {}).get("template") or {}).get("spec")) or {}
    images = [str(c.get("image", "")) for c in pod_spec.get("containers") or []]
    return any(
        "/cert-manager-controller" in image or image.startswith("cert-manager-controller")
        for image in images
    )


# -- RBAC ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Permission:
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def __str__(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        qualified = f"{resource}.{self.group}" if self.group else resource
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {qualified}{where}"


def shipped_permissions(docs: Iterable[dict[str, Any]], *, namespace: str) -> list[Permission]:
    """Every permission deploy/rbac.yaml grants: ClusterRoles cluster-wide, Roles in
    certmgr's namespace."""
    out: list[Permission] = []
    for doc in docs:
        if doc.get("kind") not in ("ClusterRole", "Role"):
            continue
        scope = namespace if doc["kind"] == "Role" else ""
        for rule in doc.get("rules") or []:
            for group in rule.get("apiGroups") or [""]:
                for resource in rule.get("resources") or []:
                    plain, _, sub = resource.partition("/")
                    for verb in rule.get("verbs") or []:
                        for name in rule.get("resourceNames") or [""]:
                            out.append(Permission(verb, group, plain, sub, scope, name))
    return out


async def check_rbac(client: KubeClient, *, namespace: str, service_account: str) -> Result:
    user = f"system:serviceaccount:{namespace}:{service_account}"
    rbac = [p for p in bundled.kustomization_files("deploy") if p.name == "rbac.yaml"]
    permissions = shipped_permissions(bundled.documents(rbac), namespace=namespace)
    groups = [
        "system:serviceaccounts",
        f"system:serviceaccounts:{namespace}",
        "system:authenticated",
    ]
    try:
        answers = await asyncio.gather(
            *(_allowed(client, p, user=user, groups=groups) for p in permissions)
        )
    except APIError as exc:
        return Result("rbac", False, f"cannot ask the API server: {describe_error(exc)}")
    denied = [str(p) for p, ok in zip(permissions, answers, strict=True) if not ok]
    if denied:
        return Result(
            "rbac",
            False,
            f"{user} may not {_some(denied)} (certmgr manifests deploy | kubectl apply -f -)",
        )
    return Result("rbac", True, f"{user} has the {len(permissions)} permissions certmgr uses")


async def _allowed(
    client: KubeClient, permission: Permission, *, user: str, groups: list[str]
) -> bool:
    attributes = {
        "verb": permission.verb,
        "group": permission.group,
        "resource": permission.resource,
    }
    for key in ("subresource", "namespace", "name"):
        if getattr(permission, key):
            attributes[key] = getattr(permission, key)
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": attributes},
    }
    answer = await client.create(SUBJECT_ACCESS_REVIEWS, review)
    return bool((answer.get("status") or {}).get("allowed"))


def _some(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown if len(items) <= SHOWN else f"{shown} and {len(items) - SHOWN} more"
