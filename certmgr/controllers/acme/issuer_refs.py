"""Finding the issuer an object points at, and the reverse index (issuer -> objects).

Owns the index value of an ``issuerRef`` (``Issuer/<ns>/<name>`` or
``ClusterIssuer/<name>``) used to wake CertificateRequests and Orders when their issuer
appears or becomes Ready, and the cache lookup of a referenced issuer. It must not
decide anything about the issuer's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from certmgr.api.meta import CLUSTER_ISSUER_KIND, GROUP, ISSUER_KIND
from certmgr.runtime.cache import Cache, Obj
from certmgr.runtime.informer_requests import trimmed

ISSUER_INDEX: Final = "acme-by-issuer-ref"


def issuer_ref_index(obj: Obj) -> list[str]:
    """The index function: where an object's ``spec.issuerRef`` points, if one of ours."""
    ref = (obj.get("spec") or {}).get("issuerRef") or {}
    name = ref.get("name")
    if not name or (ref.get("group") or GROUP) != GROUP:
        return []
    kind = ref.get("kind") or ISSUER_KIND
    if kind == CLUSTER_ISSUER_KIND:
        return [f"{CLUSTER_ISSUER_KIND}/{name}"]
    if kind == ISSUER_KIND:
        return [f"{ISSUER_KIND}/{(obj.get('metadata') or {}).get('namespace', '')}/{name}"]
    return []


def request_issuer_ref_index(request: Obj) -> list[str]:
    """``issuer_ref_index`` for CertificateRequests, without the issued ones (cached
    ``trimmed``): the index only wakes requests, and every issuer controller is done
    with an issued request (its ``finished``; ``referrers`` is watched with a
    ``skip_key`` that leaves those out as drawn). A request that stops being issued is
    filed again by its own event, which its watch enqueues."""
    return [] if trimmed(request) else issuer_ref_index(request)


def issuer_index_value(issuer: Obj) -> str:
    meta = issuer.get("metadata") or {}
    namespace = meta.get("namespace")
    if namespace:
        return f"{ISSUER_KIND}/{namespace}/{meta.get('name', '')}"
    return f"{CLUSTER_ISSUER_KIND}/{meta.get('name', '')}"


def referrers(cache: Cache) -> Callable[[Obj], Iterator[str]]:
    """A watch mapper: issuer -> keys of the objects in ``cache`` that reference it,
    looked up when first drawn and formatted as drawn (an issuer named by 100,000
    Certificates: the watch adds them in batches, the loop free in between; an object
    that changed its reference meanwhile has its own event)."""

    def mapper(issuer: Obj) -> Iterator[str]:
        value = issuer_index_value(issuer)
        for namespace, name in cache.keys_by_index(ISSUER_INDEX, value):
            yield f"{namespace}/{name}" if namespace else name

    return mapper


def referenced_issuer(
    obj: Obj, *, issuers: Cache, cluster_issuers: Cache
) -> tuple[str, str, dict[str, Any] | None] | None:
    """(kind, name, issuer or None if missing) for one of our kinds; None for other groups."""
    ref = (obj.get("spec") or {}).get("issuerRef") or {}
    name = str(ref.get("name") or "")
    if (ref.get("group") or GROUP) != GROUP or not name:
        return None
    kind = ref.get("kind") or ISSUER_KIND
    if kind == CLUSTER_ISSUER_KIND:
        return kind, name, cluster_issuers.get(None, name)
    if kind == ISSUER_KIND:
        namespace = (obj.get("metadata") or {}).get("namespace")
        return kind, name, issuers.get(namespace, name)
    return None
