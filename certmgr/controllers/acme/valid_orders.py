"""Orders this process just wrote valid, as the API answered: handed to the
CertificateRequest controller with their chain.

The Order cache keeps a valid Order without its chain (``runtime/informer_orders``).
The Order controller records here each Order it wrote valid (``written_valid``), the
chain included; the CertificateRequest controller takes it once (``valid_as_written``)
to finish the request without reading the Order from the API. Unread entries are
dropped after a while, and an entry answers only for the very version cached. It must
not read or write the API.
"""

from __future__ import annotations

from typing import Final

from certmgr.memo import Generations
from certmgr.runtime.cache import Obj

# Order uid -> the Order as the API answered its valid write.
_WRITTEN: Final[Generations[str, Obj]] = Generations()


def written_valid(order: Obj) -> None:
    """``order`` (as the API answered the write) is valid with its chain."""
    uid = str((order.get("metadata") or {}).get("uid") or "")
    if uid:
        _WRITTEN.put(uid, order)


def valid_as_written(order: Obj) -> Obj | None:
    """``order`` (a cached copy, perhaps without its chain) whole, as this process's Order
    controller wrote it valid, when that write is the very version cached; None otherwise
    (read it from the API). Taken: a second call for the same Order answers None."""
    meta = order.get("metadata") or {}
    written = _WRITTEN.pop(str(meta.get("uid") or ""))
    if written is None:
        return None
    version = (written.get("metadata") or {}).get("resourceVersion")
    return written if version and version == meta.get("resourceVersion") else None
