"""The CertificateRequest's ``Ready`` condition, as every issuer controller writes it.

Owns :class:`ReadyWriter`: ``Ready=False`` reason ``Pending`` while waiting, the final
outcomes (``Issued`` with ``status.certificate`` and ``status.ca``; ``Failed`` and
``Denied`` with ``status.failureTime``, set once), written as a merge patch of what
changed, then waited for in the informer's cache so the reconciles that follow read the
outcome instead of writing it again over a stale copy. An ``Issued`` request as the API
answered that write (its chain included) is kept for the issuing controller
(``issued_as_written``), which would otherwise fetch it: the cache keeps issued requests
without their chain. It must not decide the outcome nor record Events: that is the
issuer controller's business.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Final

from certmgr.api import reasons
from certmgr.api.codec import rfc3339
from certmgr.api.conditions import READY, Status, set_condition
from certmgr.controllers.context import Context
from certmgr.controllers.status_patches import patch_status
from certmgr.kube.resources import CERTIFICATEREQUESTS
from certmgr.memo import Generations
from certmgr.runtime.cache import Cache, Obj

CACHE_WAIT_SECONDS: Final = 5.0

# Requests this process wrote Issued, as the API answered (uid -> object): read once by
# the issuing controller, else dropped after a while unread.
_ISSUED: Final[Generations[str, Obj]] = Generations()


def issued_as_written(request: Obj) -> Obj | None:
    """``request`` (a cached copy, perhaps without its chain) whole, as this process's
    issuer controller wrote it ``Issued``, when that write is the very version cached;
    None otherwise (fetch it). Taken: a second call for the same request answers None."""
    meta = request.get("metadata") or {}
    written = _ISSUED.pop(str(meta.get("uid") or ""))
    if written is None:
        return None
    version = (written.get("metadata") or {}).get("resourceVersion")
    return written if version and version == meta.get("resourceVersion") else None


@dataclass(frozen=True, slots=True)
class ReadyWriter:
    """Writes the ``Ready`` condition of the requests in ``requests`` (their informer's cache)."""

    ctx: Context
    requests: Cache

    async def pending(self, request: Obj, message: str) -> None:
        await self.write(request, reasons.REQUEST_PENDING, message, status=Status.FALSE)

    async def failed(self, request: Obj, reason: str, message: str) -> None:
        """``Failed`` or ``Denied``: final, with the time it first failed."""
        extra: dict[str, Any] = {}
        if not (request.get("status") or {}).get("failureTime"):
            extra["failureTime"] = rfc3339(self.ctx.clock.now())
        await self.write(request, reason, message, status=Status.FALSE, extra=extra)

    async def issued(self, request: Obj, message: str, *, certificate: bytes, ca: bytes) -> None:
        extra = {"certificate": base64.b64encode(certificate).decode()}
        if ca:
            extra["ca"] = base64.b64encode(ca).decode()
        await self.write(request, reasons.REQUEST_ISSUED, message, status=Status.TRUE, extra=extra)

    async def write(
        self,
        request: Obj,
        reason: str,
        message: str,
        *,
        status: Status,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """``Ready`` as given plus the ``extra`` status fields; nothing when unchanged."""
        current = request.get("status") or {}
        new = dict(current)
        new["conditions"] = set_condition(
            current.get("conditions"),
            type_=READY,
            status=status,
            reason=reason,
            message=message,
            observed_generation=None,
            now=self.ctx.clock.now(),
        )
        new.update(extra or {})
        written = await patch_status(self.ctx.client, CERTIFICATEREQUESTS, request, new)
        if written is None:
            return
        if reason == reasons.REQUEST_ISSUED and (uid := (written.get("metadata") or {}).get("uid")):
            # Before the wait: its watch event may wake the issuing controller first.
            _ISSUED.put(str(uid), written)
        await self.requests.wait_for_object(written, timeout=CACHE_WAIT_SECONDS)
