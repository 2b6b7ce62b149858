"""Which references of Gateways and HTTPRoutes a Gateway implementation may follow, and
whether they resolve.

Owns the reference rules of the spec as pure functions over JSON dicts: a reference into
another namespace needs a ReferenceGrant there (``from`` the referring kind and
namespace, ``to`` the kind, all or one named object); listener ``certificateRefs`` must
be core Secrets of type ``kubernetes.io/tls`` holding a pair (``InvalidCertificateRef``,
``RefNotPermitted``); ``backendRefs`` must be core Services that exist (``InvalidKind``,
``RefNotPermitted``, ``BackendNotFound``); ``allowedRoutes`` namespace selectors are
metav1.LabelSelectors. It must not do I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

GROUP: Final = "gateway.networking.k8s.io"
Key = tuple[str, str]  # (namespace or "", name)


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


class References:
    """Lookups over the objects listeners and routes refer to."""

    def __init__(
        self,
        *,
        grants: Iterable[Mapping[str, Any]],
        namespaces: Iterable[Mapping[str, Any]],
        services: Iterable[Mapping[str, Any]],
        secrets: Iterable[Mapping[str, Any]],
    ) -> None:
        self.grants = list(grants)
        self.namespaces = {meta_key(n)[1]: n for n in namespaces}
        self.services = {meta_key(s): s for s in services}
        self.secrets = {meta_key(s): s for s in secrets}

    def granted(self, *, from_kind: str, from_namespace: str, to: Key, to_kind: str) -> bool:
        """Whether a ReferenceGrant in ``to``'s namespace allows the reference."""
        for grant in self.grants:
            if meta_key(grant)[0] != to[0]:
                continue
            spec = grant.get("spec") or {}
            allowed_from = any(
                f.get("group") == GROUP
                and f.get("kind") == from_kind
                and f.get("namespace") == from_namespace
                for f in spec.get("from") or ()
            )
            allowed_to = any(
                (t.get("group") or "") == ""
                and t.get("kind") == to_kind
                and t.get("name") in (None, "", to[1])
                for t in spec.get("to") or ()
            )
            if allowed_from and allowed_to:
                return True
        return False

    def secret_problem(
        self,
        ref: Mapping[str, Any],
        key: Key,
        *,
        namespace: str,
    ) -> Condition | None:
        ident = f"{key[0]}/{key[1]}"
        if (ref.get("group") or "") != "" or (ref.get("kind") or "Secret") != "Secret":
            kind = f"{ref.get('group') or 'core'}/{ref.get('kind')}"
            message = f"certificateRef {ident}: kind {kind} is not supported"
            return Condition("ResolvedRefs", False, "InvalidCertificateRef", message)
        if key[0] != namespace and not self.granted(
            from_kind="Gateway", from_namespace=namespace, to=key, to_kind="Secret"
        ):
            message = f"certificateRef to Secret {ident} is not permitted by any ReferenceGrant"
            return Condition("ResolvedRefs", False, "RefNotPermitted", message)
        secret = self.secrets.get(key)
        data = (secret or {}).get("data") or {}
        if secret is None:
            return Condition(
                "ResolvedRefs", False, "InvalidCertificateRef", f"Secret {ident} not found"
            )
        if (
            secret.get("type") != "kubernetes.io/tls"
            or not data.get("tls.crt")
            or not data.get("tls.key")
        ):
            message = f"Secret {ident} is not a kubernetes.io/tls Secret with tls.crt and tls.key"
            return Condition("ResolvedRefs", False, "InvalidCertificateRef", message)
        return None

    def backend_problem(
        self,
        ref: Mapping[str, Any],
        namespace: str,
    ) -> Condition | None:
        key = (str(ref.get("namespace") or namespace), str(ref.get("name") or ""))
        ident = f"{key[0]}/{key[1]}"
        if (ref.get("group") or "") != "" or (ref.get("kind") or "Service") != "Service":
            kind = f"{ref.get('group') or 'core'}/{ref.get('kind')}"
            return Condition(
                "ResolvedRefs", False, "InvalidKind", f"backendRef {ident}: kind {kind}"
            )
        if key[0] != namespace and not self.granted(
            from_kind="HTTPRoute", from_namespace=namespace, to=key, to_kind="Service"
        ):
            message = f"backendRef to Service {ident} is not permitted by any ReferenceGrant"
            return Condition("ResolvedRefs", False, "RefNotPermitted", message)
        if key not in self.services:
            return Condition("ResolvedRefs", False, "BackendNotFound", f"Service {ident} not found")
        return None


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or ()
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def meta_key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
