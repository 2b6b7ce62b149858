"""Ingress -> the Certificates it asks for: one per ``spec.tls`` entry, as cert-manager.

Owns the pure decision of ingress-shim's sync: whether an Ingress is ours to act on
(``IGNORED``: no shim annotation, or it is being deleted in the foreground), whether its
configuration forbids every write (``REJECTED``: bad issuer annotations, a malformed
annotation, two ``tls`` entries sharing a ``secretName``; cert-manager writes nothing
then, not even deletions), or which Certificates it wants (``SYNC``). A ``tls`` entry
without hosts or secretName is skipped with a problem; the others still sync.

A desired Certificate is named after its ``secretName``, holds the entry's hosts (IPs
to ``ipAddresses``), the annotations' fields, the Ingress's labels (without the
applyset label, cert-manager#7306) and a controller ownerReference to the Ingress.

Pure: no I/O, no clock. It must not compare with existing Certificates (``merging``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from certmgr.api.certificates import DEFAULT_USAGES, CertificateSpec
from certmgr.api.meta import IssuerRef
from certmgr.controllers.ingressshim.annotations import (
    DefaultIssuer,
    Translated,
    certificate_annotations,
    has_shim_annotation,
    issuer_for,
    translate_annotations,
)
from certmgr.controllers.ingressshim.values import is_ip, parse_ip

Obj = dict[str, Any]

APPLYSET_LABEL: Final = "applyset.kubernetes.io/part-of"
FOREGROUND_DELETION: Final = "foregroundDeletion"
INGRESS_API_VERSION: Final = "networking.k8s.io/v1"


class Verdict(enum.Enum):
    IGNORED = "ignored"
    REJECTED = "rejected"
    SYNC = "sync"


@dataclass(frozen=True, slots=True)
class Plan:
    verdict: Verdict
    # Warning Event messages (reason BadConfig), in the order found.
    problems: tuple[str, ...] = ()
    # SYNC: the desired Certificates, and every secretName of spec.tls (even skipped
    # entries): an owned Certificate whose secretName is not here is deleted.
    certificates: tuple[Obj, ...] = ()
    secret_names: frozenset[str] = frozenset()


def plan_certificates(ingress: Obj, *, default_issuer: DefaultIssuer) -> Plan:
    metadata = ingress.get("metadata") or {}
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    if not has_shim_annotation(annotations) or _deleting(metadata):
        return Plan(Verdict.IGNORED)
    issuer, issuer_problems = issuer_for(annotations, default_issuer)
    if issuer is None:
        message = "Could not determine issuer for ingress due to bad annotations: "
        return Plan(Verdict.REJECTED, problems=(message + ", ".join(issuer_problems),))
    tls = _tls_entries(ingress)
    translated, bad = translate_annotations(annotations)
    problems = tuple(b.message for b in bad) + duplicate_secret_names(tls)
    if problems:
        return Plan(Verdict.REJECTED, problems=problems)
    skipped: list[str] = []
    certificates: list[Obj] = []
    for index, entry in enumerate(tls):
        missing = [
            f"spec.tls[{index}].{field}: Required value"
            for field in ("hosts", "secretName")
            if not entry.get(field)
        ]
        if missing:
            skipped.append("Skipped a TLS block: " + _aggregate(missing))
            continue
        certificates.append(
            desired_certificate(
                ingress,
                secret_name=str(entry["secretName"]),
                hosts=[str(h) for h in entry["hosts"]],
                issuer=issuer,
                translated=translated,
            )
        )
    return Plan(
        Verdict.SYNC,
        problems=tuple(skipped),
        certificates=tuple(certificates),
        secret_names=frozenset(str(e.get("secretName") or "") for e in tls),
    )


def desired_certificate(
    ingress: Obj,
    *,
    secret_name: str,
    hosts: list[str],
    issuer: IssuerRef,
    translated: Translated,
) -> Obj:
    """The Certificate for one tls entry, as the shim would create it."""
    metadata = ingress["metadata"]
    ingress_labels = dict(metadata.get("labels") or {})
    ingress_labels.pop(APPLYSET_LABEL, None)
    spec = CertificateSpec(
        secret_name=secret_name,
        issuer_ref=issuer,
        common_name=translated.common_name,
        subject=translated.subject,
        dns_names=_unique([h for h in hosts if not is_ip(h)] + list(translated.dns_names)),
        ip_addresses=_unique_ips([h for h in hosts if is_ip(h)] + list(translated.ip_addresses)),
        uris=translated.uris,
        email_addresses=translated.email_addresses,
        duration=translated.duration,
        renew_before=translated.renew_before,
        renew_before_percentage=translated.renew_before_percentage,
        usages=translated.usages or DEFAULT_USAGES,
        revision_history_limit=translated.revision_history_limit,
        private_key=translated.private_key,
        secret_template=translated.secret_template,
    )
    certificate_metadata: Obj = {
        "name": secret_name,
        "namespace": metadata.get("namespace"),
        "ownerReferences": [controller_reference(ingress)],
    }
    if ingress_labels:
        certificate_metadata["labels"] = ingress_labels
    extra = certificate_annotations(metadata.get("annotations") or {}, metadata["name"])
    if extra:
        certificate_metadata["annotations"] = extra
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": certificate_metadata,
        "spec": spec.to_dict(),
    }


def controller_reference(ingress: Obj) -> Obj:
    """``metav1.NewControllerRef``: controller and blockOwnerDeletion both true."""
    metadata = ingress["metadata"]
    return {
        "apiVersion": INGRESS_API_VERSION,
        "kind": "Ingress",
        "name": metadata["name"],
        "uid": metadata.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def duplicate_secret_names(tls: list[Obj]) -> tuple[str, ...]:
    """One problem per secretName used by more than one entry: the shim would make two
    Certificates of one name, so cert-manager refuses the whole Ingress."""
    paths: dict[str, list[str]] = {}
    for index, entry in enumerate(tls):
        name = str(entry.get("secretName") or "")
        paths.setdefault(name, []).append(f"spec.tls[{index}].secretName")
    return tuple(
        f'{where[0]}: Invalid value: "{name}": this secret name must only appear in a '
        f"single TLS entry but is also used in {where[1]}"
        for name, where in paths.items()
        if len(where) > 1
    )


def _tls_entries(ingress: Obj) -> list[Obj]:
    entries = (ingress.get("spec") or {}).get("tls") or []
    return [e for e in entries if isinstance(e, dict)]


def _deleting(metadata: Obj) -> bool:
    """Deleted, or being deleted with its dependents first: recreating them would race GC."""
    finalizers = metadata.get("finalizers") or ()
    return bool(metadata.get("deletionTimestamp")) or FOREGROUND_DELETION in finalizers


def _aggregate(messages: list[str]) -> str:
    """Kubernetes' ``ErrorList.ToAggregate().Error()``: one message bare, more in brackets."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _unique_ips(items: list[str]) -> tuple[str, ...]:
    """First spelling wins: ``2001:db8::1`` and ``2001:0db8::1`` are one address."""
    seen: dict[object, str] = {}
    for item in items:
        seen.setdefault(parse_ip(item), item)
    return tuple(seen.values())
