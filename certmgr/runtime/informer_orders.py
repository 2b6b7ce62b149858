"""Orders as cached: a valid Order without its chain.

A cluster keeps about one Order per CertificateRequest (owned by it, collected with it),
and a valid Order carries the whole issued chain in ``status.certificate`` (~3.6 KB of
base64, half of the Order as cached). Of a valid Order the controllers read its state and
whether it has a chain; the ACME CertificateRequest controller, the one reader of the
chain's bytes, reads the Order whole (``trimmed`` tells it to). The transform
``cached_order`` drops ``status.certificate`` of a valid Order whose chain is a
non-empty string (``ValidOrder``) and ``compact``s every Order; the cache keeps a valid
Order packed (``packed_order``), and each read gets an equal ``ValidOrder`` made afresh.

This module must not decide anything about an Order: it only says what was dropped.
"""

from __future__ import annotations

from typing import Any, Final

from certmgr.runtime.cache import Obj, Packed
from certmgr.runtime.informer import compact
from certmgr.runtime.packing import pack

VALID: Final = "valid"
TRIMMED_STATUS: Final = "certificate"


class ValidOrder(dict[str, Any]):
    """A valid Order as cached: the object as ``compact`` leaves it, without
    ``status.certificate`` (which was a non-empty string)."""

    __slots__ = ()


def cached_order(obj: Obj) -> Obj:
    """The Order cache's transform: ``compact``, and a valid Order without its chain
    (``ValidOrder``). Any other Order is cached whole."""
    status = obj.get("status")
    if type(status) is not dict or status.get("state") != VALID:
        return compact(obj)
    chain = status.get(TRIMMED_STATUS)
    if type(chain) is not str or not chain:
        return compact(obj)
    kept = {key: value for key, value in status.items() if key != TRIMMED_STATUS}
    return ValidOrder(compact({**obj, "status": kept}))


def trimmed(order: object) -> bool:
    """Whether the cached ``order`` lacks ``status.certificate`` (read it whole from the
    API, or as this process wrote it, to have the chain)."""
    return isinstance(order, ValidOrder)


def has_chain(order: Obj) -> bool:
    """Whether ``status.certificate`` holds something (kept when trimmed)."""
    if isinstance(order, ValidOrder):
        return True
    return bool((order.get("status") or {}).get(TRIMMED_STATUS))


def packed_order(order: Obj) -> Obj | Packed:
    """The Order cache's ``pack``: a valid Order (``ValidOrder``) as ``PackedOrder`` (past
    ``LAYOUTS_MAX`` layouts, as it is); any other Order as it is."""
    if not isinstance(order, ValidOrder):
        return order
    packed = pack(order, find=_VERSION)
    if packed is None:
        return order
    layout, values = packed
    return PackedOrder((layout, *values))


_VERSION: Final = ("metadata", "resourceVersion")


class PackedOrder(tuple[Any, ...], Packed):
    """A valid Order as cached (``runtime/packing.py``): its layout, then its values.
    Read back, it is a ``ValidOrder`` equal to the one packed, made afresh."""

    __slots__ = ()

    def unpack(self) -> Obj:
        return ValidOrder(self[0].unpack(self, start=1))

    @property
    def resource_version(self) -> str:
        version = self[0].found(self, start=1)
        return version if type(version) is str else ""
