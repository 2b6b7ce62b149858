"""List answers: selectors, namespace scoping, pagination with continue tokens.

Owns which stored objects a list (or a watch) selects and the bytes of a list
answer, spliced from each object's cached JSON so that listing 100,000 objects is
one join rather than one big encode. It must not change stored state.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import json
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
    store: Store, target: Target, matches: watching.Matcher, *, limit: int, continue_token: str
) -> tuple[list[Key], Key | None]:
    """The keys of one page, and the key to continue after when there is more."""
    table = store.table(target.rtype)
    objects = table.objects
    if table.sorted_keys is None:
        table.sorted_keys = sorted(objects)
    ordered = table.sorted_keys
    # Sorted like etcd keys, so continue tokens resume after the last key.
    first = bisect.bisect_right(ordered, _decode_continue(continue_token)) if continue_token else 0
    keys: list[Key] = []
    for key in itertools.islice(ordered, first, None):
        if target.namespace and key[0] != target.namespace:
            continue
        if not matches(objects[key]):
            continue
        if limit and len(keys) >= limit:
            return keys, keys[-1]
        keys.append(key)
    return keys, None


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
    objects = store.table(rtype).objects
    keys, next_key = _select(store, target, matches, limit=limit, continue_token=continue_token)
    meta: dict[str, Any] = {"resourceVersion": str(store.resource_version)}
    if next_key is not None:
        meta["continue"] = _encode_continue(next_key)
    if shape == TABLE:
        found = [objects[key] for key in keys]
        body = tables.table(found, table_columns(rtype), resource_version=meta["resourceVersion"])
        body["metadata"] = meta
        return watching.encode(body)
    metadata_only = shape == METADATA
    items = [served(store, rtype, key, objects[key], metadata_only=metadata_only) for key in keys]
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


def _encode_continue(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(
        json.dumps({"v": "meta.k8s.io/v1", "k": list(key)}).encode()
    ).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))["k"]
        return (str(key[0]), str(key[1]))
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
        raise errors.bad_request("continue key is not valid") from None
