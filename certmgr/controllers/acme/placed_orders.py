"""ACME orders placed but not yet recorded in an Order's status: never placed twice.

Owns :class:`PlacedOrders`. Between ``new_order`` and the status write that records its
URL lies the one window where a fault would make the next reconcile place a second
order (an orphan, counted against the CA's pending-order limit):
- a failed write (409, 5xx, timeout) or a failed authorization read: the order placed
  is kept in memory per Order (by uid) and used by every retry until stored;
- a stale cache: an Order not created by this process (or whose first placement here
  failed) is read live before an order is placed for it; one this process created
  (:func:`created_here`) and placed nothing for yet cannot have a recorded order, since
  no other process leads meanwhile;
- a crash: a process that starts leading finds the order among the account's
  ``orders`` list (RFC 8555 7.1.2.1; Pebble offers it): for an Order that existed
  before it led (``creationTimestamp`` before its first look plus a skew margin), one
  snapshot per account of the orders still ``pending`` or ``ready`` is taken, and an
  order with the same identifiers that no Order records is reused. A CA without the
  list (Let's Encrypt) returns its pending order for the same account and identifiers
  from ``new_order`` anyway.
It must not write to the API or decide when an order is placed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

import structlog

from certmgr.acme.protocol import AcmeClient
from certmgr.acme.resources import Identifier, Order
from certmgr.api.codec import parse_rfc3339
from certmgr.memo import Generations
from certmgr.runtime.cache import Obj
from certmgr.runtime.clock import Clock

log = structlog.get_logger(__name__)

# Orders created this long after this process first looked may still be an earlier
# process's (clock skew between us and the API server, a slow hand-over).
SKEW_MARGIN: Final = timedelta(seconds=60)
_REUSABLE: Final = frozenset({"pending", "ready"})

IdentifierKey = tuple[tuple[str, str], ...]

# uids of the Orders this process created and has placed no ACME order for yet. An entry
# unread for a while expires: its Order is then read live first, the safe side.
_UNPLACED: Final[Generations[str, bool]] = Generations()


def created_here(uid: str) -> None:
    """The Order ``uid`` was just created by this process (the CertificateRequest
    controller, while leading)."""
    if uid:
        _UNPLACED.put(uid, True)


def first_placement_here(uid: str) -> bool:
    """Whether the Order ``uid`` was created by this process and no ACME order was placed
    for it since: nothing can have recorded one in its status, so the cached Order is as
    good as a live read. True once: the placement that follows may fail after the CA
    answered, and every later attempt reads the Order live."""
    return bool(uid) and _UNPLACED.pop(uid) is not None


def identifier_key(identifiers: Iterable[Identifier]) -> IdentifierKey:
    return tuple(sorted({(i.type, i.value.lower()) for i in identifiers}))


class PlacedOrders:
    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._started: datetime | None = None
        self._placed: dict[str, Order] = {}  # Order uid -> ACME order not stored yet
        self._snapshots: dict[str, dict[IdentifierKey, list[Order]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._taken: set[str] = set()  # ACME order URLs handed out from snapshots

    def start(self) -> None:
        """Called on every reconcile: the first one marks when this process began."""
        if self._started is None:
            self._started = self._clock.now()

    def placed(self, uid: str, order: Order) -> None:
        """``order`` was placed for the Order ``uid``: keep it until :meth:`stored`."""
        self._placed[uid] = order

    def stored(self, uid: str) -> None:
        self._placed.pop(uid, None)

    def pending_for(self, uid: str) -> Order | None:
        """The order this process placed for ``uid`` and could not record yet."""
        return self._placed.get(uid)

    async def find_earlier(
        self,
        client: AcmeClient,
        order: Obj,
        identifiers: Iterable[Identifier],
        *,
        recorded: Iterable[str],
    ) -> Order | None:
        """An order an earlier process placed for ``order`` (same identifiers, still
        pending or ready, recorded by no Order), or None. Only asked for Orders that
        existed before this process first looked."""
        if not self._predates_us(order):
            return None
        account = client.account_uri or ""
        lock = self._locks.setdefault(account, asyncio.Lock())
        async with lock:
            snapshot = self._snapshots.get(account)
            if snapshot is None:
                snapshot = await _snapshot(client)
                self._snapshots[account] = snapshot
        candidates = snapshot.get(identifier_key(identifiers), ())
        if not candidates:
            return None
        # ``recorded`` may be a pass over every Order: only taken when there is a choice.
        taken = self._taken | set(recorded)
        for candidate in candidates:
            if candidate.url not in taken:
                self._taken.add(candidate.url)
                return candidate
        return None

    def _predates_us(self, order: Obj) -> bool:
        created = (order.get("metadata") or {}).get("creationTimestamp")
        if not created or self._started is None:
            return False
        try:
            return parse_rfc3339(str(created)) < self._started + SKEW_MARGIN
        except ValueError:
            return True  # unreadable: looking costs little, an orphan more


async def _snapshot(client: AcmeClient) -> dict[IdentifierKey, list[Order]]:
    """The account's orders that could still be used, by identifiers."""
    found: dict[IdentifierKey, list[Order]] = {}
    urls = await client.account_orders()
    for url in urls:
        acme_order = await client.get_order(url)
        if acme_order.status in _REUSABLE:
            found.setdefault(identifier_key(acme_order.identifiers), []).append(acme_order)
    log.info("acme_account_orders_listed", listed=len(urls), reusable=sum(map(len, found.values())))
    return found
