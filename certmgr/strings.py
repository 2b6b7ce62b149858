"""One shared copy of each string value that cached objects repeat, in a table that never
re-inserts all its entries at once and keeps no string nobody else uses.

Owns ``share`` (the process's pool, for values that are unique to one object or a few:
names, ``secretName``, DNS names, label and annotation values) and ``StringPool``.
``sys.intern`` keeps one dict for the whole process, and each time that dict grows it
re-inserts every entry within one call: tens of milliseconds past a million strings.
The pool is a linear-hashing table of small dicts (shards): it grows by splitting one
shard at a time, so no call moves more than one shard's entries. After every
``PRUNE_EVERY`` new strings (more while prunes find nothing) it drops, from the next
shard in turn, the strings only the pool still holds: a string outlives its last user
by about one round over the shards.
Keys and small vocabularies (kinds, condition reasons) stay with ``sys.intern``.

Must not import anything of certmgr's, so every layer may use it. Safe across threads:
splits and prunes take a lock; a lookup racing one can lose the sharing of a string,
never return a wrong one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import compress
from sys import getrefcount
from threading import Lock

# Average strings a shard holds before the pool adds one (a split). A split moves ~1.5
# times this many strings and a prune looks at as many, ~10-30 us in all; fewer, larger
# shards keep a lookup's memory reads close to one dict's.
LOAD = 64
# New strings added between two prunes of one shard (~2 strings looked at per string
# added; a prune reads each string's reference count, a cache miss apiece). A round over
# the shards takes half as many additions as the pool holds strings, so under churn
# (objects deleted, others created) the pool holds ~1.4 times the strings in use.
PRUNE_EVERY = LOAD // 2
# A prune that drops nothing doubles the additions until the next one, up to this many
# times PRUNE_EVERY (a start, when every string is in use, pays ~1/16 of it); one that
# drops something goes back to PRUNE_EVERY.
PRUNE_BACKOFF = 16


class StringPool:
    """Equal strings given to ``share`` come back as one object (the first one given)."""

    __slots__ = (
        "_addressing",
        "_count",
        "_load",
        "_lock",
        "_next_prune",
        "_prune_every",
        "_prune_interval",
        "_shards",
        "_until_prune",
        "last_prune",
        "last_split",
        "pruned_seen",
    )

    def __init__(self, *, load: int = LOAD, prune_every: int = PRUNE_EVERY) -> None:
        # Linear hashing: (low_mask, split, high_mask). A string's shard is hash &
        # low_mask; shards below ``split`` were split already, so theirs is hash &
        # high_mask (the other half at slot + low_mask + 1). One tuple, so a thread
        # reads the three from the same moment.
        self._shards: list[dict[str, str]] = [{}]
        self._addressing = (0, 0, 1)
        self._count = 0
        self._load = load
        self._prune_every = prune_every
        self._prune_interval = prune_every
        self._until_prune = prune_every
        self._next_prune = 0
        # Strings the last split and the last prune looked at (the work of one call, for
        # tests and benches).
        self.last_split = 0
        self.last_prune = 0
        # Strings all prunes looked at so far.
        self.pruned_seen = 0
        # Splits and prunes one thread at a time (PKI parsing in worker threads shares
        # names too); a lookup or an addition takes no lock.
        self._lock = Lock()

    def share(self, value: str) -> str:
        """The pool's copy of ``value`` (an exact ``str``), which becomes it if none."""
        hashed = hash(value)
        low_mask, split, high_mask = self._addressing
        slot = hashed & low_mask
        if slot < split:
            slot = hashed & high_mask
        shard = self._shards[slot]
        found = shard.get(value)
        if found is not None:
            return found
        shard[value] = value
        self._count += 1
        self._until_prune -= 1
        if self._until_prune <= 0 or self._count > self._load * len(self._shards):
            self._maintain()
        return value

    def __len__(self) -> int:
        return sum(map(len, self._shards))

    def shard_sizes(self) -> list[int]:
        """How many strings each shard holds."""
        return [len(shard) for shard in self._shards]

    def prune_all(self) -> int:
        """Drop every string only the pool holds (tests, benches); how many."""
        with self._lock:
            before = len(self)
            for index in range(len(self._shards)):
                self._prune(index)
            self._count = len(self)
            return before - len(self)

    def _maintain(self) -> None:
        with self._lock:
            if self._until_prune <= 0:
                index = self._next_prune
                self._next_prune = index + 1 if index + 1 < len(self._shards) else 0
                dropped = self._prune(index)
                self._count -= dropped
                self._prune_interval = (
                    self._prune_every
                    if dropped
                    else min(2 * self._prune_interval, PRUNE_BACKOFF * self._prune_every)
                )
                self._until_prune = self._prune_interval
            if self._count > self._load * len(self._shards):
                self._split_one()

    def _prune(self, index: int) -> int:
        shard = self._shards[index]
        names = tuple(shard)
        unused = _unused(names)
        _consume(map(shard.pop, unused))
        self.last_prune = len(names)
        self.pruned_seen += len(names)
        return len(unused)

    def _split_one(self) -> None:
        low_mask, split, high_mask = self._addressing
        low = low_mask + 1
        shard = self._shards[split]
        names = tuple(shard)
        # Iterated in C (map, compress): a split is ~1.5 strings looked at per addition.
        moved = list(compress(names, map(low.__and__, map(hash, names))))
        # Deleted in place (a second dict would cost another pass): the shard's table is
        # compacted by its next growth.
        _consume(map(shard.pop, moved))
        self._shards.append(dict(zip(moved, moved, strict=True)))
        self.last_split = len(names)
        if split + 1 < low:
            self._addressing = (low_mask, split + 1, high_mask)
        else:  # every shard of this round split: the next round addresses by one more bit
            self._addressing = (high_mask, 0, (high_mask << 1) | 1)


def _consume(calls: Iterable[object]) -> None:
    deque(calls, maxlen=0)


def _unused(names: tuple[str, ...]) -> list[str]:
    """The strings of ``names`` (a shard's, taken with ``tuple(shard)``) that nothing but
    the shard and ``names`` refers to."""
    return list(compress(names, map(_POOL_ONLY.__ge__, map(getrefcount, names))))


def _pool_only_references() -> int:
    # What ``_unused`` sees of a string that only a shard holds (its key and value, the
    # tuple, the references of compress's and map's iterators over it), measured through
    # the very same pipeline.
    probe = "".join(("certmgr-", "string-pool-probe"))
    shard = {probe: probe}
    names = tuple(shard)
    del probe
    seen: list[int] = []
    _consume(compress(names, map(seen.append, map(getrefcount, names))))
    return seen[0]


_POOL_ONLY = _pool_only_references()

_POOL = StringPool()
share = _POOL.share


def pool() -> StringPool:
    """The process's pool (``share``'s)."""
    return _POOL
