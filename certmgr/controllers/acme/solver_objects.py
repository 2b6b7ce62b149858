"""The objects that present an HTTP-01 challenge, built from the Challenge's solver spec.

Owns the manifests (JSON at the client's edge) of the solver Service, Ingress, HTTPRoute
and Pod, cert-manager's solver labels, and the edit-in-place path surgery on a user's
Ingress:
- shared mode: the namespace's one Service (``cm-acme-http-solver-shared``, owned by no
  Challenge, see :mod:`solver_services`) reaching the solver that runs in every
  controller replica, without a selector (each replica's EndpointSlice lists it) or an
  ExternalName, and the Challenge's solver Ingress routing the token's path to it;
- pod mode (``solver_mode="pod"`` or any ``podTemplate``): a solver Pod running our
  ``solvers`` image with cert-manager's acmesolver flags, a Service selecting it
  (``serviceType``, NodePort by default as in cert-manager), and the solver Ingress;
- a ``gatewayHTTPRoute`` solver gets an HTTPRoute instead of the Ingress (cert-manager's
  shape: the solver's ``parentRefs`` and ``labels``, the challenge's name as hostname,
  the token's path as an Exact match, the solver Service as backend); its
  ``serviceType`` and ``podTemplate`` act as an Ingress solver's do.
Ingresses honour ``ingressClassName``, ``class`` and ``ingressTemplate`` metadata; Pods
honour ``podTemplate`` metadata, resources and the scheduling fields of its spec, and
pass Pod Security ``restricted`` as cert-manager's do (a template's securityContext is
laid over those defaults field by field: only a field the user sets can weaken them).
Everything but the shared Service is owned by the Challenge, so the garbage collector
removes it with the Challenge; only an edit-in-place path needs the Challenge's
finalizer (:func:`needs_finalizer`). Pure: no I/O.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from certmgr.api import labels
from certmgr.controllers.acme.names import SOLVER_PREFIX, label_value

SOLVER_PORT: Final = 8089
# Shared mode's Service, one per namespace (not hex: never a per-Challenge solver name).
SHARED_SERVICE: Final = SOLVER_PREFIX + "shared"
CLASS_ANNOTATION: Final = labels.INGRESS_CLASS
WHITELIST_ANNOTATION: Final = "nginx.ingress.kubernetes.io/whitelist-source-range"
PATH_TYPE: Final = "ImplementationSpecific"
# cert-manager's podTemplate.spec fields; anything else would change what the solver is.
POD_SPEC_FIELDS: Final = (
    "nodeSelector",
    "tolerations",
    "affinity",
    "priorityClassName",
    "serviceAccountName",
    "imagePullSecrets",
)
# cert-manager's solver Pod security (pkg/issuer/acme/http/pod.go): Pod Security
# "restricted" admits it.
POD_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True, slots=True)
class SolverTarget:
    """What the solver objects are for: one Challenge, as the builders need it."""

    name: str  # of the Service, Ingress and Pod
    namespace: str
    dns_name: str
    token: str
    key: str
    owner: Mapping[str, Any]  # ownerReference to the Challenge
    ingress: Mapping[str, Any] = field(default_factory=dict)  # solver.http01.ingress
    # solver.http01.gatewayHTTPRoute; None for an Ingress solver.
    route: Mapping[str, Any] | None = None

    @property
    def http01(self) -> Mapping[str, Any]:
        """The solver's config that holds ``serviceType`` and ``podTemplate``."""
        return self.route if self.route is not None else self.ingress

    @property
    def path(self) -> str:
        return f"/.well-known/acme-challenge/{self.token}"

    @property
    def host(self) -> str | None:
        """The Ingress host; an IP identifier cannot be one (cert-manager leaves it out)."""
        try:
            ipaddress.ip_address(self.dns_name)
        except ValueError:
            return self.dns_name
        return None


def uses_pod(target: SolverTarget, *, solver_mode: str) -> bool:
    return solver_mode == "pod" or target.http01.get("podTemplate") is not None


