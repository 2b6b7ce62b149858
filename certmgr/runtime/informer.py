"""The informer: keeps a ``Cache`` equal to the server's state of one kind, and tells
handlers what changed.

Owns the list-then-watch loop (kopf's ``watching``, client-go's reflector): list, then
watch from the list's resourceVersion with bookmarks; on 410 Gone relist and hand the
handlers the synthetic ADDED/MODIFIED/DELETED that make the cache converge exactly to
the fresh list; on other errors back off (capped exponential, full jitter) and watch
again from the last version seen; end streams are simply re-opened. A list's next page is
read while the current one is staged (``list_pages(read_ahead=True)``). It must not decide
anything about the objects: handlers (usually "enqueue this key") do.

Handlers are plain callables ``handler(event_type, old, new)``, run inline after the
cache changed, so a handler reading the cache sees the new state. A handler that raises
is logged and skipped; it cannot stop the informer.

Transforms run on every object before it is stored (``drop_managed_fields`` saves a
third of the memory of a typical object); they must keep ``metadata.name``,
``namespace`` and ``resourceVersion``. ``pack`` makes the cache keep a smaller form of some
objects (``Cache``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from sys import intern
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from certmgr.kube.errors import APIError, Gone, TooManyRequests
from certmgr.kube.objects import WatchEvent
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import Resource
from certmgr.runtime.cache import Cache, Change, EventType, IndexFunc, Obj, Pack, Staged
from certmgr.runtime.clock import Clock, SystemClock, race_clock
from certmgr.runtime.gcpolicy import freeze_long_lived, freeze_without_collecting
from certmgr.runtime.shapes import shaped, shaped_table
from certmgr.strings import share

log = structlog.get_logger(__name__)

Handler = Callable[[EventType, Obj | None, Obj | None], None]
# Changes handed to one handler between two yields to the loop after a list or resync
# (``_dispatch_yielding``).
DISPATCH_BATCH = 128
# Listed objects transformed between two yields to the loop: a managed Secret's summary
# parses its certificate (~0.5-1 ms of CPU), so a page of 50 was one 25-45 ms turn.
PREPARE_BATCH = 16
Transform = Callable[[Obj], Obj]

# An empty watch that ends sooner than this counts as a failure (backoff before the next).
QUICK_WATCH_END = 1.0

INFORMER_RELISTS = Counter(
    "certmgr_informer_relists",
    "Lists after an informer's first one (410 Gone or a failed list).",
    ["resource"],
)
INFORMER_OBJECTS = Gauge(
    "certmgr_informer_objects", "Objects held in an informer's cache.", ["resource"]
)
INFORMER_WATCH_ERRORS = Counter(
    "certmgr_informer_watch_errors",
    "Failed list or watch attempts, retried with backoff.",
    ["resource"],
)


class Informer:
    def __init__(
        self,
        client: KubeAPI,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        transform: Transform | None = None,
        pack: Pack | None = None,
        resync: float | None = None,
        on_event: Handler | Sequence[Handler] = (),
        indexes: dict[str, IndexFunc] | None = None,
        keys_only: bool = False,
        name: str | None = None,
        clock: Clock | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        watch_timeout: float = 300.0,
        page_size: int | None = 500,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self.resource = resource
        self.name = name or resource.plural + ("-metadata" if metadata_only else "")
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._metadata_only = metadata_only
        self._transform = transform
        self._resync = resync
        self._clock: Clock = clock or SystemClock()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._watch_timeout = watch_timeout
        self._page_size = page_size
        self._draw = draw
        self._handlers: list[Handler] = (
            list(on_event) if isinstance(on_event, Sequence) else [on_event]
        )
        self.cache = Cache(indexes=indexes, keys_only=keys_only, pack=pack, clock=self._clock)
        self._objects_gauge = INFORMER_OBJECTS.labels(resource=self.name)
        self._synced = asyncio.Event()
        self._failures = 0
        self._lists = 0
        # The version to watch from; None means "list first". _listed is the last list's.
        self._version: str | None = None
        self._listed: str | None = None
        self._retry_after = 0.0

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return once the first list is in the cache and its handlers have seen it;
        ``TimeoutError`` after ``timeout``."""
        if timeout is None:
            await self._synced.wait()
        else:
            await race_clock(self._clock, self._synced.wait(), seconds=timeout)

    def add_handler(self, handler: Handler) -> None:
        """Add a handler; it is told about objects already cached as ADDED, so late
        subscribers see the same world as early ones."""
        self._handlers.append(handler)
        for obj in self.cache:
            self._call(handler, "ADDED", None, obj)

    async def run(self) -> None:
        """List and watch until cancelled."""
        log.debug("informer_started", informer=self.name)
        self.cache.start()
        try:
            async with asyncio.TaskGroup() as group:
                if self._resync:
                    group.create_task(self._resync_forever(self._resync))
                await self._list_and_watch_forever()
        finally:
            # Nothing fills the cache now: reconciles waiting for their writes to show
            # (a drain at shutdown) fail at once instead of waiting out their timeouts.
            self.cache.stop()
            log.debug("informer_stopped", informer=self.name)

    async def _list_and_watch_forever(self) -> None:
        while True:
            if self._failures:
                await self._clock.sleep(max(self._backoff(), self._retry_after))
            self._retry_after = 0.0
            try:
                if self._version is None:
                    await self._list()
                await self._watch()
            except Gone:
                # Too far behind: relist. A 410 straight after a list means the server
                # keeps almost no history; back off so we do not relist in a tight loop.
                log.info("informer_relist", informer=self.name, reason="gone")
                self._failures = self._failures + 1 if self._version == self._listed else 0
                self._version = None
            except APIError as exc:
                if isinstance(exc, TooManyRequests) and exc.retry_after:
                    self._retry_after = exc.retry_after  # the server said when; no sooner
                self._failed(exc)
            except Exception as exc:
                # A bug (or a malformed object) must not stop the cache for good; it is
                # logged with its traceback and retried with backoff like any failure.
                log.exception("informer_crashed", informer=self.name)
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        INFORMER_WATCH_ERRORS.labels(resource=self.name).inc()
        log.warning(
            "informer_error",
            informer=self.name,
            error=repr(exc),
            failures=self._failures,
            relist=self._version is None,
        )

    async def _list(self) -> None:
        if self._lists:
            INFORMER_RELISTS.labels(resource=self.name).inc()
        self._lists += 1
        # Page by page into a staged snapshot: a keys-only cache never holds a whole
        # list of full objects, even for a moment.
        staged = self.cache.stage()
        version = ""
        first_page = True
        # The next page is read while this one is staged; closed here, not whenever the
        # collector finalizes the pager, so a stopped or failed list leaves no request.
        pages = self._client.list_pages(
            self.resource,
            namespace=self._namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
            metadata_only=self._metadata_only,
            page_size=self._page_size,
            read_ahead=True,
        )
        async with contextlib.aclosing(pages):
            async for page in pages:
                await self._stage_yielding(staged, page.items)
                version = page.resource_version
                # The page as decoded goes first (what was staged holds what is kept of
                # it), so the freeze below neither scans nor keeps it.
                del page
                # A list is the bulk of what the caches will hold for good: freezing each
                # page keeps full collections from re-scanning it (each held the loop for
                # seconds). The first page's freeze collects the young generations first
                # (what came before the list: at start, the imports' garbage); the pages
                # after it leave no cyclic garbage to speak of and are frozen as they are.
                if first_page:
                    freeze_long_lived()
                    first_page = False
                else:
                    freeze_without_collecting()
        changes = await self.cache.replace_yielding(staged, version)
        # A first fill makes the cache's indexes and their keys (two dicts of 100,000
        # entries for the requests' owners) in slices: frozen too, or the next young
        # collection scans them whole (94 ms at 100k).
        freeze_without_collecting()
        self._version = self._listed = version
        self._failures = 0
        self._objects_gauge.set(len(self.cache))
        await self._dispatch_yielding(changes)
        if not self._synced.is_set():
            # Synced once the handlers were told about the whole list too (client-go's
            # handler HasSynced): controllers started on it find their keys all queued.
            log.info("informer_synced", informer=self.name, objects=len(self.cache))
            self._synced.set()

    async def _watch(self) -> None:
        """Watch from the last version seen until the stream ends."""
        assert self._version is not None
        timeout_seconds = int(self._watch_timeout * (1.0 + self._draw()))
        stream = self._client.watch(
            self.resource,
            namespace=self._namespace,
            resource_version=self._version,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
            metadata_only=self._metadata_only,
            timeout_seconds=timeout_seconds,
            bookmarks=True,
        )
        progressed = False
        opened = self._clock.monotonic()
        async for event in stream:
            self._apply(event)
            if event.resource_version:
                self._version = event.resource_version
            progressed = True
            self._failures = 0
        if not progressed and self._clock.monotonic() - opened < QUICK_WATCH_END:
            # A stream that ends at once, empty, must not turn into a hot loop; a quiet one
            # that simply timed out is no failure.
            self._failures += 1

    def _apply(self, event: WatchEvent) -> None:
        if event.type == "BOOKMARK":
            self.cache.observe(event.resource_version)
            return
        obj = self._prepare(event.object)
        change = self.cache.apply(event.type, obj)
        self._objects_gauge.set(len(self.cache))
        if change is not None:
            self._dispatch([change])

    async def _resync_forever(self, period: float) -> None:
        await self._synced.wait()
        while True:
            await self._clock.sleep(period)
            await self._dispatch_yielding([("MODIFIED", obj, obj) for obj in self.cache])

    async def _stage_yielding(self, staged: Staged, items: Sequence[Obj]) -> None:
        """A listed page's objects prepared into ``staged``, the loop given back first (the
        page was decoded in this turn) and every ``PREPARE_BATCH`` objects after."""
        for start in range(0, len(items), PREPARE_BATCH):
            await asyncio.sleep(0)
            for obj in items[start : start + PREPARE_BATCH]:
                staged.add(self._prepare(obj))

    def _prepare(self, obj: Obj) -> Obj:
        return self._transform(obj) if self._transform is not None else obj

    async def _dispatch_yielding(self, changes: Iterable[Change]) -> None:
        """``_dispatch`` for a whole list or resync, in steps of one handler and up to
        ``DISPATCH_BATCH`` changes, so 100k objects never hold the loop (Lease, probes,
        solver). Each handler still sees the changes in order.

        One handler per step, not every handler per change: the handlers that file each
        key in a table of their own (five work queues of a Certificate list) grow those
        tables on the same change, so one step paid all of their resizes at once
        (56-67 ms at 100,000 keys in a large heap; one is 4-10 ms)."""
        pending = iter(changes)
        # A batch is read (a packed cache unpacks on read) once for all handlers.
        while batch := list(islice(pending, DISPATCH_BATCH)):
            for handler in list(self._handlers):
                self._dispatch_to(handler, batch)
                await asyncio.sleep(0)

    def _dispatch_to(self, handler: Handler, changes: Iterable[Change]) -> None:
        for event_type, old, new in changes:
            # ``_call`` inlined, as in ``_dispatch``.
            try:
                handler(event_type, old, new)
            except Exception:
                log.exception("informer_handler_failed", informer=self.name, event_type=event_type)

    def _dispatch(self, changes: Iterable[Change]) -> None:
        for event_type, old, new in changes:
            # ``_call`` inlined: this runs for every handler of every watch event.
            for handler in list(self._handlers):
                try:
                    handler(event_type, old, new)
                except Exception:
                    log.exception(
                        "informer_handler_failed", informer=self.name, event_type=event_type
                    )

    def _call(
        self, handler: Handler, event_type: EventType, old: Obj | None, new: Obj | None
    ) -> None:
        try:
            handler(event_type, old, new)
        except Exception:
            log.exception("informer_handler_failed", informer=self.name, event_type=event_type)

    def _backoff(self) -> float:
        exponent = min(self._failures - 1, 30)
        return self._draw() * min(self._backoff_cap, self._backoff_base * (2.0**exponent))


