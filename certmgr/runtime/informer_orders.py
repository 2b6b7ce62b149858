"""Orders as cached: a final Order as what its readers read, its spec as a digest.

A cluster keeps about one Order per CertificateRequest (owned by it, collected with it),
nearly all final. Of a final Order (valid with its chain, or invalid, expired, errored)
the controllers read its metadata (name, namespace, uid, resourceVersion,
ownerReferences, deletionTimestamp), ``status.state``, ``url`` and ``reason``, whether
it has a chain, and whether its spec is the one a request orders. ``cached_order`` keeps
just that (``FinalOrder``, the spec as ``spec_digest``); any other Order is
``compact``ed whole. The chain's one reader reads the Order whole (``chain_dropped``).
Each event's object is cut afresh, so a spec that changes changes the digest.

This module must not decide anything about an Order: it only says what was dropped.
"""

from __future__ import annotations

import hashlib
import json
from sys import intern
from typing import Any, Final

from certmgr.runtime.cache import Obj, Packed, PackedTuple
from certmgr.runtime.informer import compact
from certmgr.runtime.packing import pack

VALID: Final = "valid"
FAILED: Final = frozenset(("invalid", "expired", "errored"))
TRIMMED_STATUS: Final = "certificate"
_KEPT_TOP: Final = ("apiVersion", "kind")
_KEPT_METADATA: Final = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "deletionTimestamp",
    "ownerReferences",
)


class FinalOrder(dict[str, Any]):
    """A final Order as cached: ``apiVersion``, ``kind``, the metadata of
    ``_KEPT_METADATA``, ``status.state``, ``status.url`` and a non-empty
    ``status.reason``; ``spec_digest`` is ``spec_digest`` of its spec. Valid, it had a
    chain (a non-empty string); invalid, expired or errored, none."""

    __slots__ = ("spec_digest",)
    spec_digest: bytes


def cached_order(obj: Obj) -> Obj:
    """The Order cache's transform: a final Order as a ``FinalOrder``, any other Order
    ``compact``ed whole (so every reader of an odd one reads what it always read)."""
    status = obj.get("status")
    metadata = obj.get("metadata")
    if type(status) is not dict or type(metadata) is not dict:
        return compact(obj)
    state = status.get("state")
    chain = status.get(TRIMMED_STATUS)
    if state == VALID:
        if type(chain) is not str or not chain:
            return compact(obj)  # the Order controller has a chain to download
    elif state not in FAILED or chain:
        return compact(obj)
    order = FinalOrder()
    for key in _KEPT_TOP:
        value = obj.get(key)
        if type(value) is str:
            order[key] = intern(value)
    order["metadata"] = _metadata(metadata)
    kept: dict[str, Any] = {"state": intern(state)}
    if "url" in status:
        kept["url"] = status["url"]
    if status.get("reason"):  # read as ``reason or ""``
        kept["reason"] = status["reason"]
    order["status"] = kept
    order.spec_digest = spec_digest(obj.get("spec"))
    return order


def _metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {key: metadata[key] for key in _KEPT_METADATA if key in metadata}
    namespace = kept.get("namespace")
    if type(namespace) is str:
        kept["namespace"] = intern(namespace)
    owners = kept.get("ownerReferences")
    if type(owners) is list:
        kept["ownerReferences"] = [_owner(owner) for owner in owners]
    return kept


def _owner(owner: Any) -> Any:
    if type(owner) is not dict:
        return owner
    return {
        key: intern(value) if key in _VOCABULARY and type(value) is str else value
        for key, value in owner.items()
    }


_VOCABULARY: Final = frozenset(("apiVersion", "kind"))


def spec_digest(spec: Any) -> bytes:
    """A 16-byte BLAKE2b of ``spec`` as canonical JSON (keys sorted): equal for equal
    specs of JSON values (a number and a boolean that compare equal in Python encode
    apart). 128 bits: no spec of another request's Order passes for this one's by chance,
    and each cached Order keeps 16 bytes less than a SHA-256."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def spec_is(order: Obj, spec: Any) -> bool:
    """Whether ``order``'s spec equals ``spec`` (by digest when the cache dropped it)."""
    if isinstance(order, FinalOrder):
        return order.spec_digest == spec_digest(spec)
    return bool(order.get("spec") == spec)


def trimmed(order: object) -> bool:
    """Whether the cached ``order`` is a ``FinalOrder``: final, its spec, authorizations
    and chain dropped."""
    return isinstance(order, FinalOrder)


def chain_dropped(order: object) -> bool:
    """Whether the cached ``order`` lacks the chain it has (read it whole from the API,
    or as this process wrote it)."""
    return isinstance(order, FinalOrder) and order["status"].get("state") == VALID


def has_chain(order: Obj) -> bool:
    """Whether ``status.certificate`` holds something (dropped or not)."""
    if isinstance(order, FinalOrder):
        return bool(order["status"].get("state") == VALID)
    return bool((order.get("status") or {}).get(TRIMMED_STATUS))


def packed_order(order: Obj) -> Obj | Packed:
    """The Order cache's ``pack``: a ``FinalOrder`` as ``PackedOrder`` (past
    ``LAYOUTS_MAX`` layouts, as it is); any other Order as it is."""
    if not isinstance(order, FinalOrder):
        return order
    packed = pack(order, find=_VERSION)
    if packed is None:
        return order
    layout, values = packed
    return PackedOrder((layout, order.spec_digest, *values))


_VERSION: Final = ("metadata", "resourceVersion")


class PackedOrder(PackedTuple):
    """A final Order as cached (``runtime/packing.py``): its layout, its spec's digest,
    then its values. Read back, it is a ``FinalOrder`` equal to the one packed, made
    afresh."""

    __slots__ = ()
    EXTRA = 1

    def unpack(self) -> Obj:
        order = FinalOrder(self.unpacked_values())
        order.spec_digest = self[1]
        return order