def needs_finalizer(solver: Mapping[str, Any]) -> bool:
    """Whether a Challenge with ``solver`` needs the finalizer: only an edit-in-place path
    on a user's Ingress outlives the Challenge (it is not owned by it)."""
    ingress = (solver.get("http01") or {}).get("ingress") or {}
    return bool(ingress.get("name"))


def solver_labels(target: SolverTarget) -> dict[str, str]:
    return {
        labels.HTTP01_SOLVER: "true",
        labels.HTTP_DOMAIN: label_value(target.dns_name),
        labels.HTTP_TOKEN: label_value(target.token),
    }


def _metadata(target: SolverTarget, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": target.name,
        "namespace": target.namespace,
        "labels": solver_labels(target),
        "ownerReferences": [dict(target.owner)],
    }
    meta.update(extra)
    return meta


def shared_service(
    namespace: str, *, host: str, port: int, service_type: str = "ExternalName"
) -> dict[str, Any]:
    """Shared mode: the namespace's Service to the solver every replica serves: an
    ExternalName to ``host``, or (``EndpointSlice``) one without a selector whose
    EndpointSlices each replica writes (:mod:`solver_endpoints`)."""
    if service_type == "EndpointSlice":
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": SHARED_SERVICE,
                "namespace": namespace,
                "labels": {labels.HTTP01_SOLVER: "true"},
            },
            "spec": {
                "type": "ClusterIP",
                "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
            },
        }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": SHARED_SERVICE,
            "namespace": namespace,
            "labels": {labels.HTTP01_SOLVER: "true"},
        },
        "spec": {
            "type": "ExternalName",
            "externalName": host,
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def pod_service(target: SolverTarget) -> dict[str, Any]:
    """Pod mode: a Service selecting the solver Pod."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(target),
        "spec": {
            "type": target.http01.get("serviceType") or "NodePort",
            "selector": solver_labels(target),
            "ports": [
                {"name": "http", "port": SOLVER_PORT, "targetPort": SOLVER_PORT, "protocol": "TCP"}
            ],
        },
    }


def acmesolver_args(target: SolverTarget) -> list[str]:
    """Exactly cert-manager's acmesolver args (pkg/issuer/acme/http/pod.go), so its public
    image works as ``--http01-solver-image``; it listens on all of the Pod's interfaces."""
    return [
        f"--listen-port={SOLVER_PORT}",
        f"--domain={target.dns_name}",
        f"--token={target.token}",
        f"--key={target.key}",
    ]


def solver_pod(target: SolverTarget, *, image: str) -> dict[str, Any]:
    """Pod mode: the solver Pod (cert-manager's acmesolver flags), podTemplate merged."""
    template = target.http01.get("podTemplate") or {}
    template_meta = template.get("metadata") or {}
    pod_labels = {**(template_meta.get("labels") or {}), **solver_labels(target)}
    annotations = {"sidecar.istio.io/inject": "false", **(template_meta.get("annotations") or {})}
    spec: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "enableServiceLinks": False,
        # The solver never talks to the API server.
        "automountServiceAccountToken": False,
        "securityContext": copy.deepcopy(dict(POD_SECURITY_CONTEXT)),
        "containers": [
            {
                "name": "acmesolver",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": acmesolver_args(target),
                "ports": [{"name": "http", "containerPort": SOLVER_PORT}],
                "securityContext": copy.deepcopy(dict(CONTAINER_SECURITY_CONTEXT)),
            }
        ],
    }
    template_spec = template.get("spec") or {}
    for name in POD_SPEC_FIELDS:
        if template_spec.get(name) is not None:
            spec[name] = copy.deepcopy(template_spec[name])
    template_security = template_spec.get("securityContext")
    if isinstance(template_security, Mapping):
        spec["securityContext"].update(copy.deepcopy(dict(template_security)))
    # podTemplate.spec.resources is the solver container's, as in cert-manager.
    resources = template_spec.get("resources") or {}
    wanted = {k: dict(resources[k]) for k in ("requests", "limits") if resources.get(k)}
    if wanted:
        spec["containers"][0]["resources"] = wanted
    meta = _metadata(target, annotations=annotations)
    meta["labels"] = pod_labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _path(target: SolverTarget, service: str, port: int) -> dict[str, Any]:
    return {
        "path": target.path,
        "pathType": PATH_TYPE,
        "backend": {"service": {"name": service, "port": {"number": port}}},
    }


