"""List answers: selectors, namespace scoping, pagination with continue tokens.

Owns which stored objects a list (or a watch) selects and the bytes of a list
answer, spliced from each object's cached JSON so that listing 100,000 objects is
one join rather than one big encode. Pagination is kube-apiserver's: each request's
``limit`` stands alone, a continue token carries the first page's resourceVersion and
the key to start at, and every page is that snapshot (rebuilt from the watch history;
410 once the history no longer reaches back to it). It must not change stored state.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import heapq
import itertools
import json
import posixpath
from collections.abc import Iterable
from typing import Any

from certmgr.testing.apiserver import errors, selectors, tables, watching
from certmgr.testing.apiserver.resources import ResourceType
from certmgr.testing.apiserver.routing import Target
from certmgr.testing.apiserver.store import Key, Obj, Store

# Fields each built-in kind may be selected by, besides metadata.name/namespace.
FIELD_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Secret"): ("type",),
    ("", "Namespace"): ("status.phase",),
    ("", "Pod"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "status.phase",
        "status.podIP",
        "spec.serviceAccountName",
    ),
    ("", "Event"): (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    ("events.k8s.io", "Event"): (
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "reason",
        "type",
        "reportingController",
    ),
}


def served(store: Store, rtype: ResourceType, key: Key, obj: Obj, *, metadata_only: bool) -> bytes:
    """The JSON of a stored object as this version serves it (cached when unchanged)."""
    if not metadata_only and obj.get("apiVersion") == rtype.api_version:
        return store.encoded(rtype, key)
    if metadata_only:
        # The same for every served version: PartialObjectMetadata carries no apiVersion
        # of the object's.
        return store.encoded_metadata(
            rtype, key, lambda: watching.encode(watching.as_served(rtype, obj, metadata_only=True))
        )
    return watching.encode(watching.as_served(rtype, obj, metadata_only=False))


FULL, METADATA, TABLE = "full", "metadata", "table"


def rendering(accept: str) -> str:
    """How the client asked to see objects: whole, metadata only, or as a Table."""
    if "as=Table" in accept:
        return TABLE
    if "as=PartialObjectMetadata" in accept:
        return METADATA
    return FULL


def table_columns(rtype: ResourceType) -> list[tables.Column]:
    printer = None if rtype.printer_columns is None else list(rtype.printer_columns)
    return tables.columns(rtype, printer)


def _select(
    store: Store,
    target: Target,
    matches: watching.Matcher,
    *,
    limit: int,
    start: Key | None,
    past: dict[Key, Obj | None],
) -> tuple[list[tuple[Key, Obj]], Key | None]:
    """The keys of one page (with their objects as of the snapshot), and the last key
    when there is more."""
    table = store.table(target.rtype)
    objects = table.objects
    if table.sorted_keys is None:
        table.sorted_keys = sorted(objects)
    ordered = table.sorted_keys
    # Sorted like etcd keys, so continue tokens resume at their start key.
    first = bisect.bisect_left(ordered, start) if start is not None else 0
    candidates: Iterable[Key] = itertools.islice(ordered, first, None)
    if past:
        # Keys changed since the snapshot: merged in (one that did not exist then is
        # skipped below, one deleted since is served as it was).
        changed = sorted(k for k in past if start is None or k >= start)
        candidates = (k for k, _ in itertools.groupby(heapq.merge(candidates, changed)))
    found: list[tuple[Key, Obj]] = []
    for key in candidates:
        if target.namespace and key[0] != target.namespace:
            continue
        obj = past[key] if key in past else objects[key]
        if obj is None or not matches(obj):
            continue
        if limit and len(found) >= limit:
            return found, found[-1][0]
        found.append((key, obj))
    return found, None


def _past(store: Store, target: Target, snapshot: int, token: str) -> dict[Key, Obj | None]:
    """Each key changed after ``snapshot`` mapped to its object then (None: absent), from
    the watch history; 410 Expired once the history no longer reaches back that far."""
    table = store.table(target.rtype)
    if snapshot >= store.resource_version:
        return {}
    if snapshot < table.compacted_rv:
        raise errors.continue_expired(inconsistent_continuation(token, target))
    past: dict[Key, Obj | None] = {}
    for event in reversed(table.history):
        if event.rv <= snapshot:
            break
        meta = event.obj["metadata"]
        past[(meta.get("namespace", ""), meta["name"])] = event.old
    return past


def list_body(
    store: Store,
    target: Target,
    matches: watching.Matcher,
    *,
    limit: int,
    continue_token: str,
    shape: str,
) -> bytes:
    rtype = target.rtype
    snapshot, start = store.resource_version, None
    past: dict[Key, Obj | None] = {}
    if continue_token:
        token_rv, start = _decode_continue(continue_token, target)
        if token_rv > 0:
            snapshot = token_rv
            past = _past(store, target, snapshot, continue_token)
    found, last = _select(store, target, matches, limit=limit, start=start, past=past)
    meta: dict[str, Any] = {"resourceVersion": str(snapshot)}
    if last is not None:
        meta["continue"] = _encode_continue(last, target, snapshot)
    if shape == TABLE:
        body = tables.table(
            [obj for _, obj in found],
            table_columns(rtype),
            resource_version=meta["resourceVersion"],
        )
        body["metadata"] = meta
        return watching.encode(body)
    metadata_only = shape == METADATA
    items = [
        watching.encode(watching.as_served(rtype, obj, metadata_only=metadata_only))
        if key in past
        else served(store, rtype, key, obj, metadata_only=metadata_only)
        for key, obj in found
    ]
    if metadata_only:
        kind, api_version = "PartialObjectMetadataList", "meta.k8s.io/v1"
    else:
        kind, api_version = f"{rtype.kind}List", rtype.api_version
    head = watching.encode({"kind": kind, "apiVersion": api_version, "metadata": meta})
    # Splice the already-encoded items in: a list of 100k objects is one join.
    return b"".join((head[:-1], b',"items":[', b",".join(items), b"]}"))


def matcher(target: Target, label_text: str, field_text: str) -> watching.Matcher:
    namespace = target.namespace
    label_selector = field_selector = None
    if label_text or field_text:
        try:
            if label_text:
                label_selector = selectors.parse_label_selector(label_text)
            if field_text:
                supported = FIELD_LABELS.get((target.rtype.group, target.rtype.kind), ())
                field_selector = selectors.parse_field_selector(
                    field_text, supported=("metadata.name", "metadata.namespace", *supported)
                )
        except selectors.SelectorError as exc:
            raise errors.bad_request(str(exc)) from None

    def matches(obj: Obj) -> bool:
        meta = obj["metadata"]
        if namespace and meta.get("namespace") != namespace:
            return False
        if label_selector is not None and not label_selector.matches(meta.get("labels") or {}):
            return False
        return field_selector is None or field_selector.matches(obj)

    return matches


def int_param(query: Any, name: str) -> int:
    text = query.get(name)
    if not text:
        return 0
    try:
        return max(0, int(text))
    except ValueError:
        raise errors.bad_request(f"invalid {name}: {text}") from None


# kube-apiserver's continue token (storage/continue.go): base64url, unpadded, of the
# snapshot's resourceVersion and the etcd key to start at below the resource's prefix.
CONTINUE_VERSION = "meta.k8s.io/v1"
INVALID_CONTINUE = "invalid continue token: continue key is not valid"


def _start_of(key: Key, target: Target) -> str:
    """A key as etcd's, below the prefix of what is listed (one namespace's or all)."""
    namespace, name = key
    return name if target.namespace or not namespace else f"{namespace}/{name}"


def _token(start: str, resource_version: int) -> str:
    body = {"v": CONTINUE_VERSION, "rv": resource_version, "start": start}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def _encode_continue(last: Key, target: Target, resource_version: int) -> str:
    """The token for the page after ``last``: its start key is just past it (a NUL added)."""
    return _token(_start_of(last, target) + "\x00", resource_version)


def _decode_continue(token: str, target: Target) -> tuple[int, Key]:
    """The snapshot's resourceVersion (-1: the latest) and the key to start at; 400 with
    kube-apiserver's messages for a token it would not take."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        version, resource_version, start = decoded["v"], decoded.get("rv", 0), decoded["start"]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise errors.bad_request(f"{INVALID_CONTINUE}: {exc}") from None
    if version != CONTINUE_VERSION:
        raise errors.bad_request(
            f"{INVALID_CONTINUE}: server does not recognize this encoded version {version}"
        )
    if not isinstance(resource_version, int) or resource_version == 0:
        raise errors.bad_request(
            f"{INVALID_CONTINUE}: incorrect encoded start resourceVersion (version {version})"
        )
    if not isinstance(start, str) or not start:
        raise errors.bad_request(f"{INVALID_CONTINUE}: encoded start key empty (version {version})")
    rooted = start if start.startswith("/") else "/" + start
    if posixpath.normpath(rooted) != rooted:
        raise errors.bad_request(f"{INVALID_CONTINUE}: {start}")
    relative = rooted[1:]
    if target.namespace or not target.rtype.namespaced:
        return resource_version, (target.namespace, relative)
    namespace, _, name = relative.partition("/")
    return resource_version, (namespace, name)


def inconsistent_continuation(token: str, target: Target) -> str:
    """What a 410 for an expired ``token`` carries: the same start key at the latest state
    (kube-apiserver's resourceVersion -1). A token it would not take is a 400."""
    _, start = _decode_continue(token, target)
    return _token(_start_of(start, target), -1)