def drop_managed_fields(obj: Obj) -> Obj:
    """A transform: drop ``metadata.managedFields``, which no controller of ours reads."""
    metadata: dict[str, Any] = obj.get("metadata") or {}
    if "managedFields" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


def compact(obj: Obj) -> Obj:
    """The caches' transform: ``obj`` rebuilt without ``metadata.managedFields``, every
    dict in the shared-keys form (``shaped``: its keys kept once per distinct key set, not
    per object, ~half of a small dict's size), then ``share_strings``."""
    metadata = obj.get("metadata")
    if type(metadata) is dict and "managedFields" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
    shared: Obj = _compacted(obj)
    share_strings(shared)
    return shared


def share_keys(obj: Obj) -> Obj:
    """``obj`` rebuilt with every dict in the shared-keys form (``shapes.shaped``; interned
    keys where a key set gets no shape). A JSON decoder shares keys only within one
    document, so each cached object had its own ``"apiVersion"``, ``"lastTransitionTime"``
    ...: ~1.7 KB of a Certificate's ~4.6 KB. Equal values."""
    return _compacted(obj)  # type: ignore[no-any-return]


def _compacted(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        table = shaped_table(tuple(value))
        if table is None:
            return {
                intern(key): item if type(item) in _LEAVES else _compacted(item)
                for key, item in value.items()
            }
        for key, item in value.items():
            table[key] = item if type(item) in _LEAVES else _compacted(item)
        return table
    if kind is list:
        # Sliced: a list that was grown item by item has spare room (88 bytes for one
        # item; a slice is sized exactly, 64).
        return [item if type(item) in _LEAVES else _compacted(item) for item in value][:]
    return value


_LEAVES = frozenset((str, int, bool, float, type(None)))


def share_strings(obj: Obj) -> None:
    """Replace, in place, the string values that many cached objects repeat by one shared
    copy: kinds, namespaces, label and annotation values, condition texts, a Secret's
    ``ca.crt`` (one CA for thousands of Secrets), names other objects repeat (an object's
    name, a spec's ``secretName``, ``commonName`` and ``dnsNames``: a Certificate's Secret,
    its annotations and its leaf's summary repeat them; an owner reference's apiVersion,
    kind and name: its owner's); and the ``issuerRef`` and ``privateKey`` mappings of a
    spec by one shared equal dict (``shared_mapping``). A JSON decoder gives every object
    its own copies: at 10,000 Certificates and their Secrets, 6.5 KB a pair before, 4.6 KB
    after, for ~20 us an object. Values of a small vocabulary (kinds, namespaces,
    condition types, statuses and reasons) are interned; the rest, unique to one object
    or a few, go to ``strings.share``, whose table never re-inserts a million strings in
    one call as the interned one does when it grows. Shared strings are freed after their
    last user; the values are equal, so no reader can tell."""
    for field in ("apiVersion", "kind", "type"):
        value = obj.get(field)
        if type(value) is str:
            obj[field] = intern(value)
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        value = metadata.get("namespace")
        if type(value) is str:
            metadata["namespace"] = intern(value)
        value = metadata.get("name")
        if type(value) is str:
            metadata["name"] = share(value)
        share_values(metadata.get("labels"))
        share_values(metadata.get("annotations"))
        owners = metadata.get("ownerReferences")
        if type(owners) is list:
            for owner in owners:
                share_values(owner, OWNER_FIELDS)
    data = obj.get("data")
    if isinstance(data, dict) and type(data.get("ca.crt")) is str:
        data["ca.crt"] = share(data["ca.crt"])
    spec = obj.get("spec")
    if isinstance(spec, dict):
        for field in _SHARED_SPEC_FIELDS:
            if field in spec:
                spec[field] = shared_mapping(spec[field])
        share_values(spec, _NAMED_SPEC_FIELDS)
        names = spec.get("dnsNames")
        if type(names) is list:
            names[:] = [share(name) if type(name) is str else name for name in names]
    status = obj.get("status")
    if isinstance(status, dict) and isinstance(status.get("conditions"), list):
        for condition in status["conditions"]:
            share_values(condition)


# Fields whose values come from a small vocabulary (interned, not pooled): an owner
# reference's apiVersion and kind, a condition's type, status and reason, the issuer
# annotations cert-manager writes on a Secret and a request.
_VOCABULARY_FIELDS = frozenset(
    (
        "apiVersion",
        "kind",
        "type",
        "status",
        "reason",
        "cert-manager.io/issuer-name",
        "cert-manager.io/issuer-kind",
        "cert-manager.io/issuer-group",
    )
)
# An owner reference's fields that its owner and its siblings repeat.
OWNER_FIELDS = ("apiVersion", "kind", "name")
# Spec fields that other cached objects repeat: the Certificate's Secret is named after
# its secretName, and its annotations and its leaf's summary repeat the names.
_NAMED_SPEC_FIELDS = ("secretName", "commonName")
# Spec fields that thousands of objects write the same (every Certificate, request,
# Order and Challenge of an issuer names it; most Certificates ask for the same key).
_SHARED_SPEC_FIELDS = ("issuerRef", "privateKey")
# Distinct shared mappings kept; past it a new one stays the object's own. There are as
# many as there are issuers and key shapes, not objects.
SHARED_MAPPINGS_MAX = 4096
_shared_mappings: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}