def solver_ingress(target: SolverTarget, *, service: str, port: int) -> dict[str, Any]:
    """The temporary Ingress routing the token's path on the name to the solver Service."""
    template_meta = (target.ingress.get("ingressTemplate") or {}).get("metadata") or {}
    annotations: dict[str, str] = {WHITELIST_ANNOTATION: "0.0.0.0/0,::/0"}
    if target.ingress.get("class"):
        annotations[CLASS_ANNOTATION] = str(target.ingress["class"])
    annotations.update(template_meta.get("annotations") or {})
    meta = _metadata(target, annotations=annotations)
    meta["labels"] = {**(template_meta.get("labels") or {}), **solver_labels(target)}
    rule: dict[str, Any] = {"http": {"paths": [_path(target, service, port)]}}
    if target.host is not None:
        rule["host"] = target.host
    spec: dict[str, Any] = {"rules": [rule]}
    if target.ingress.get("ingressClassName"):
        spec["ingressClassName"] = target.ingress["ingressClassName"]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def solver_http_route(target: SolverTarget, *, service: str, port: int) -> dict[str, Any]:
    """The temporary HTTPRoute routing the token's path on the name to the solver Service
    (cert-manager's: the solver's labels over ours; no hostname for an IP identifier,
    which Gateway API hostnames cannot be)."""
    route = target.route or {}
    meta = _metadata(target)
    meta["labels"] = {**solver_labels(target), **(route.get("labels") or {})}
    backend = {
        "group": "",
        "kind": "Service",
        "name": service,
        "namespace": target.namespace,
        "port": port,
        "weight": 1,
    }
    rule = {
        "matches": [{"path": {"type": "Exact", "value": target.path}}],
        "backendRefs": [backend],
    }
    spec: dict[str, Any] = {
        "parentRefs": copy.deepcopy(list(route.get("parentRefs") or ())),
        "rules": [rule],
    }
    if target.host is not None:
        spec["hostnames"] = [target.host]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": meta,
        "spec": spec,
    }


def with_solver_path(
    ingress: dict[str, Any], target: SolverTarget, *, service: str, port: int
) -> dict[str, Any] | None:
    """Edit in place: ``ingress`` with the token's path added; None if already there."""
    new = copy.deepcopy(ingress)
    rules: list[dict[str, Any]] = new.setdefault("spec", {}).setdefault("rules", [])
    rule = next((r for r in rules if r.get("host") == target.host), None)
    if rule is None:
        rule = {"http": {"paths": []}}
        if target.host is not None:
            rule["host"] = target.host
        rules.append(rule)
    paths: list[dict[str, Any]] = rule.setdefault("http", {}).setdefault("paths", [])
    if any(_ours(p, target) for p in paths):
        return None
    paths.append(_path(target, service, port))
    return new


def without_solver_path(ingress: dict[str, Any], target: SolverTarget) -> dict[str, Any] | None:
    """Edit in place, undone: ``ingress`` without our paths (and rules they emptied)."""
    new = copy.deepcopy(ingress)
    changed = False
    kept_rules = []
    for rule in (new.get("spec") or {}).get("rules") or []:
        paths = (rule.get("http") or {}).get("paths") or []
        kept = [p for p in paths if not _ours(p, target)]
        if len(kept) != len(paths):
            changed = True
            if not kept:
                continue
            rule["http"]["paths"] = kept
        kept_rules.append(rule)
    if not changed:
        return None
    new["spec"]["rules"] = kept_rules
    return new


def _ours(path: Mapping[str, Any], target: SolverTarget) -> bool:
    """The Challenge's path: its token's path, to its own Service or the shared one."""
    return path.get("path") == target.path and _backend(path) in (target.name, SHARED_SERVICE)


def _backend(path: Mapping[str, Any]) -> str | None:
    service = (path.get("backend") or {}).get("service") or {}
    name = service.get("name")
    return str(name) if name else None
