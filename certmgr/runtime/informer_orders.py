"""Orders as cached: a valid Order without its chain.

A cluster keeps about one Order per CertificateRequest (owned by it, collected with it),
and a valid Order carries the whole issued chain in ``status.certificate`` (~3.6 KB of
base64, half of the Order as cached). Of a valid Order the controllers read its state and
whether it has a chain; the ACME CertificateRequest controller, the one reader of the
chain's bytes, reads the Order whole (``trimmed`` tells it to). The transform
``cached_order`` drops ``status.certificate`` of a valid Order whose chain is a
non-empty string (``ValidOrder``) and ``compact``s every Order.

This module must not decide anything about an Order: it only says what was dropped.
"""

from __future__ import annotations

from typing import Any, Final

from certmgr.runtime.cache import Obj
from certmgr.runtime.informer import compact

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