def shared_mapping(value: Any) -> Any:
    """One dict for every equal flat mapping (string keys, scalar values) given here: an
    ``issuerRef`` dict is ~200 bytes a cached object otherwise. Anything else, or once
    ``SHARED_MAPPINGS_MAX`` are kept, is returned as it is. Cached objects are read-only
    (``runtime/cache.py``), so no reader can tell one shared dict from equal copies."""
    if type(value) is not dict or len(value) > 8:
        return value
    items = tuple(value.items())
    for _, item in items:
        # No bools: True == 1 would make {"size": True} and {"size": 1} one entry.
        if type(item) not in _SCALARS:
            return value
    try:
        return _shared_mappings[items]
    except KeyError:
        pass
    if len(_shared_mappings) >= SHARED_MAPPINGS_MAX:
        return value
    shared = shaped({k: intern(v) if type(v) is str else v for k, v in items})
    _shared_mappings[items] = shared
    return shared


_SCALARS = frozenset((str, int, type(None)))


def share_values(mapping: object, keys: Iterable[str] | None = None) -> None:
    """Replace, in place, the non-empty string values of ``mapping`` (those of ``keys``:
    all without) by shared ones, as ``share_strings`` does: interned when the key names a
    small vocabulary, else through ``strings.share``."""
    if isinstance(mapping, dict):
        for key in mapping if keys is None else (k for k in keys if k in mapping):
            value = mapping[key]
            # The empty string is one object already.
            if type(value) is str and value:
                mapping[key] = intern(value) if key in _VOCABULARY_FIELDS else share(value)
