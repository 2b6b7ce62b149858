"""The informer's cache: objects of one kind by (namespace, name), with secondary indexes.

Owns the stored objects, named indexes (``"by-secret-name": obj -> ["ns/secret"]``), the
resourceVersion the cache has caught up to, and waiting for read-your-writes. It must
not talk to the API: only the informer writes to it (``apply``, ``replace``,
``observe``); controllers read.

Objects are the dicts the informer stored, shared with every reader: treat them as
read-only and ``copy.deepcopy`` before changing one for a write (the test suite checks it:
``testing/cached_objects.py``). A keys-only cache keeps
nothing but each key's resourceVersion (~200 bytes an object instead of kilobytes) and
answers reads with stubs ``{"metadata": {namespace, name, resourceVersion}}``; its indexes
are computed from the full objects as they arrive, so they still work.
A cache given ``pack`` keeps what it makes of each object: one it packed (``Packed``) is
read as an equal dict made afresh (equal each time; a packed Certificate is read as the
one a reader still holds, if any), and indexed, like a keys-only one, from the object as
it arrived.

Index functions must be pure functions of the object's content (no clock, no state that
changes while the process runs): to unfile an object, the cache runs them again on the
object it held, read back, instead of keeping per key the values it was filed under. Only
a keys-only cache keeps those (its stubs lack what the functions read). The test suite
checks the rule (``Cache.impure_indexes``).

Storage is one dict of names per namespace: a namespace string is kept once, no key
tuples are allocated per object, and reading one namespace does not scan the others.

Timeouts are measured on the injected ``Clock`` (so a fake clock drives them), which is
why the waits take a ``timeout`` argument instead of relying on ``asyncio.timeout``.

Read-your-writes: resourceVersions are opaque strings in Kubernetes, so
``wait_for_object`` does not compare them. After a write returned object X at version R,
it waits until the cache holds X at R, or has applied an event for X at R that a later
event already replaced (remembered in a bounded ring of recent (key, version) pairs).
Only as a last resort, when both versions parse as integers (etcd's do), does it accept
"the cache has seen a version >= R", which also covers a ring that overflowed.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any, ClassVar, Literal

from certmgr.kube.objects import metadata as object_metadata
from certmgr.kube.objects import resource_version
from certmgr.runtime.clock import Clock, SystemClock, race_clock
from certmgr.strings import share

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
IndexFunc = Callable[[Obj], Iterable[str]]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Change = tuple[EventType, Obj | None, Obj | None]  # (type, old, new)


class Packed:
    """An object a cache keeps in a form smaller than its dict (``Cache(pack=...)``):
    every read gets an equal dict made afresh by ``unpack``."""

    __slots__ = ()

    def unpack(self) -> Obj:
        raise NotImplementedError

    @property
    def resource_version(self) -> str:
        raise NotImplementedError


class PackedTuple(tuple[Any, ...], Packed):
    """A ``Packed`` kept as one tuple: a ``runtime/packing.py`` layout made to find
    ``metadata.resourceVersion``, then ``EXTRA`` values of the subclass's own, then the
    object's values. Subclasses say how to ``unpack``."""

    __slots__ = ()
    EXTRA: ClassVar[int] = 0

    def unpacked_values(self) -> Any:
        """The object as its layout rebuilds it from the values, without the extras."""
        return self[0].unpack(self, start=1 + self.EXTRA)

    @property
    def resource_version(self) -> str:
        version = self[0].found(self, start=1 + self.EXTRA)
        return version if type(version) is str else ""


# What the cache keeps per key: the object, only its resourceVersion (keys-only; an int
# when the version is a canonical decimal, as etcd's are, because it is smaller), or the
# object packed.
Stored = Obj | str | int | Packed
Pack = Callable[[Obj], Obj | Packed]
Filed = dict[str, tuple[str, ...]]  # index name -> the values an object is filed under
# key -> the values it is filed under in one index, a lone value bare (not in a tuple).
FiledByKey = dict[Key, str | tuple[str, ...]]

