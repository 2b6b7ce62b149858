"""Writing a Certificate's status: through the status subresource, optimistically.

Owns the one write path every certificate controller uses: the whole status object is
replaced with the ``resourceVersion`` the controller read, so a write based on a stale
cache fails with ``Conflict`` (raised on: the controller retries with a fresher cache),
then the shared cache is awaited until it shows the write (read-your-writes, so the
next reconcile does not act on the state it just replaced). It must not decide what
the status says.
"""

from __future__ import annotations

import copy
from typing import Any, Final

import structlog

from certmgr.controllers.context import Context
from certmgr.kube.resources import CERTIFICATES
from certmgr.runtime.cache import Obj
from certmgr.runtime.informer import Informer

log = structlog.get_logger(__name__)

# Clock seconds to wait for our own write to come back through the watch. Not waiting
# long is harmless: the write already happened and a stale read only costs a Conflict.
CACHE_WAIT_SECONDS: Final = 10.0


async def write_status(ctx: Context, informer: Informer, obj: Obj, status: dict[str, Any]) -> Obj:
    """Replace ``obj``'s status with ``status``; returns the object the API answered."""
    # Shallow: the body is only serialized, so the cached object's other fields are
    # shared, not copied.
    body = {**obj, "status": status}
    updated = await ctx.client.update_status(CERTIFICATES, body)
    await wait_cached(informer, updated)
    return updated


async def wait_cached(informer: Informer, obj: Obj) -> None:
    try:
        await informer.cache.wait_for_object(obj, timeout=CACHE_WAIT_SECONDS)
    except TimeoutError:
        log.debug("cache_wait_timeout", resource_version=obj["metadata"].get("resourceVersion"))


def status_of(obj: Obj) -> dict[str, Any]:
    """A deep copy of ``obj``'s status, to edit."""
    return copy.deepcopy(obj.get("status") or {})
