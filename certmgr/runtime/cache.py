"""The informer's cache: objects of one kind by (namespace, name), with secondary indexes.

Owns the stored objects, named indexes (``"by-secret-name": obj -> ["ns/secret"]``), the
resourceVersion the cache has caught up to, and waiting for read-your-writes. It must
not talk to the API: only the informer writes to it (``apply``, ``replace``,
``observe``); controllers read.

Objects are the dicts the informer stored, shared with every reader: treat them as
read-only and ``copy.deepcopy`` before changing one for a write.

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
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from certmgr.kube.objects import name_of, namespace_of, resource_version
from certmgr.runtime.clock import Clock, SystemClock, race_clock

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
IndexFunc = Callable[[Obj], Iterable[str]]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Change = tuple[EventType, Obj | None, Obj | None]  # (type, old, new)

# Enough recent (key, version) pairs to bridge the gap between a write returning and
# its caller starting to wait, even under heavy churn of other objects.
RECENT_VERSIONS = 4096


def key_of(obj: Obj) -> Key:
    return (namespace_of(obj) or "", name_of(obj))


def object_key(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` when cluster-scoped), as work queues use."""
    namespace, name = key_of(obj)
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> Key:
    namespace, _, name = key.rpartition("/")
    return (namespace, name)


class Cache:
    def __init__(
        self, *, indexes: dict[str, IndexFunc] | None = None, clock: Clock | None = None
    ) -> None:
        self._objects: dict[Key, Obj] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        # index name -> value -> keys; and the values each key was filed under.
        self._indexes: dict[str, dict[str, set[Key]]] = {}
        self._filed: dict[str, dict[Key, tuple[str, ...]]] = {}
        self._resource_version = ""
        self._recent: deque[tuple[Key, str]] = deque(maxlen=RECENT_VERSIONS)
        self._recent_set: set[tuple[Key, str]] = set()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._clock: Clock = clock or SystemClock()
        for index, func in (indexes or {}).items():
            self.add_index(index, func)

    # -- reading ----------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> Obj | None:
        return self._objects.get((namespace or "", name))

    def list(
        self, namespace: str | None = None, *, selector: Callable[[Obj], bool] | None = None
    ) -> builtins.list[Obj]:
        """Objects (all, or of one namespace) for which ``selector`` holds, in no set order."""
        return [
            o
            for k, o in self._objects.items()
            if (namespace is None or k[0] == namespace) and (selector is None or selector(o))
        ]

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        if index not in self._indexes:
            raise KeyError(f"no index named {index!r}")
        return [self._objects[k] for k in sorted(self._indexes[index].get(value, ()))]

    def keys(self) -> builtins.list[Key]:
        return list(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def __iter__(self) -> Iterator[Obj]:
        return iter(list(self._objects.values()))

    @property
    def resource_version(self) -> str:
        """The latest version applied (list, event or bookmark); watches deliver in order."""
        return self._resource_version

    def add_index(self, index: str, func: IndexFunc) -> None:
        """Register (or replace) an index; existing objects are filed at once."""
        self._index_funcs[index] = func
        self._indexes[index] = {}
        self._filed[index] = {}
        for key, obj in self._objects.items():
            self._file(index, key, obj)

    # -- waiting for our own writes ----------------------------------------------------

    async def wait_for_object(self, obj: Obj, *, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the cache reflects ``obj`` (as a write returned it) or a later state.

        Raises ``TimeoutError`` when it does not within ``timeout`` seconds.
        """
        key, version = key_of(obj), resource_version(obj)

        def caught_up() -> bool:
            cached = self._objects.get(key)
            if cached is not None and resource_version(cached) == version:
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

    async def _wait(self, caught_up: Callable[[], bool], *, seconds: float) -> None:
        if caught_up():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (caught_up, future)
        self._waiters.append(waiter)
        try:
            await race_clock(self._clock, future, seconds=seconds)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

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
            old = self._store(key, obj)
            change = ("ADDED", None, obj) if old is None else ("MODIFIED", old, obj)
        self._remember(key, version)
        self.observe(version)
        return change

    def replace(self, objects: Iterable[Obj], version: str) -> builtins.list[Change]:
        """Make the cache exactly ``objects`` (a fresh list); returns the differences.

        Objects whose resourceVersion did not change produce no change, so a relist
        after a 410 wakes handlers only for what really happened while we were away.
        """
        listed = {key_of(o): o for o in objects}
        changes: builtins.list[Change] = []
        for key in sorted(self._objects.keys() - listed.keys()):
            old = self._remove(key)
            changes.append(("DELETED", old, None))
        for key in sorted(listed):
            new = listed[key]
            old = self._objects.get(key)
            if old is not None and resource_version(old) == resource_version(new):
                continue
            self._store(key, new)
            self._remember(key, resource_version(new))
            changes.append(("ADDED", None, new) if old is None else ("MODIFIED", old, new))
        self.observe(version)
        return changes

    def observe(self, version: str) -> None:
        """Record a version the informer has caught up to (also bookmarks) and wake waiters."""
        if version:
            self._resource_version = version
        self._wake()

    def _store(self, key: Key, obj: Obj) -> Obj | None:
        old = self._objects.get(key)
        if old is not None:
            self._unfile(key)
        self._objects[key] = obj
        for index in self._index_funcs:
            self._file(index, key, obj)
        return old

    def _remove(self, key: Key) -> Obj | None:
        old = self._objects.pop(key, None)
        if old is not None:
            self._unfile(key)
        return old

    def _file(self, index: str, key: Key, obj: Obj) -> None:
        values = tuple(dict.fromkeys(self._index_funcs[index](obj)))
        if not values:
            return
        self._filed[index][key] = values
        for value in values:
            self._indexes[index].setdefault(value, set()).add(key)

    def _unfile(self, key: Key) -> None:
        for index, filed in self._filed.items():
            for value in filed.pop(key, ()):
                keys = self._indexes[index][value]
                keys.discard(key)
                if not keys:
                    del self._indexes[index][value]

    def _remember(self, key: Key, version: str) -> None:
        if (key, version) in self._recent_set:
            return
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append((key, version))
        self._recent_set.add((key, version))


def _int_at_least(current: str, wanted: str) -> bool:
    try:
        return int(current) >= int(wanted)
    except ValueError:
        return False
