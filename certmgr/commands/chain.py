"""The issuance chain of one Certificate: which CertificateRequest, Order, Challenges
and Events belong to it, picked out of plain lists.

Owns the matching rules ``status certificate`` reports by, the same as cmctl's: a
CertificateRequest is the Certificate's when the Certificate owns it (ownerReferences
uid) and its revision annotation is the one being issued (``status.revision + 1``),
falling back to the one that produced the current revision; an Order is owned by the
request, Challenges by the Order; Events name their object by uid. Pure: lists in,
choices out; it must not call the API (``status.py`` gathers) or format text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from certmgr.api import labels
from certmgr.kube.objects import metadata, name_of, namespace_of, uid_of

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Found:
    """An object looked up for the report, or (``object is None``) why there is none.

    ``note`` says which one it is when found (``in progress``), the reason otherwise."""

    object: JSON | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class IssuanceChain:
    """Everything ``status certificate`` prints; ``order is None`` means not looked for."""

    certificate: JSON
    issuer: Found = Found()
    issuer_kind: str = "Issuer"
    secret: Found = Found()
    request: Found = Found()
    order: Found | None = None
    challenges: tuple[JSON, ...] = ()
    challenges_note: str = ""
    events: tuple[JSON, ...] = ()


def owned_by(obj: JSON, owner: JSON) -> bool:
    uid = uid_of(owner)
    references = metadata(obj).get("ownerReferences") or ()
    return bool(uid) and any(isinstance(ref, dict) and ref.get("uid") == uid for ref in references)


def revision_of(request: JSON) -> int | None:
    """The ``cert-manager.io/certificate-revision`` annotation, or None if unset or bad."""
    value = (metadata(request).get("annotations") or {}).get(labels.CERTIFICATE_REVISION)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def current_request(certificate: JSON, requests: Iterable[JSON]) -> Found:
    """The request being issued now (revision + 1), else the one behind the current
    revision: while a Certificate is Ready the finished request is still worth seeing."""
    owned = [r for r in requests if owned_by(r, certificate)]
    current = (certificate.get("status") or {}).get("revision")
    current = current if isinstance(current, int) else None
    next_revision = (current or 0) + 1
    in_progress = [r for r in owned if revision_of(r) == next_revision]
    if len(in_progress) > 1:
        return Found(note="found multiple CertificateRequests with the expected revision and owner")
    if in_progress:
        return Found(in_progress[0], f"revision {next_revision}, in progress")
    issued = [r for r in owned if current is not None and revision_of(r) == current]
    if len(issued) == 1:
        return Found(issued[0], f"revision {current}, issued the current certificate")
    return Found(note="No CertificateRequest found for this Certificate")


def owned_one(candidates: Iterable[JSON], owner: JSON, *, kind: str) -> Found:
    """The single ``kind`` object ``owner`` owns (cmctl treats several as an error)."""
    owned = [c for c in candidates if owned_by(c, owner)]
    if len(owned) > 1:
        return Found(note=f"found multiple {kind}s owned by {name_of(owner)}")
    if owned:
        return Found(owned[0])
    return Found(note=f"No {kind} found for {owner.get('kind', 'this object')} {name_of(owner)}")


def owned_all(candidates: Iterable[JSON], owner: JSON) -> tuple[JSON, ...]:
    """Every object ``owner`` owns, by name, so the report reads the same each time."""
    return tuple(sorted((c for c in candidates if owned_by(c, owner)), key=name_of))


def events_about(events: Sequence[JSON], obj: JSON) -> list[JSON]:
    """The Events whose involvedObject is ``obj``, oldest first.

    By uid when both sides carry one; by kind, namespace and name otherwise, because an
    Event recorded before the object had a uid (or by a tool that omits it) still counts.
    """
    uid, kind, name, namespace = (
        uid_of(obj),
        obj.get("kind"),
        name_of(obj),
        namespace_of(obj),
    )
    matching = []
    for event in events:
        involved = event.get("involvedObject") or {}
        if involved.get("uid") and uid:
            if involved["uid"] == uid:
                matching.append(event)
        elif (
            involved.get("kind") == kind
            and involved.get("name") == name
            and (involved.get("namespace") or None) == namespace
        ):
            matching.append(event)
    return sorted(matching, key=event_time)


def event_time(event: JSON) -> str:
    """When an Event last happened, as RFC 3339 text (sortable as text)."""
    series = event.get("series") or {}
    return str(
        event.get("lastTimestamp")
        or series.get("lastObservedTime")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or metadata(event).get("creationTimestamp")
        or ""
    )
