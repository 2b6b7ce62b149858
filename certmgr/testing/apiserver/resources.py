"""The catalogue of served resource types: built-in kinds and those added by CRDs.

Owns ``ResourceType`` (one group/version/plural as discovery describes it) and the
``Catalogue`` that maps URL segments to types. It must not hold objects; the store does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    status_subresource: bool = False
    # For a CRD version: its openAPIV3Schema; None means "no validation" (built-ins).
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    storage: bool = True
    categories: tuple[str, ...] = ()
    # Whether the server keeps metadata.generation (CRs and a few built-ins, as upstream).
    generation: bool = False
    # A CRD version's additionalPrinterColumns; None for built-ins (tables.py has theirs).
    printer_columns: tuple[dict[str, Any], ...] | None = field(
        default=None, compare=False, hash=False
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> tuple[str, str]:
        """Objects are shared by all versions of one group/plural."""
        return (self.group, self.plural)

    @property
    def is_custom(self) -> bool:
        return self.schema is not None


def _builtin(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    generation: bool = False,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        singular=kind.lower(),
        short_names=short,
        status_subresource=status,
        generation=generation,
    )


BUILTINS: tuple[ResourceType, ...] = (
    _builtin("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",), status=True),
    _builtin("", "v1", "Secret", "secrets"),
    _builtin("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _builtin("", "v1", "Service", "services", short=("svc",), status=True),
    _builtin("", "v1", "Pod", "pods", short=("po",), status=True),
    _builtin("", "v1", "Event", "events", short=("ev",)),
    _builtin("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _builtin("events.k8s.io", "v1", "Event", "events", short=("ev",)),
    _builtin("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _builtin(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        short=("ing",),
        status=True,
        generation=True,
    ),
    # Stored only (no controller runs them), so install manifests apply as on a cluster.
    _builtin(
        "apps", "v1", "Deployment", "deployments", short=("deploy",), status=True, generation=True
    ),
    _builtin(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short=("pdb",),
        status=True,
        generation=True,
    ),
    _builtin(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        namespaced=False,
        generation=True,
    ),
    # Stored only: the simulator calls no admission webhook (``certmgr check`` reads them).
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        namespaced=False,
        generation=True,
    ),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        namespaced=False,
        generation=True,
    ),
    _builtin("coordination.k8s.io", "v1", "Lease", "leases"),
    _builtin("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        namespaced=False,
    ),
    # API aggregation: requests under /apis/<group>/<version> go to spec.service.
    _builtin(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        namespaced=False,
        status=True,
    ),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short=("crd", "crds"),
        status=True,
        generation=True,
    ),
)

NAMESPACES = BUILTINS[0]
APISERVICES = BUILTINS[-2]
CRDS = BUILTINS[-1]


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """Every served version of a CRD as a ResourceType."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    found = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        found.append(
            ResourceType(
                group=spec.get("group", ""),
                version=version["name"],
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular", "") or names.get("kind", "").lower(),
                short_names=tuple(names.get("shortNames", ())),
                status_subresource="status" in subresources,
                schema=schema,
                storage=bool(version.get("storage", False)),
                categories=tuple(names.get("categories", ())),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                generation=True,
            )
        )
    return found


class Catalogue:
    """Lookup of served types by (group, version, plural), kept in registration order."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in BUILTINS:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove_group_resource(self, group: str, plural: str) -> None:
        for key in [k for k in self._types if k[0] == group and k[2] == plural]:
            del self._types[key]

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rtype in self._types.values():
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        return None

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """group -> versions, in first-seen order; the first version is preferred."""
        found: dict[str, list[str]] = {}
        for group, version, _ in self._types:
            versions = found.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        return found