# Enough recent (key, version) pairs to bridge the gap between a write returning and
# its caller starting to wait, even under heavy churn of other objects.
RECENT_VERSIONS = 4096
# Objects put into an empty cache between two yields to the loop (``replace_yielding``):
# 1,000 Certificates with their indexes held it 20-50 ms at 100,000.
FILL_BATCH = 400
# Numbers every change to what a cache's indexes file, across all caches (``Cache.state``).
_states = itertools.count(1)


def key_of(obj: Obj) -> Key:
    """(namespace or "", name), as ``namespace_of`` and ``name_of`` read them (metadata
    looked up once: every event and listed object is keyed, by each cache and handler)."""
    meta = object_metadata(obj)
    namespace = meta.get("namespace")
    # Interned: thousands of objects share a few namespaces.
    return (sys.intern(str(namespace)) if namespace else "", str(meta.get("name") or ""))


def object_key(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` when cluster-scoped), as work queues use.

    Shared (``strings.share``): each controller's queue, delayed adds and per-key state
    keep the key of every Certificate for as long as it waits for its renewal; one string
    serves them all.
    """
    namespace, name = key_of(obj)
    return share(f"{namespace}/{name}") if namespace else name


def split_key(key: str) -> Key:
    namespace, _, name = key.rpartition("/")
    return (namespace, name)


class Staged:
    """A fresh list being collected page by page (``Cache.stage``), packed as it arrives.

    Packing on arrival is what keeps a relist of 50,000 keys-only Secrets from holding
    50,000 full objects at once; the staged dicts then become the cache's storage. The
    index values wait in one table per index, not in a dict per object: ~250 bytes an
    object less at the list's peak (freed after it, but as holes between what is kept).
    """

    __slots__ = ("_cache", "filed", "objects")

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self.objects: dict[str, dict[str, Stored]] = {}
        self.filed: dict[str, FiledByKey] = {}  # index name -> key -> values

    def add(self, obj: Obj) -> None:
        namespace, name = key = key_of(obj)
        self.objects.setdefault(namespace, {})[name] = self._cache._pack(obj)
        for index, values in self._cache._index_values(obj).items():
            by_key = self.filed.get(index)
            if by_key is None:
                by_key = self.filed[index] = {}
            by_key[key] = _bare(values)

    def values_of(self, key: Key) -> Filed:
        """Each index's values of ``key`` (as ``Cache._index_values`` made them)."""
        found: Filed = {}
        for index, by_key in self.filed.items():
            values = by_key.get(key)
            if values is not None:
                found[index] = _spread(values)
        return found


class CacheStopped(TimeoutError):
    """The informer that fills the cache has stopped: a wait for it can never be met.

    A ``TimeoutError``, so every caller that tolerates a read-your-writes timeout
    tolerates this too; it only comes sooner (a drain at shutdown need not wait it out).
    """


class Cache:
    # A list set by the test suite: every cache made then also records the values each
    # key was filed under, unfiles by them, and adds a line here whenever its index
    # functions give other values for the object held (not raised: the informer would
    # only log it).
    impure_indexes: ClassVar[builtins.list[str] | None] = None

    def __init__(
        self,
        *,
        indexes: dict[str, IndexFunc] | None = None,
        keys_only: bool = False,
        pack: Pack | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.keys_only = keys_only
        self._packer = pack
        self._objects: dict[str, dict[str, Stored]] = {}
        self._count = 0
        self._index_funcs: dict[str, IndexFunc] = {}
        # index name -> value -> keys. Most values name one object (a Certificate's
        # Secret): a lone key (or recorded value) is kept bare instead of in a
        # one-element set or tuple (~250 bytes an object an index).
        self._indexes: dict[str, dict[str, Key | set[Key]]] = {}
        # index name -> key -> the values it was filed under: recorded only where they
        # cannot be computed again from the object held (keys-only), or to check that
        # they can (tests).
        self._impure = Cache.impure_indexes
        self._records_filed = keys_only or self._impure is not None
        self._filed: dict[str, dict[Key, str | tuple[str, ...]]] = {}
        self._unshared: set[str] = set()  # indexes whose values skip the string pool
        self._resource_version = ""
        self._recent: deque[tuple[Key, str]] = deque(maxlen=RECENT_VERSIONS)
        self._recent_set: set[tuple[Key, str]] = set()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._stopped = False
        self._clock: Clock = clock or SystemClock()
        # Changes whenever an object is filed or unfiled (every add, update, delete and
        # relist difference), never to a value another cache had: a reader that finds
        # the same ``state`` finds every ``by_index`` answer the very same objects.
        self.state = next(_states)
        for index, func in (indexes or {}).items():
            self.add_index(index, func)

    # -- reading ----------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> Obj | None:
        key = (namespace or "", name)
        stored = self._stored(key)
        return None if stored is None else self._unpack(key, stored)

    def list(
        self, namespace: str | None = None, *, selector: Callable[[Obj], bool] | None = None
    ) -> builtins.list[Obj]:
        """Objects (all, or of one namespace) for which ``selector`` holds, in no set order."""
        objects = (self._unpack(key, stored) for key, stored in self._items(namespace))
        return [o for o in objects if selector is None or selector(o)]

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        if index not in self._indexes:
            raise KeyError(f"no index named {index!r}")
        keys = sorted(_keys(self._indexes[index].get(value)))
        return [self._unpack(k, stored) for k in keys if (stored := self._stored(k)) is not None]

    def keys_by_index(self, index: str, value: str) -> builtins.list[Key]:
        """The keys filed under ``value``, in no set order, without reading the objects
        (an issuer named by 100,000 Certificates: ``by_index`` sorts and unpacks them)."""
        if index not in self._indexes:
            raise KeyError(f"no index named {index!r}")
        return builtins.list(_keys(self._indexes[index].get(value)))

    def keys(self) -> builtins.list[Key]:
        return [key for key, _ in self._items(None)]

    def holds_any(self, namespace: str) -> bool:
        """Whether any object of ``namespace`` is cached, without listing them."""
        return bool(self._objects.get(namespace))

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        return key[1] in self._objects.get(key[0], ())

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.list())

    def scan(self) -> Iterator[Obj]:
        """Every object, lazily and without copying the cache into a list first (a scrape
        over 10,000 Certificates). The caller must not await while iterating: the cache
        changes between awaits."""
        if not self.keys_only and self._packer is None:  # stored objects are the objects
            for names in self._objects.values():
                yield from names.values()  # type: ignore[misc]
            return
        for namespace, names in self._objects.items():
            for name, stored in names.items():
                yield self._unpack((namespace, name), stored)

    def snapshot(self) -> builtins.list[Obj]:
        """Every object in a new list, taken at C speed (``list(scan())`` resumes a
        generator per object: ~25 ms for a scrape over 100,000 Certificates). The objects
        are the cached ones, which the cache never modifies in place."""
        if self.keys_only or self._packer is not None:
            return builtins.list(self.scan())
        return builtins.list(
            chain.from_iterable(names.values() for names in self._objects.values())  # type: ignore[misc]
        )

    def stored_snapshot(self) -> builtins.list[Obj | Packed]:
        """Every object as kept, in a new list taken at C speed: a packed one as its
        ``Packed`` form, which stays the same object for as long as the object is
        unchanged, to ``unpack`` off the loop. Not for a keys-only cache."""
        if self.keys_only:
            raise TypeError("a keys-only cache keeps no objects")
        return builtins.list(
            chain.from_iterable(names.values() for names in self._objects.values())  # type: ignore[misc]
        )

    @property
    def resource_version(self) -> str:
        """The latest version applied (list, event or bookmark); watches deliver in order."""
        return self._resource_version

    def add_index(self, index: str, func: IndexFunc, *, shared: bool = True) -> None:
        """Register (or replace) an index; objects already cached are filed at once.

        Its values go through the string pool (``strings.share``) unless ``shared`` is
        false: for values each object holds and no other does (an owner's uid), the pool
        would keep an entry per object and share nothing.

        ``func`` must be a pure function of the object's content: it is run again on the
        object held to unfile it (see the module's docstring).

        A keys-only cache can file existing objects only by their stubs: register its
        indexes before the informer runs.

        Registering the very function already registered under ``index`` is a no-op: the
        index is kept up to date on every change, so filing every object again would cost
        a pass over the whole cache for nothing (callers may register on every use).
        """
        if self._index_funcs.get(index) is func:
            return
        self._index_funcs[index] = func
        if shared:
            self._unshared.discard(index)
        else:
            self._unshared.add(index)
        self._indexes[index] = {}
        self._filed[index] = {}
        self.state = next(_states)
        for key, stored in self._items(None):
            values = self._shared(index, func(self._unpack(key, stored)))
            self._file(key, {index: values})

    def _stored(self, key: Key) -> Stored | None:
        names = self._objects.get(key[0])
        return None if names is None else names.get(key[1])

    def _items(self, namespace: str | None) -> builtins.list[tuple[Key, Stored]]:
        if namespace is not None:
            names = self._objects.get(namespace) or {}
            return [((namespace, name), stored) for name, stored in names.items()]
        return [
            ((ns, name), stored)
            for ns, names in self._objects.items()
            for name, stored in names.items()
        ]

    # -- waiting for our own writes ----------------------------------------------------

    async def wait_for_object(self, obj: Obj, *, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the cache reflects ``obj`` (as a write returned it) or a later state.

        Raises ``TimeoutError`` when it does not within ``timeout`` seconds.
        """
        key, version = key_of(obj), resource_version(obj)

        def caught_up() -> bool:
            cached = self._stored(key)
            if cached is not None and _version_of(cached) == version:
                return True
            return (key, version) in self._recent_set or _int_at_least(
                self._resource_version, version
            )

        await self._wait(caught_up, seconds=timeout)

    async def wait_for(self, version: str, *, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the cache has applied ``version`` (any object, or a bookmark).

        Exact match on recent versions; ``>=`` only when both parse as integers.
        """

        def caught_up() -> bool:
            return self._resource_version == version or _int_at_least(
                self._resource_version, version
            )

        await self._wait(caught_up, seconds=timeout)

    async def wait_until(self, condition: Callable[[Cache], bool], *, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until ``condition(cache)`` holds (checked after every change), e.g. until
        a deleted object is gone: ``lambda c: ("ns", "name") not in c``."""
        await self._wait(lambda: condition(self), seconds=timeout)

    async def _wait(self, caught_up: Callable[[], bool], *, seconds: float) -> None:
        if caught_up():
            return
        if self._stopped:
            raise CacheStopped("the informer of this cache has stopped")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (caught_up, future)
        self._waiters.append(waiter)
        try:
            await race_clock(self._clock, future, seconds=seconds)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def stop(self) -> None:
        """Its informer stopped: every wait not met now fails with ``CacheStopped``."""
        self._stopped = True
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(CacheStopped("the informer of this cache has stopped"))

    def start(self) -> None:
        """Its informer runs (again): waits wait for it."""
        self._stopped = False

    def _wake(self) -> None:
        for caught_up, future in list(self._waiters):
            if not future.done() and caught_up():
                future.set_result(None)

    # -- writing (the informer only) ---------------------------------------------------

    def apply(self, event_type: str, obj: Obj) -> Change | None:
        """Apply one watch event; returns the change handlers should see, if any.

        ADDED vs MODIFIED is decided by what the cache held, not by the event type, so a
        replayed ADDED after a relist is an update, as in client-go.
        """
        key = key_of(obj)
        version = resource_version(obj)
        change: Change | None
        if event_type == "DELETED":
            old = self._remove(key)
            change = ("DELETED", obj, None) if old is not None else None
        else:
            old = self._remove(key)
            self._put(key, self._pack(obj), self._index_values(obj))
            change = ("ADDED", None, obj) if old is None else ("MODIFIED", old, obj)
        self._remember(key, version)
        self.observe(version)
        return change

    def stage(self) -> Staged:
        return Staged(self)

    def replace(self, objects: Iterable[Obj] | Staged, version: str) -> builtins.list[Change]:
        """Make the cache exactly ``objects`` (a fresh list); returns the differences.

        Objects whose resourceVersion did not change produce no change (and keep their
        stored identity), so a relist after a 410 wakes handlers only for what really
        happened while we were away.
        """
        if isinstance(objects, Staged):
            staged = objects
        else:
            staged = self.stage()
            for obj in objects:
                staged.add(obj)
        changes: builtins.list[Change] = []
        for key, stored in self._items(None):
            if key[1] not in staged.objects.get(key[0], ()):
                gone = self._unpack(key, stored)
                self._unfile(key, gone)
                changes.append(("DELETED", gone, None))
        count = 0
        for namespace, names in staged.objects.items():
            for name, stored in names.items():
                count += 1
                key = (namespace, name)
                previous = self._stored(key)
                if previous is not None and _version_of(previous) == _version_of(stored):
                    names[name] = previous
                    continue
                old = None if previous is None else self._unpack(key, previous)
                if old is not None:
                    self._unfile(key, old)
                self._file(key, staged.values_of(key))
                self._remember(key, _version_of(stored))
                new = self._unpack(key, stored)
                changes.append(("ADDED", None, new) if old is None else ("MODIFIED", old, new))
        self._objects = staged.objects
        self._count = count
        self.observe(version)
        return changes

    async def replace_yielding(
        self, staged: Staged, version: str, *, batch: int = FILL_BATCH
    ) -> Iterable[Change]:
        """``replace``, giving the loop back every ``batch`` objects filed into an index
        table when the cache is empty (the first list: 50,000 Secrets took ~1 s in one
        piece). Only the informer writes a cache and nothing acts on it before it has
        synced, so a partly indexed cache is seen by no decision; a relist over a filled
        cache stays one atomic step.

        Its changes (all ADDED) are made as they are read, and its versions are not
        remembered: a keys-only cache's stubs for 50,000 Secrets, made at once, and the
        ring's churn among them outlived the list as ~20 MB of the allocator's arenas.
        Nothing waits for its own write in a cache that has not synced yet; after a
        relist into an emptied cache a waiter still sees the cached version, or a later
        one by the integer comparison."""
        if self._count or self._objects:
            return self.replace(staged, version)
        for namespace, names in staged.objects.items():
            self._objects[namespace] = names  # the staged tables become the cache's
            self._count += len(names)
        self.state = next(_states)
        # One table per pass (index by index: its keys' table where they are recorded,
        # then its values'), the loop given back every ``batch`` keys. Filed key by key
        # into every table, the tables that hold an entry per object (an index's keys;
        # its values when each object has its own, as a Certificate's Secret) grew on the
        # same key, and one step paid all of their resizes (34-53 ms at 100,000 in a
        # large heap).
        files = (self._file_key, self._file_values) if self._records_filed else (self._file_values,)
        for index in builtins.list(self._indexes):
            by_key = staged.filed.pop(index, {})
            for file in files:
                for done, (key, values) in enumerate(by_key.items(), 1):
                    file(index, key, values)
                    if done % batch == 0:
                        await asyncio.sleep(0)
                await asyncio.sleep(0)
            # Let go of the staged values a slice at a time: 100,000 per-object dicts
            # freed at once held the loop ~45 ms; these are mostly the values filed.
            while by_key:
                for _ in range(min(batch, len(by_key))):
                    by_key.popitem()
                await asyncio.sleep(0)
        self.state = next(_states)
        self.observe(version)
        return self._added(staged.objects)

    def _added(self, objects: dict[str, dict[str, Stored]]) -> Iterator[Change]:
        """An ADDED change for each of ``objects`` still cached as it is, made when read."""
        for namespace, names in objects.items():
            for name in builtins.list(names):
                key = (namespace, name)
                stored = self._stored(key)
                if stored is not None and stored is names[name]:
                    yield ("ADDED", None, self._unpack(key, stored))

    def observe(self, version: str) -> None:
        """Record a version the informer has caught up to (also bookmarks) and wake waiters."""
        if version:
            self._resource_version = version
        self._wake()

    def _pack(self, obj: Obj) -> Stored:
        if not self.keys_only:
            return obj if self._packer is None else self._packer(obj)
        version = resource_version(obj)
        return int(version) if version.isdigit() and str(int(version)) == version else version

    def _unpack(self, key: Key, stored: Stored) -> Obj:
        if isinstance(stored, dict):
            return stored
        if isinstance(stored, Packed):
            return stored.unpack()
        metadata = {"name": key[1], "resourceVersion": str(stored)}
        if key[0]:
            metadata["namespace"] = key[0]
        return {"metadata": metadata}

    def _index_values(self, obj: Obj) -> Filed:
        # Shared: an issuer's name is a value of thousands of objects, a Secret's key
        # that of its Certificate.
        filed = {index: self._shared(index, f(obj)) for index, f in self._index_funcs.items()}
        return {index: values for index, values in filed.items() if values}

    def _shared(self, index: str, values: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(values if index in self._unshared else map(share, values)))

    def _put(self, key: Key, stored: Stored, filed: Filed) -> None:
        self._objects.setdefault(key[0], {})[key[1]] = stored
        self._count += 1
        self._file(key, filed)

    def _remove(self, key: Key) -> Obj | None:
        names = self._objects.get(key[0])
        stored = None if names is None else names.pop(key[1], None)
        if stored is None:
            return None
        self._count -= 1
        if not names:
            del self._objects[key[0]]
        old = self._unpack(key, stored)
        self._unfile(key, old)
        return old

    def _file(self, key: Key, filed: Filed) -> None:
        self.state = next(_states)
        for index, values in filed.items():
            if not values or index not in self._indexes:
                continue
            if self._records_filed:
                self._file_key(index, key, values)
            self._file_values(index, key, values)

    def _file_key(self, index: str, key: Key, values: str | tuple[str, ...]) -> None:
        """Record the values ``key`` is filed under in ``index`` (not empty)."""
        self._filed[index][key] = _bare(values)

    def _file_values(self, index: str, key: Key, values: str | tuple[str, ...]) -> None:
        """File ``key`` under each of ``values`` (one bare) in ``index``."""
        by_value = self._indexes[index]
        for value in _spread(values):
            held = by_value.get(value)
            if held is None or held == key:
                by_value[value] = key
            elif isinstance(held, set):
                held.add(key)
            else:
                by_value[value] = {held, key}

    def _unfile(self, key: Key, old: Obj) -> None:
        """Take ``key`` out of every index, ``old`` being the object it held as read back."""
        self.state = next(_states)
        for index, func in self._index_funcs.items():
            values = self._filed_values(index, key, old, func)
            by_value = self._indexes[index]
            for value in values:
                held = by_value.get(value)
                if isinstance(held, set):
                    held.discard(key)
                    if len(held) == 1:
                        by_value[value] = next(iter(held))
                elif held == key:
                    del by_value[value]

    def _filed_values(self, index: str, key: Key, old: Obj, func: IndexFunc) -> Iterable[str]:
        """The values ``key`` was filed under in ``index``: what ``func`` makes of the
        object it held (equal values find the entries), or as recorded for a stub."""
        if not self._records_filed:
            return dict.fromkeys(func(old))
        filed = _spread(self._filed[index].pop(key, ()))
        if not self.keys_only and self._impure is not None:
            values = tuple(dict.fromkeys(func(old)))
            if set(values) != set(filed):
                self._impure.append(f"{index}: {key} filed under {filed}, then {values}")
        return filed

    def _remember(self, key: Key, version: str) -> None:
        if (key, version) in self._recent_set:
            return
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append((key, version))
        self._recent_set.add((key, version))


def _bare(values: str | tuple[str, ...]) -> str | tuple[str, ...]:
    """Filed values as kept: a lone value bare, not in a one-element tuple."""
    return values[0] if type(values) is tuple and len(values) == 1 else values


def _spread(values: str | tuple[str, ...]) -> tuple[str, ...]:
    """Filed values as kept (``_bare``) back as a tuple."""
    return (values,) if isinstance(values, str) else values


def _keys(held: Key | set[Key] | None) -> Iterable[Key]:
    if held is None:
        return ()
    return held if isinstance(held, set) else (held,)


def _version_of(stored: Stored) -> str:
    if isinstance(stored, dict):
        return resource_version(stored)
    return stored.resource_version if isinstance(stored, Packed) else str(stored)


def _int_at_least(current: str, wanted: str) -> bool:
    try:
        return int(current) >= int(wanted)
    except ValueError:
        return False
