"""Orders this process writes valid, as the API answered: handed to the
CertificateRequest controller with their chain.

The Order cache keeps a valid Order without its chain (``runtime/informer_orders``).
The Order controller announces each write that makes an Order valid (``writing_valid``)
and records its answer, the chain included; the CertificateRequest controller takes it
once (``valid_as_written``) to finish the request without reading the Order from the
API, and waits for a write still in flight (the watch may show the Order before the
write's own answer arrives). Unread answers are dropped after a while, and an answer
serves only the very version cached. It must not read or write the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from certmgr.memo import Generations
from certmgr.runtime.cache import Obj

# Order uid -> the Order as the API answered its valid write.
_WRITTEN: Final[Generations[str, Obj]] = Generations()
# Order uid -> the valid write in flight (done when answered or failed).
_WRITING: Final[dict[str, asyncio.Event]] = {}


@contextmanager
def writing_valid(uid: str) -> Iterator[None]:
    """The body writes the Order ``uid`` valid with its chain (and calls
    ``written_valid`` with the answer)."""
    done = _WRITING[uid] = asyncio.Event()
    try:
        yield
    finally:
        done.set()
        if _WRITING.get(uid) is done:
            del _WRITING[uid]


def written_valid(order: Obj) -> None:
    """``order`` (as the API answered the write) is valid with its chain."""
    uid = str((order.get("metadata") or {}).get("uid") or "")
    if uid:
        _WRITTEN.put(uid, order)
        writing = _WRITING.get(uid)
        if writing is not None:
            writing.set()


async def valid_as_written(order: Obj) -> Obj | None:
    """``order`` (a cached copy, perhaps without its chain) whole, as this process's Order
    controller wrote it valid, when that write is the very version cached; None otherwise
    (read it from the API). Taken: a second call for the same Order answers None."""
    meta = order.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    writing = _WRITING.get(uid)
    if writing is not None:
        await writing.wait()
    written = _WRITTEN.pop(uid)
    if written is None:
        return None
    version = (written.get("metadata") or {}).get("resourceVersion")
    return written if version and version == meta.get("resourceVersion") else None
