"""Which Ingress events reach the shim's queue: annotated Ingresses and owners only."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.context import Context, Settings
from certmgr.controllers.ingressshim import sync
from certmgr.controllers.ingressshim.sync import OWNER_INDEX, concerns_shim, ingress_owners
from certmgr.kube.resources import CERTIFICATES, INGRESSES
from certmgr.runtime.cache import Cache
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock

Obj = dict[str, Any]


def ingress(name: str, **annotations: str) -> Obj:
    metadata: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "1"}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": {"tls": [{"hosts": ["a.example"], "secretName": "s"}]}}


ISSUER = {labels.INGRESS_ISSUER: "ca"}
TLS_ACME_TRUE = {labels.TLS_ACME: "true"}
TLS_ACME_FALSE = {labels.TLS_ACME: "false"}
UNRELATED = {"nginx.ingress.kubernetes.io/whitelist-source-range": "0.0.0.0/0"}


def certificate(name: str, *, owner: str) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": "1",
            "ownerReferences": [{"kind": "Ingress", "name": owner, "uid": f"uid-{owner}"}],
        }
    }


def certificates(*objs: Obj) -> Cache:
    cache = Cache(indexes={OWNER_INDEX: ingress_owners})
    for obj in objs:
        cache.apply("ADDED", obj)
    return cache


@pytest.mark.parametrize(
    ("old", "new", "owned", "expected"),
    [
        (None, ingress("web", **ISSUER), [], True),
        (None, ingress("web", **TLS_ACME_TRUE), [], True),
        (None, ingress("web", **TLS_ACME_FALSE), [], False),
        (None, ingress("cm-acme-http-solver-x", **UNRELATED), [], False),
        (ingress("web"), ingress("web"), [], False),
        (ingress("web", **ISSUER), ingress("web"), [], True),
        (ingress("web"), ingress("web"), [certificate("c", owner="web")], True),
        (ingress("web"), ingress("web"), [certificate("c", owner="other")], False),
        (ingress("web", **ISSUER), None, [], True),
        (ingress("web"), None, [], False),
    ],
    ids=[
        "issuer-annotation",
        "tls-acme-true",
        "tls-acme-false",
        "solver-ingress",
        "plain-update",
        "annotation-removed",
        "unannotated-owner",
        "another-ingress-owns",
        "annotated-deleted",
        "plain-deleted",
    ],
)
def test_concerns_shim(old: Obj | None, new: Obj | None, owned: list[Obj], expected: bool) -> None:
    assert concerns_shim(old, new, certificates=certificates(*owned)) is expected


async def test_setup_filters_ingress_events_but_not_certificate_events() -> None:
    manager = Manager(client=None, clock=FakeClock())  # type: ignore[arg-type]  # never called
    ctx = Context(
        client=None,  # type: ignore[arg-type]
        manager=manager,
        clock=manager.clock,
        events=None,  # type: ignore[arg-type]
        acme=None,  # type: ignore[arg-type]
        settings=Settings(),
    )
    sync.setup(ctx)
    (controller,) = manager.controllers
    ingresses, certs = manager.informer(INGRESSES), manager.informer(CERTIFICATES)
    ingresses._dispatch([("ADDED", None, ingress("solver", **UNRELATED))])
    ingresses._dispatch([("ADDED", None, ingress("web", **ISSUER))])
    ingresses._dispatch([("MODIFIED", ingress("web", **ISSUER), ingress("web"))])
    owned = certificate("c", owner="plain")
    certs.cache.apply("ADDED", owned)
    certs._dispatch([("ADDED", None, owned)])
    ingresses._dispatch([("MODIFIED", ingress("plain"), ingress("plain"))])
    queued = [await controller.queue.get() for _ in range(len(controller.queue))]
    assert queued == ["ns/web", "ns/plain"]
