"""kube-controller-manager's root CA publisher: a `kube-root-ca.crt` ConfigMap per namespace.

Owns keeping `kube-root-ca.crt` (key `ca.crt`, the simulator's CA) in every live namespace:
created when a namespace appears, recreated when deleted, restored when changed. Like the
collector it runs just after the write that woke it, on the simulator's loop, never inside
a request. It must not speak HTTP or touch other objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from certmgr.testing.apiserver import admission, errors
from certmgr.testing.apiserver.resources import NAMESPACES, ResourceType
from certmgr.testing.apiserver.store import Obj, Store, WatchEvent

NAME: Final = "kube-root-ca.crt"


class RootCAPublisher:
    """Writes `kube-root-ca.crt` into namespaces as the store reports changes."""

    def __init__(
        self, store: Store, *, ca_pem: str, schedule: Callable[[Callable[[], None]], Any]
    ) -> None:
        self._store = store
        self._data = {"ca.crt": ca_pem}
        self._schedule = schedule
        store.listeners.append(self._observe)

    def _observe(self, rtype: ResourceType, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        if rtype.group_resource == NAMESPACES.group_resource and event.type == "ADDED":
            namespace = meta["name"]
        elif (
            rtype.group == ""
            and rtype.kind == "ConfigMap"
            and meta.get("name") == NAME
            and (event.type == "DELETED" or event.obj.get("data") != self._data)
        ):
            namespace = meta.get("namespace", "")
        else:
            return
        self._schedule(lambda: self.publish(namespace))

    def publish(self, namespace: str) -> None:
        """Create or restore the ConfigMap in `namespace` unless it is gone or terminating."""
        ns = self._store.table(NAMESPACES).objects.get(("", namespace))
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        rtype = self._store.catalogue.get("", "v1", "configmaps")
        assert rtype is not None
        current = self._store.table(rtype).objects.get((namespace, NAME))
        try:
            if current is None:
                body: Obj = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": NAME},
                    "data": dict(self._data),
                }
                obj = admission.prepare_create(self._store, rtype, namespace, body)
                self._store.create(rtype, obj)
            elif current.get("data") != self._data and not current["metadata"].get(
                "deletionTimestamp"
            ):
                self._store.replace(rtype, current, {**current, "data": dict(self._data)})
        except errors.StatusError:
            # A client write won the race; its event brings this back here.
            return
