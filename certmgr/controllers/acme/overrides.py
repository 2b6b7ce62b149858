"""The HTTP-01 overrides an Order carries in its annotations, applied to its solver.

ingress-shim writes ``acme.cert-manager.io/http01-override-ingress-name`` (edit in
place), ``-override-ingress-class`` and ``-override-ingress-ingressclassname`` on its
Certificates; they travel Certificate -> CertificateRequest -> Order, and the Order
controller applies them to the solver it picked before writing it into a Challenge, as
cert-manager's ``applyIngressParameterAnnotationOverrides`` does. Owns which keys are
overrides, which ``http01.ingress`` field each one sets (clearing the other two), and
when they cannot apply. Pure: no I/O; it must not choose the solver.
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


class OverrideError(ValueError):
    """The override annotations cannot apply to the chosen solver (stable message)."""


def override_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """The HTTP-01 override annotations among ``annotations`` (what an Order inherits)."""
    return {k: v for k, v in annotations.items() if k in OVERRIDE_FIELDS}


def apply_ingress_overrides(
    solver: Mapping[str, Any], annotations: Mapping[str, str]
) -> dict[str, Any]:
    """A copy of ``solver`` with ``http01.ingress`` changed by the override annotations.

    Without overrides the copy is unchanged. Raises :class:`OverrideError` when more
    than one override is set, or when the solver has no ``http01.ingress`` to change.
    """
    present = override_annotations(annotations)
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
