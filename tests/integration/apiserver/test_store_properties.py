"""Invariants of storage, deletion and garbage collection under random operation sequences.

Pure (no server): the store and the collector driven directly, with the collector's
work run to completion after every step, as the server's loop would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmgr.testing.apiserver import admission, errors
from certmgr.testing.apiserver.collecting import Collector
from certmgr.testing.apiserver.resources import BUILTINS, NAMESPACES, ResourceType
from certmgr.testing.apiserver.store import Store, WatchEvent

CONFIGMAPS = next(r for r in BUILTINS if r.kind == "ConfigMap")
# A small world, so that random sequences often build and break ownership chains.
NAMES = ["a", "b", "c"]
SPACES = ["n1", "n1", "n1", "n2"]

_create = st.tuples(
    st.just("create"),
    st.sampled_from(SPACES),
    st.sampled_from(NAMES),
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=2),
    st.booleans(),
)
_delete = st.tuples(
    st.just("delete"),
    st.sampled_from(SPACES),
    st.sampled_from(NAMES),
    st.sampled_from([None, "Background", "Foreground", "Orphan"]),
)
_by_kind: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "create": _create,
    "delete": _delete,
    "label": st.tuples(
        st.just("label"),
        st.sampled_from(SPACES),
        st.sampled_from(NAMES),
        st.text("xyz", max_size=3),
    ),
    "release": st.tuples(st.just("release"), st.sampled_from(SPACES), st.sampled_from(NAMES)),
    # Only n2 comes and goes, so chains in n1 live long enough to be broken by deletes.
    "delete_namespace": st.tuples(st.just("delete_namespace"), st.just("n2")),
    "create_namespace": st.tuples(st.just("create_namespace"), st.just("n2")),
}
# Creates and deletes weigh most: they build and break the ownership chains under test.
_WEIGHTED = (
    ["create"] * 4 + ["delete"] * 3 + ["label", "release", "delete_namespace", "create_namespace"]
)
operation = st.sampled_from(_WEIGHTED).flatmap(lambda kind: _by_kind[kind])


class Harness:
    def __init__(self) -> None:
        self.store = Store(history_window=10_000)
        self.pending: list[Callable[[], None]] = []
        self.collector = Collector(self.store, schedule=self.pending.append)
        self.seen: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.early_removals: list[str] = []
        self.store.listeners.append(self._on_commit)
        for name in sorted(set(SPACES)):
            self.create_namespace(name)

    def _on_commit(self, rtype: ResourceType, event: WatchEvent) -> None:
        """A foreground owner must outlive its blocking dependents."""
        old = event.old or {"metadata": {}}
        if event.type != "DELETED" or "foregroundDeletion" not in (
            old["metadata"].get("finalizers") or ()
        ):
            return
        uid = old["metadata"]["uid"]
        for obj in self.store.table(CONFIGMAPS).objects.values():
            if any(r["uid"] == uid for r in obj["metadata"].get("ownerReferences") or ()):
                self.early_removals.append(obj["metadata"]["name"])

    def settle(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    def keep(self, obj: dict[str, Any]) -> None:
        self.seen.append((obj, copy.deepcopy(obj)))

    def create_namespace(self, name: str) -> None:
        body = {"metadata": {"name": name}}
        self.keep(
            self.store.create(
                NAMESPACES, admission.prepare_create(self.store, NAMESPACES, "", body)
            )
        )

    def run(self, op: tuple[Any, ...]) -> None:
        kind, *args = op
        store = self.store
        try:
            if kind == "create":
                namespace, name, owners, finalizer = args
                refs = [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": o,
                        "uid": owner["metadata"]["uid"],
                        "blockOwnerDeletion": True,
                    }
                    for o in owners
                    if (owner := store.table(CONFIGMAPS).objects.get((namespace, o))) is not None
                ]
                meta: dict[str, Any] = {"name": name, "ownerReferences": refs}
                if finalizer:
                    meta["finalizers"] = ["example.com/hold"]
                body = {"metadata": meta}
                self.keep(
                    store.create(
                        CONFIGMAPS, admission.prepare_create(store, CONFIGMAPS, namespace, body)
                    )
                )
            elif kind in ("label", "release"):
                namespace, name, *rest = args
                old = store.get(CONFIGMAPS, namespace, name)
                new = copy.deepcopy(old)
                if kind == "label":
                    new["metadata"]["labels"] = {"v": rest[0]}
                else:
                    new["metadata"]["finalizers"] = [
                        f
                        for f in new["metadata"].get("finalizers", [])
                        if f == "foregroundDeletion"
                    ]
                self.keep(
                    store.replace(
                        CONFIGMAPS, old, admission.prepare_update(store, CONFIGMAPS, old, new)
                    )
                )
            elif kind == "delete":
                namespace, name, policy = args
                self.keep(self.collector.delete(CONFIGMAPS, namespace, name, propagation=policy)[0])
            elif kind == "delete_namespace":
                self.keep(self.collector.delete(NAMESPACES, "", args[0])[0])
            elif kind == "create_namespace":
                self.create_namespace(args[0])
        except errors.StatusError:
            pass  # 404, 409, 403 and 422 are legitimate answers to random operations
        self.settle()

    def check(self) -> None:
        store = self.store
        for obj, snapshot in self.seen:
            assert obj == snapshot, "a stored object was mutated in place"
        for rtype in (CONFIGMAPS, NAMESPACES):
            versions = [event.rv for event in store.table(rtype).history]
            assert versions == sorted(set(versions))
        live = set(store.uids)
        namespaces = store.table(NAMESPACES).objects
        for (namespace, name), obj in store.table(CONFIGMAPS).objects.items():
            meta = obj["metadata"]
            assert ("", namespace) in namespaces, f"{namespace}/{name} outlived its namespace"
            owners = meta.get("ownerReferences") or []
            if owners and not any(o["uid"] in live for o in owners):
                assert meta.get("deletionTimestamp"), f"{name} kept although its owners are gone"
            if meta.get("deletionTimestamp"):
                assert meta.get("finalizers"), f"{name} is deleting without finalizers"
        assert not self.early_removals, "a foreground owner went before its dependents"
        for obj in store.table(CONFIGMAPS).objects.values():
            if "foregroundDeletion" in (obj["metadata"].get("finalizers") or ()):
                uid = obj["metadata"]["uid"]
                blockers = [
                    d
                    for d in store.table(CONFIGMAPS).objects.values()
                    if any(r["uid"] == uid for r in d["metadata"].get("ownerReferences") or ())
                ]
                assert blockers, f"{obj['metadata']['name']} is stuck in foreground deletion"
        for (_, name), ns in namespaces.items():
            if ns["metadata"].get("deletionTimestamp"):
                held = any(key[0] == name for key in store.table(CONFIGMAPS).objects)
                assert held, f"namespace {name} is stuck terminating while empty"


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(operation, min_size=4, max_size=30))
def test_invariants_hold_after_every_step(operations: list[tuple[Any, ...]]) -> None:
    harness = Harness()
    for op in operations:
        harness.run(op)
        harness.check()
