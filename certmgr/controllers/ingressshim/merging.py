"""Existing Certificates vs desired ones: ownership, the update body, what to delete.

Owns which parts of a Certificate belong to ingress-shim and the rule that the shim
touches only Certificates controlled by the Ingress (a controller ownerReference with
the Ingress's uid), as cert-manager's ``IsControlledBy``. The shim's parts are the spec
fields it derives (``SHIM_SPEC_FIELDS``: set when desired, removed when not), the labels
(replaced by the Ingress's, as cert-manager does) and the HTTP-01 override and parentRef
annotations (``SHIM_ANNOTATIONS``); everything else a user or another controller put on the
Certificate (``keystores``, other annotations, status) is kept. Unlike cert-manager's
``certNeedsUpdate``, every shim field is compared, so a changed ``usages`` or
``secret-template`` annotation reaches the Certificate too.

Pure: no I/O. It must not decide what is desired (``desired``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Final

from certmgr.api import labels

Obj = dict[str, Any]

SHIM_SPEC_FIELDS: Final = (
    "secretName",
    "issuerRef",
    "commonName",
    "subject",
    "dnsNames",
    "ipAddresses",
    "uris",
    "emailAddresses",
    "duration",
    "renewBefore",
    "renewBeforePercentage",
    "usages",
    "revisionHistoryLimit",
    "privateKey",
    "secretTemplate",
)
SHIM_ANNOTATIONS: Final = (
    labels.HTTP01_OVERRIDE_INGRESS_NAME,
    labels.HTTP01_OVERRIDE_INGRESS_CLASS,
    labels.HTTP01_OVERRIDE_INGRESS_CLASSNAME,
    labels.ISSUE_TEMPORARY_CERTIFICATE,
    labels.HTTP01_PARENT_REF_KIND,
    labels.HTTP01_PARENT_REF_NAME,
    labels.HTTP01_PARENT_REF_NAMESPACE,
)


def controller_of(obj: Obj) -> Obj | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """True when ``obj``'s controller ownerReference names ``owner``'s uid."""
    ref = controller_of(obj)
    uid = (owner.get("metadata") or {}).get("uid")
    return ref is not None and bool(uid) and ref.get("uid") == uid


def updated_certificate(existing: Obj, desired: Obj) -> Obj | None:
    """``existing`` with the shim's parts taken from ``desired``; None if already equal.

    Keeps ``existing``'s resourceVersion, so the update fails with a Conflict rather
    than overwrite a change the cache has not seen yet.
    """
    body = copy.deepcopy(existing)
    spec = body.setdefault("spec", {})
    wanted = desired.get("spec") or {}
    for field in SHIM_SPEC_FIELDS:
        if field in wanted:
            spec[field] = copy.deepcopy(wanted[field])
        else:
            spec.pop(field, None)
    metadata = body["metadata"]
    wanted_metadata = desired.get("metadata") or {}
    _set_or_drop(metadata, "labels", dict(wanted_metadata.get("labels") or {}))
    annotations = dict(metadata.get("annotations") or {})
    wanted_annotations = wanted_metadata.get("annotations") or {}
    for key in SHIM_ANNOTATIONS:
        if key in wanted_annotations:
            annotations[key] = wanted_annotations[key]
        else:
            annotations.pop(key, None)
    _set_or_drop(metadata, "annotations", annotations)
    return None if _same(body, existing) else body


def certificates_to_delete(
    certificates: Iterable[Obj], ingress: Obj, *, secret_names: frozenset[str]
) -> list[Obj]:
    """Certificates this Ingress controls whose secretName no tls entry names any more."""
    return sorted(
        (
            certificate
            for certificate in certificates
            if is_controlled_by(certificate, ingress)
            and (certificate.get("spec") or {}).get("secretName") not in secret_names
        ),
        key=lambda c: str(c["metadata"]["name"]),
    )


def _set_or_drop(metadata: Obj, key: str, value: dict[str, str]) -> None:
    if value:
        metadata[key] = value
    else:
        metadata.pop(key, None)


def _same(a: Obj, b: Obj) -> bool:
    """Equal, reading a missing labels/annotations map as an empty one."""
    for key in ("labels", "annotations"):
        if (a["metadata"].get(key) or {}) != (b["metadata"].get(key) or {}):
            return False
    return a.get("spec") == b.get("spec")
