"""The manager: one shared informer per kind, the controllers fed by them, and their lifecycle.

Owns wiring and ordering, as controller-runtime's manager does: informers are created on
first use and shared by every controller that reads that kind; ``watch`` turns an
informer's events into keys of a controller's queue (through a mapper, e.g. "Secret ->
the Certificates that name it"); ``run_informers`` lists and watches (in every
replica); ``run_controllers`` waits until every cache has synced and only then starts
the controllers (the composition root runs it only while leading). It must not know
what any kind means (mappers and reconcilers do), beyond which caches hold a trimmed
copy: Secrets (``informer_secrets``), CertificateRequests (``informer_requests``) and
Orders (``informer_orders``), and which keep them packed (those and Certificates:
``informer_certificates``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any, Final

import structlog

from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import CERTIFICATEREQUESTS, CERTIFICATES, ORDERS, SECRETS, Resource
from certmgr.runtime.cache import Obj, Pack, object_key
from certmgr.runtime.clock import Clock
from certmgr.runtime.controller import Controller, Reconciler
from certmgr.runtime.gcpolicy import freeze_without_collecting
from certmgr.runtime.informer import Informer, compact
from certmgr.runtime.informer_certificates import packed_certificate
from certmgr.runtime.informer_orders import cached_order, packed_order
from certmgr.runtime.informer_requests import cached_request, packed_request
from certmgr.runtime.informer_secrets import SecretInformers
from certmgr.runtime.workqueue import ExponentialBackoff, RateLimiter, WorkQueue

log = structlog.get_logger(__name__)

Mapper = Callable[[Obj], Iterable[str]]
# Whether an event concerns the controller at all: called with the old and the new
# object (None for the side an ADDED or DELETED event lacks).
Predicate = Callable[[Obj | None, Obj | None], bool]
# Whether a key a mapper produced is left out (see ``Manager.watch``).
KeyFilter = Callable[[str], bool]
Source = Informer | SecretInformers


def same_key(obj: Obj) -> list[str]:
    """The default mapper: an object's own ``namespace/name``."""
    return [object_key(obj)]


def owner_keys(kind: str) -> Mapper:
    """A mapper to the owners of ``kind`` named in an object's ownerReferences."""

    def mapper(obj: Obj) -> list[str]:
        metadata = obj.get("metadata", {})
        namespace = metadata.get("namespace")
        keys = []
        for ref in metadata.get("ownerReferences") or ():
            if ref.get("kind") == kind:
                name = ref.get("name", "")
                keys.append(f"{namespace}/{name}" if namespace else name)
        return keys

    return mapper


# Keys one watch event adds to a queue before the loop is given back.
FAN_OUT_BATCH = 500
# What each cache keeps of an object of its resource; ``compact`` for any other.
_TRANSFORMS: Final[dict[Resource, Callable[[Obj], Obj]]] = {
    CERTIFICATEREQUESTS: cached_request,
    ORDERS: cached_order,
}
_PACKS: Final[dict[Resource, Pack]] = {
    CERTIFICATES: packed_certificate,
    CERTIFICATEREQUESTS: packed_request,
    ORDERS: packed_order,
}


def _add_batch(
    queue: WorkQueue[str], keys: Iterator[str], added: set[str], skip: KeyFilter | None
) -> bool:
    """Draw up to ``FAN_OUT_BATCH`` keys and add those not ``added`` yet (an update's
    new side repeats the old side's keys: skipping them is work too) nor ``skip``-ped (a
    skipped key counts as drawn: a batch stays bounded however many are left out);
    whether ``keys`` may have more."""
    for drawn, key in enumerate(keys, 1):
        if key not in added:
            added.add(key)
            if skip is None or not skip(key):
                queue.add(key)
        if drawn == FAN_OUT_BATCH:
            return True
    return False


async def _add_rest(
    queue: WorkQueue[str], keys: Iterator[str], added: set[str], skip: KeyFilter | None
) -> None:
    while True:
        await asyncio.sleep(0)
        if not _add_batch(queue, keys, added, skip):
            return
        # A mapper may take another snapshot of keys as it goes (an update maps its old
        # side, then its new one): frozen like the first (``Manager.watch``).
        freeze_without_collecting()


