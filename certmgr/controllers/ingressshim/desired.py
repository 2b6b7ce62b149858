"""Ingress-like -> the Certificates it asks for: one per TLS Secret, as cert-manager.

Owns the pure decision of the shims' sync (cert-manager's certificate-shim, shared by
ingress-shim and gateway-shim through a :class:`Source`): whether an object is ours to
act on (``IGNORED``: no shim annotation, or it is being deleted in the foreground),
whether its configuration forbids every write (``REJECTED``: bad issuer annotations, a
malformed annotation, two Ingress ``tls`` entries sharing a ``secretName``; cert-manager
writes nothing then, not even deletions), or which Certificates it wants (``SYNC``). A
TLS block the source cannot use (an Ingress ``tls`` entry without hosts or secretName) is
skipped with a problem; the others still sync.

A desired Certificate is named after its Secret, holds the block's hosts (IPs to
``ipAddresses``), the annotations' fields, the object's labels (without the applyset
label, cert-manager#7306) and a controller ownerReference to the object.

Pure: no I/O, no clock. It must not compare with existing Certificates (``merging``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from certmgr.api import labels
from certmgr.api.certificates import DEFAULT_USAGES, CertificateSpec
from certmgr.api.meta import IssuerRef
from certmgr.controllers.ingressshim.annotations import (
    AUTO_CERTIFICATE_ANNOTATIONS,
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
class TLSBlock:
    """One Certificate's worth of an object's TLS configuration."""

    secret_name: str
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Blocks:
    """What an object's TLS configuration asks for."""

    wanted: tuple[TLSBlock, ...]
    # Warning Event messages (reason BadConfig) for blocks that were skipped.
    skipped: tuple[str, ...] = ()
    # Every Secret the object still names (even in skipped blocks): an owned
    # Certificate for any other is deleted.
    secret_names: frozenset[str] = frozenset()


def _no_refusals(obj: Obj) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class Source:
    """What differs between the kinds a shim reads (Ingress, Gateway)."""

    kind: str
    api_version: str
    # Trigger annotations besides the issuer ones (cert-manager: Ingresses only).
    auto_annotations: tuple[str, ...]
    blocks: Callable[[Obj], Blocks]
    # Problems that forbid every write for this object (REJECTED).
    refusals: Callable[[Obj], tuple[str, ...]] = _no_refusals
    # HTTP-01 annotations naming the object as the solver HTTPRoute's parent.
    parent_ref: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    verdict: Verdict
    # Warning Event messages (reason BadConfig), in the order found.
    problems: tuple[str, ...] = ()
    # SYNC: the desired Certificates, and every Secret the object names (even in
    # skipped blocks): an owned Certificate whose secretName is not here is deleted.
    certificates: tuple[Obj, ...] = ()
    secret_names: frozenset[str] = frozenset()


def ingress_blocks(ingress: Obj) -> Blocks:
    """An Ingress's ``spec.tls`` entries; one without hosts or secretName is skipped."""
    tls = _tls_entries(ingress)
    skipped: list[str] = []
    wanted: list[TLSBlock] = []
    for index, entry in enumerate(tls):
        missing = [
            f"spec.tls[{index}].{field}: Required value"
            for field in ("hosts", "secretName")
            if not entry.get(field)
        ]
        if missing:
            skipped.append("Skipped a TLS block: " + aggregate(missing))
            continue
        hosts = tuple(str(h) for h in entry["hosts"])
        wanted.append(TLSBlock(secret_name=str(entry["secretName"]), hosts=hosts))
    return Blocks(
        wanted=tuple(wanted),
        skipped=tuple(skipped),
        secret_names=frozenset(str(e.get("secretName") or "") for e in tls),
    )


def _ingress_refusals(ingress: Obj) -> tuple[str, ...]:
    return duplicate_secret_names(_tls_entries(ingress))


INGRESS: Final = Source(
    kind="Ingress",
    api_version=INGRESS_API_VERSION,
    auto_annotations=AUTO_CERTIFICATE_ANNOTATIONS,
    blocks=ingress_blocks,
    refusals=_ingress_refusals,
)


def plan_certificates(obj: Obj, *, default_issuer: DefaultIssuer, source: Source = INGRESS) -> Plan:
    metadata = obj.get("metadata") or {}
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    if not has_shim_annotation(annotations, source.auto_annotations) or _deleting(metadata):
        return Plan(Verdict.IGNORED)
    issuer, issuer_problems = issuer_for(annotations, default_issuer)
    if issuer is None:
        message = "Could not determine issuer for ingress due to bad annotations: "
        return Plan(Verdict.REJECTED, problems=(message + ", ".join(issuer_problems),))
    translated, bad = translate_annotations(annotations)
    problems = tuple(b.message for b in bad) + source.refusals(obj)
    if problems:
        return Plan(Verdict.REJECTED, problems=problems)
    blocks = source.blocks(obj)
    certificates = tuple(
        desired_certificate(
            obj,
            secret_name=block.secret_name,
            hosts=list(block.hosts),
            issuer=issuer,
            translated=translated,
            source=source,
        )
        for block in blocks.wanted
    )
    return Plan(
        Verdict.SYNC,
        problems=blocks.skipped,
        certificates=certificates,
        secret_names=blocks.secret_names,
    )


def desired_certificate(
    obj: Obj,
    *,
    secret_name: str,
    hosts: list[str],
    issuer: IssuerRef,
    translated: Translated,
    source: Source = INGRESS,
) -> Obj:
    """The Certificate for one TLS block, as the shim would create it."""
    metadata = obj["metadata"]
    obj_labels = dict(metadata.get("labels") or {})
    obj_labels.pop(APPLYSET_LABEL, None)
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
        "ownerReferences": [controller_reference(obj, source=source)],
    }
    if obj_labels:
        certificate_metadata["labels"] = obj_labels
    extra = certificate_annotations(metadata.get("annotations") or {}, metadata["name"])
    if source.parent_ref:
        extra[labels.HTTP01_PARENT_REF_KIND] = source.kind
        extra[labels.HTTP01_PARENT_REF_NAME] = metadata["name"]
    if extra:
        certificate_metadata["annotations"] = extra
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": certificate_metadata,
        "spec": spec.to_dict(),
    }


def controller_reference(obj: Obj, *, source: Source = INGRESS) -> Obj:
    """``metav1.NewControllerRef``: controller and blockOwnerDeletion both true."""
    metadata = obj["metadata"]
    return {
        "apiVersion": source.api_version,
        "kind": source.kind,
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


def aggregate(messages: list[str]) -> str:
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
