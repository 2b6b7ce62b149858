"""The HTTP-01 overrides an Order carries in its annotations, applied to its solver.

ingress-shim writes ``acme.cert-manager.io/http01-override-ingress-name`` (edit in
place), ``-override-ingress-class`` and ``-override-ingress-ingressclassname`` on its
Certificates; they travel Certificate -> CertificateRequest -> Order, and the Order
controller applies them to the solver it picked before writing it into a Challenge, as
cert-manager's ``applyIngressParameterAnnotationOverrides`` does. gateway-shim writes
``acme.cert-manager.io/http01-parentrefname``/``-kind`` (``-namespace``): the Gateway
becomes a parentRef of a ``gatewayHTTPRoute`` solver (cert-manager's
``applyGatewayAPIAnnotationParentRefOverride``). Owns which keys are overrides, which
solver field each one sets, and when they cannot apply. Pure: no I/O; it must not
choose the solver.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from certmgr.api import labels

# Override annotation -> the solver's http01.ingress field it sets. An Ingress is
# chosen by exactly one of these, so setting one clears the other two (cert-manager
# does the same: ingressClassName and class together are refused by the API).
OVERRIDE_FIELDS: Final = {
    labels.HTTP01_OVERRIDE_INGRESS_NAME: "name",
    labels.HTTP01_OVERRIDE_INGRESS_CLASS: "class",
    labels.HTTP01_OVERRIDE_INGRESS_CLASSNAME: "ingressClassName",
}


PARENT_REF_ANNOTATIONS: Final = (
    labels.HTTP01_PARENT_REF_NAME,
    labels.HTTP01_PARENT_REF_KIND,
    labels.HTTP01_PARENT_REF_NAMESPACE,
)


class OverrideError(ValueError):
    """The override annotations cannot apply to the chosen solver (stable message)."""


def override_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """The HTTP-01 override annotations among ``annotations`` (what an Order inherits)."""
    return {
        k: v for k, v in annotations.items() if k in OVERRIDE_FIELDS or k in PARENT_REF_ANNOTATIONS
    }


def apply_ingress_overrides(
    solver: Mapping[str, Any], annotations: Mapping[str, str]
) -> dict[str, Any]:
    """A copy of ``solver`` with ``http01.ingress`` changed by the override annotations.

    Without overrides the copy is unchanged. Raises :class:`OverrideError` when more
    than one override is set, or when the solver has no ``http01.ingress`` to change.
    """
    present = {k: v for k, v in annotations.items() if k in OVERRIDE_FIELDS}
    result = copy.deepcopy(dict(solver))
    if not present:
        return result
    if len(present) > 1:
        keys = ", ".join(f'"{k}"' for k in sorted(present))
        raise OverrideError(f"only one HTTP-01 ingress override may be set at a time, found {keys}")
    ((key, value),) = present.items()
    ingress = (result.get("http01") or {}).get("ingress")
    if not isinstance(ingress, dict):
        raise OverrideError(
            f'annotation "{key}" needs a solver with http01.ingress, '
            "but the selected solver has none"
        )
    for field in OVERRIDE_FIELDS.values():
        ingress.pop(field, None)
    ingress[OVERRIDE_FIELDS[key]] = value
    return result


def apply_parent_ref_overrides(
    solver: Mapping[str, Any], annotations: Mapping[str, str], *, namespace: str
) -> dict[str, Any]:
    """A copy of ``solver`` whose ``http01.gatewayHTTPRoute.parentRefs`` has the parent the
    annotations name (replacing a ref to the same object), as cert-manager. Only for a
    gatewayHTTPRoute solver; raises :class:`OverrideError` when just one of name and kind
    is given, or when the route would have no parent at all."""
    result = copy.deepcopy(dict(solver))
    route = (result.get("http01") or {}).get("gatewayHTTPRoute")
    if not isinstance(route, dict):
        return result
    name = annotations.get(labels.HTTP01_PARENT_REF_NAME)
    kind = annotations.get(labels.HTTP01_PARENT_REF_KIND)
    if (name is None) != (kind is None):
        raise OverrideError(
            "cannot specify only one of parentRefName, parentRefKind override annotations"
        )
    refs = [ref for ref in route.get("parentRefs") or () if isinstance(ref, dict)]
    if name is not None and kind is not None:
        parent_namespace = annotations.get(labels.HTTP01_PARENT_REF_NAMESPACE) or namespace
        # As cert-manager: a ref without a namespace is not compared (it is kept beside
        # the annotation's; both attach the route to the Gateway).
        refs = [
            ref
            for ref in refs
            if not (
                ref.get("namespace") == parent_namespace
                and ref.get("name") == name
                and ref.get("kind") in (None, kind)
            )
        ]
        refs.append({"name": name, "namespace": parent_namespace, "kind": kind})
    if not refs:
        raise OverrideError("must specify parentRefs either through annotations or solver config")
    route["parentRefs"] = refs
    return result