class Manager:
    def __init__(
        self,
        client: KubeAPI,
        *,
        clock: Clock,
        namespace: str | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 300.0,
        **informer_options: Any,
    ) -> None:
        self.client = client
        self.clock = clock
        self._namespace = namespace
        self._backoff = (backoff_base, backoff_cap)
        self._informer_options = informer_options
        # Each informer with the label selector it was narrowed to.
        self._shared: dict[Resource, tuple[Informer, str | None]] = {}
        self._secrets: SecretInformers | None = None
        self.controllers: list[Controller[str]] = []
        self._synced = asyncio.Event()
        self._fan_outs: set[asyncio.Task[None]] = set()

    # -- wiring (before run) ---------------------------------------------------------

    def informer(self, resource: Resource, *, label_selector: str | None = None) -> Informer:
        """The shared informer of ``resource`` (Secrets: use ``secrets``), narrowed to
        ``label_selector`` when given (every user of the informer must ask the same)."""
        # Asked several times a reconcile: one lookup, the rest only on first use.
        found = self._shared.get(resource)
        if found is not None:
            if found[1] != label_selector:
                raise ValueError(f"the {resource.plural} informer is narrowed differently")
            return found[0]
        if resource == SECRETS:
            raise ValueError("Secrets are watched through Manager.secrets")
        informer = Informer(
            self.client,
            resource,
            namespace=self._namespace,
            transform=_TRANSFORMS.get(resource, compact),
            pack=_PACKS.get(resource),
            clock=self.clock,
            label_selector=label_selector,
            **self._informer_options,
        )
        self._shared[resource] = (informer, label_selector)
        return informer

    @property
    def secrets(self) -> SecretInformers:
        if self._secrets is None:
            self._secrets = SecretInformers(
                self.client, namespace=self._namespace, clock=self.clock, **self._informer_options
            )
        return self._secrets

    def controller(
        self,
        name: str,
        reconcile: Reconciler[str],
        *,
        workers: int = 1,
        rate_limiter: RateLimiter[str] | None = None,
    ) -> Controller[str]:
        base, cap = self._backoff
        queue: WorkQueue[str] = WorkQueue(
            name,
            clock=self.clock,
            rate_limiter=rate_limiter or ExponentialBackoff(base=base, cap=cap),
        )
        controller = Controller(name, reconcile, queue=queue, workers=workers)
        self.controllers.append(controller)
        return controller

    def watch(
        self,
        source: Source,
        controller: Controller[str],
        mapper: Mapper = same_key,
        *,
        predicate: Predicate | None = None,
        skip_key: KeyFilter | None = None,
        queued_on_arrival: bool = False,
    ) -> None:
        """Enqueue ``mapper(obj)`` in ``controller`` for the old and new object of every
        event for which ``predicate(old, new)`` holds (every event without one).

        The predicate sees both sides so a filter can still let through the event that
        takes an object out of its interest (an annotation removed), which the
        controller must see once to undo what it did.

        ``skip_key``: a mapped key the controller's reconcile would do nothing for (a
        CertificateRequest its issuer controller is done with), left out as drawn.

        ``queued_on_arrival``: the caller vouches that ``mapper`` only returns keys of
        cached objects whose arrival another watch enqueues in ``controller`` (a Secret
        maps to its cached Certificate, whose ADDED event the Certificate watch enqueues
        unfiltered). Until the controller takes its first key, those are all still
        queued, so the event is not even mapped: the child events of the initial lists
        (a lookup per Secret and controller) add nothing then.
        """
        queue = controller.queue

        def handler(_: str, old: Obj | None, new: Obj | None) -> None:
            if queued_on_arrival and not queue.handed_out:
                return
            if predicate is not None and not predicate(old, new):
                return
            # Both sides are mapped now; an update usually maps old and new to the same
            # keys: each key is added once, old's first.
            if old is not None and new is not None:
                keys: Iterator[str] = chain(mapper(old), mapper(new))
            elif new is not None:
                keys = iter(mapper(new))
            elif old is not None:
                keys = iter(mapper(old))
            else:
                return
            added: set[str] = set()
            if not _add_batch(queue, keys, added, skip_key):
                return
            # What a large fan-out holds (the mapper's snapshot of the keys, ``added``)
            # would be scanned whole by the next young collection, a cache miss a key:
            # 87 ms for an issuer's 100,000 Certificates. Frozen at once instead (no
            # scan); reference counting frees them when the fan-out ends.
            freeze_without_collecting()
            # An issuer's event maps to every Certificate that names it (100,000 adds held
            # the loop ~1 s; mapping them to keys ~80-150 ms): the rest go in batches, the
            # loop free in between, drawn from the mappers as they go (``referrers``
            # formats its keys lazily). Keys are names, so a late add of a key gone
            # meanwhile finds nothing to do.
            task = asyncio.get_running_loop().create_task(_add_rest(queue, keys, added, skip_key))
            self._fan_outs.add(task)
            task.add_done_callback(self._fan_outs.discard)

        source.add_handler(handler)

    # -- running -----------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    async def run_informers(self) -> None:
        """List and watch every kind in use until cancelled; ``has_synced`` once all have
        listed. Runs in every replica (standbys keep warm caches, the shared solver reads
        them)."""
        sources: list[Source] = [informer for informer, _ in self._shared.values()]
        if self._secrets is not None:
            sources.append(self._secrets)
        async with asyncio.TaskGroup() as group:
            for source in sources:
                group.create_task(source.run())
            await asyncio.gather(*(source.wait_synced() for source in sources))
            self._synced.set()
            log.info("caches_synced", informers=len(sources))

    async def run_controllers(self) -> None:
        """Run every controller (after the caches synced) until cancelled: the writers, so
        the composition root runs this only while leading."""
        await self._synced.wait()
        async with asyncio.TaskGroup() as group:
            for controller in self.controllers:
                group.create_task(controller.run(), name=f"controller-{controller.name}")

    async def run(self) -> None:
        """Informers and controllers together (no leader election)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.run_informers())
            group.create_task(self.run_controllers())
