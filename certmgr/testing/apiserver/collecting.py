"""Deletion as the API server and kube-controller-manager do it together.

Owns DELETE semantics (preconditions, finalizers, deletionTimestamp, propagation
policies Background/Foreground/Orphan), the garbage collector that follows
ownerReferences (dependents whose owners are all gone are deleted; dangling
references next to a live owner are removed) and the namespace controller (deleting
a namespace deletes its contents, then the namespace). Controllers run just after
the write that woke them, on the simulator's loop, never inside the HTTP request,
so clients observe the same intermediate states as on a real cluster. It must not
speak HTTP.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import Any

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.resources import NAMESPACES, ResourceType
from certmgr.testing.apiserver.store import Obj, ObjectRef, Store, WatchEvent, now_rfc3339

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
NAMESPACE_FINALIZER = "kubernetes"
POLICIES = ("Background", "Foreground", "Orphan")


class Collector:
    """Deletes objects and runs the garbage and namespace controllers after each write."""

    def __init__(self, store: Store, *, schedule: Callable[[Callable[[], None]], Any]) -> None:
        self._store = store
        self._schedule = schedule
        self._work: deque[Callable[[], None]] = deque()
        # Namespaces with a sweep queued: one sweep covers any number of deletions in it.
        self._sweeps: set[str] = set()
        self._scheduled = False
        store.listeners.append(self._observe)

    # -- the DELETE verb -------------------------------------------------------------------

    def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete or start deleting; returns (object, gone_now). `dry_run` changes nothing."""
        obj = self._store.get(rtype, namespace, name)
        meta = obj["metadata"]
        for field in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != meta.get(field):
                raise errors.conflict(
                    rtype.plural,
                    rtype.group,
                    name,
                    f"Precondition failed: {field} in precondition: {wanted}, "
                    f"{field} in object meta: {meta.get(field)}",
                )
        if propagation is not None and propagation not in POLICIES:
            raise errors.bad_request(f"propagationPolicy {propagation!r} is not supported")
        if meta.get("deletionTimestamp"):
            return obj, False
        finalizers = list(meta.get("finalizers") or ())
        if propagation == "Orphan" and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
        if propagation == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        is_namespace = rtype.group_resource == NAMESPACES.group_resource
        if not finalizers and not is_namespace:
            return self._store.remove(rtype, obj, dry_run=dry_run), True
        new_meta = {**meta, "deletionTimestamp": now_rfc3339(), "deletionGracePeriodSeconds": 0}
        if finalizers:
            new_meta["finalizers"] = finalizers
        new = {**obj, "metadata": new_meta}
        if is_namespace:
            new["status"] = {**obj.get("status", {}), "phase": "Terminating"}
        return self._store.replace(rtype, obj, new, dry_run=dry_run), False

    # -- controllers ---------------------------------------------------------------------

    def _observe(self, rtype: ResourceType, event: WatchEvent) -> None:
        obj = event.obj
        meta = obj["metadata"]
        if event.type == "DELETED":
            uid = meta["uid"]
            self._enqueue(lambda: self._owner_gone(uid))
            for owner_uid in [o.get("uid", "") for o in meta.get("ownerReferences") or ()]:
                self._enqueue(functools.partial(self._recheck_owner, owner_uid))
            namespace = meta.get("namespace", "")
            if namespace:
                self._queue_sweep(namespace)
            return
        if meta.get("ownerReferences"):
            ref = ObjectRef(rtype.group, rtype.plural, meta.get("namespace", ""), meta["name"])
            self._enqueue(lambda: self._check_dependent(ref))
        if meta.get("deletionTimestamp"):
            if rtype.group_resource == NAMESPACES.group_resource:
                self._queue_sweep(meta["name"])
            else:
                uid = meta["uid"]
                self._enqueue(lambda: self._recheck_owner(uid))

    def _enqueue(self, work: Callable[[], None]) -> None:
        self._work.append(work)
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        while self._work:
            work = self._work.popleft()
            try:
                work()
            except errors.StatusError:
                # A concurrent client write won the race; the next event re-runs the check.
                continue

    def _owner_alive(self, uid: str) -> bool:
        return uid in self._store.uids

    def _check_dependent(self, ref: ObjectRef) -> None:
        obj = self._store.find(ref)
        rtype = self._store.type_of(ref)
        if obj is None or rtype is None or obj["metadata"].get("deletionTimestamp"):
            return
        owners = obj["metadata"].get("ownerReferences") or []
        alive = [o for o in owners if self._owner_alive(o.get("uid", ""))]
        if not alive:
            self.delete(rtype, ref.namespace, ref.name, propagation="Background")
        elif len(alive) != len(owners):
            new = {**obj, "metadata": {**obj["metadata"], "ownerReferences": alive}}
            self._store.replace(rtype, obj, new)

    def _owner_gone(self, uid: str) -> None:
        for ref in list(self._store.dependents.get(uid, ())):
            self._check_dependent(ref)

    def _recheck_owner(self, uid: str) -> None:
        """Finish an Orphan or Foreground deletion once its dependents allow it."""
        ref = self._store.uids.get(uid)
        if ref is None:
            return
        obj = self._store.find(ref)
        rtype = self._store.type_of(ref)
        if obj is None or rtype is None or not obj["metadata"].get("deletionTimestamp"):
            return
        finalizers = list(obj["metadata"].get("finalizers") or ())
        dependents = [d for d in list(self._store.dependents.get(uid, ())) if self._store.find(d)]
        if ORPHAN in finalizers:
            for dep_ref in dependents:
                self._drop_owner(dep_ref, uid)
            finalizers.remove(ORPHAN)
        elif FOREGROUND in finalizers:
            blocking = False
            for dep_ref in dependents:
                dep = self._store.find(dep_ref)
                dep_type = self._store.type_of(dep_ref)
                if dep is None or dep_type is None:
                    continue
                if not dep["metadata"].get("deletionTimestamp"):
                    # As the garbage collector: a dependent with dependents of its own goes in
                    # the foreground too, any other in the background.
                    has_own = any(
                        self._store.find(r)
                        for r in self._store.dependents.get(dep["metadata"]["uid"], ())
                    )
                    policy = "Foreground" if has_own else "Background"
                    self.delete(dep_type, dep_ref.namespace, dep_ref.name, propagation=policy)
                if any(
                    o.get("uid") == uid and o.get("blockOwnerDeletion")
                    for o in dep["metadata"].get("ownerReferences") or ()
                ):
                    blocking = True
            if blocking:
                return
            finalizers.remove(FOREGROUND)
        else:
            return
        new = {**obj, "metadata": {**obj["metadata"], "finalizers": finalizers}}
        self._store.replace(rtype, obj, new)

    def _drop_owner(self, ref: ObjectRef, uid: str) -> None:
        obj = self._store.find(ref)
        rtype = self._store.type_of(ref)
        if obj is None or rtype is None:
            return
        kept = [o for o in obj["metadata"].get("ownerReferences") or () if o.get("uid") != uid]
        meta = {**obj["metadata"], "ownerReferences": kept}
        if not kept:
            del meta["ownerReferences"]
        self._store.replace(rtype, obj, {**obj, "metadata": meta})

    def _queue_sweep(self, namespace: str) -> None:
        ns = self._store.table(NAMESPACES).objects.get(("", namespace))
        if ns is None or not ns["metadata"].get("deletionTimestamp") or namespace in self._sweeps:
            return
        self._sweeps.add(namespace)
        self._enqueue(functools.partial(self._sweep_namespace, namespace))

    def _sweep_namespace(self, namespace: str) -> None:
        self._sweeps.discard(namespace)
        ns = self._store.table(NAMESPACES).objects.get(("", namespace))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = False
        for rtype, obj in self._store.in_namespace(namespace):
            remaining = True
            if not obj["metadata"].get("deletionTimestamp"):
                self.delete(rtype, namespace, obj["metadata"]["name"])
        if remaining:
            return
        spec = {**ns.get("spec", {}), "finalizers": []}
        self._store.replace(NAMESPACES, ns, {**ns, "spec": spec})
