"""The issuer request controllers enqueue no event of a request they are done with.

The acme-certificaterequests and certificaterequests-issuer-signing controllers stop
at once on a finished request; their watches (the request's own events, its Order's,
its issuer's) leave such a request out, with the predicate their reconciles stop on.
"""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.controllers.acme import requests as acme_requests
from certmgr.controllers.context import Context, Settings
from certmgr.controllers.issuers import signing
from certmgr.kube.resources import CERTIFICATEREQUESTS, CLUSTERISSUERS, ORDERS
from certmgr.runtime.informer import Informer
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock

Obj = dict[str, Any]
T0 = "2024-01-01T00:00:00Z"
ACME = "acme-certificaterequests"
SIGNING = "certificaterequests-issuer-signing"
BOTH = {ACME, SIGNING}


def condition(type_: str, status: str, reason: str = "R") -> Obj:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": "m",
        "lastTransitionTime": T0,
    }


def request(*conditions: Obj, rv: str = "1") -> Obj:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "default",
            "uid": "u-web-1",
            "resourceVersion": rv,
        },
        "spec": {"request": "", "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}},
        "status": {"conditions": list(conditions)},
    }


APPROVED = condition("Approved", "True")
DENIED = condition("Denied", "True")
INVALID = condition("InvalidRequest", "True")
PENDING = request(APPROVED, condition("Ready", "False", "Pending"))
ISSUED = request(APPROVED, condition("Ready", "True", "Issued"), rv="2")
FAILED = request(APPROVED, condition("Ready", "False", "Failed"), rv="2")
DENIED_FINAL = request(DENIED, condition("Ready", "False", "Denied"), rv="2")
ISSUER = {
    "metadata": {"name": "ca", "uid": "u-ca", "resourceVersion": "1"},
    "spec": {"ca": {"secretName": "ca"}},
}


def set_up() -> Manager:
    manager = Manager(client=None, clock=FakeClock())  # type: ignore[arg-type]  # never called
    ctx = Context(
        client=None,  # type: ignore[arg-type]
        manager=manager,
        clock=manager.clock,
        events=None,  # type: ignore[arg-type]
        acme=None,  # type: ignore[arg-type]
        settings=Settings(),
    )
    acme_requests.setup(ctx)
    signing.setup(ctx)
    return manager


@pytest.fixture
async def manager() -> Manager:
    """Its controllers running: each queue has handed out a key before."""
    manager = set_up()
    for controller in manager.controllers:
        controller.queue.add("earlier/key")
        controller.queue.done(await controller.queue.get())
    return manager


async def queued(manager: Manager) -> set[str]:
    out = set()
    for controller in manager.controllers:
        keys = [await controller.queue.get() for _ in range(len(controller.queue))]
        for key in keys:
            controller.queue.done(key)
        if keys:
            out.add(controller.name)
    return out


def dispatch(informer: Informer, old: Obj | None, new: Obj | None) -> None:
    event = "ADDED" if old is None else "DELETED" if new is None else "MODIFIED"
    if new is not None:
        informer.cache.apply("ADDED" if old is None else "MODIFIED", new)
    elif old is not None:
        informer.cache.apply("DELETED", old)
    informer._dispatch([(event, old, new)])


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(None, request(), BOTH, id="created"),
        pytest.param(None, request(APPROVED), BOTH, id="approved"),
        pytest.param(request(APPROVED), PENDING, BOTH, id="pending"),
        pytest.param(None, ISSUED, set(), id="issued-listed"),
        pytest.param(PENDING, ISSUED, set(), id="issued-now"),
        pytest.param(None, FAILED, set(), id="failed"),
        pytest.param(None, DENIED_FINAL, set(), id="denied-final"),
        pytest.param(None, request(DENIED), BOTH, id="denied-not-yet-final"),
        pytest.param(None, request(APPROVED, INVALID), {ACME}, id="invalid-request"),
        pytest.param(None, request(DENIED, INVALID), BOTH, id="invalid-and-denied"),
        pytest.param(
            None,
            request(APPROVED, condition("Ready", "False", "Issued")),
            {ACME},
            id="ready-false-issued",
        ),
        pytest.param(PENDING, None, set(), id="deleted"),
    ],
)
async def test_request_events(
    manager: Manager, old: Obj | None, new: Obj | None, expected: set[str]
) -> None:
    manager.informer(CLUSTERISSUERS).cache.apply("ADDED", ISSUER)
    informer = manager.informer(CERTIFICATEREQUESTS)
    if old is not None:
        informer.cache.apply("ADDED", old)
    dispatch(informer, old, new)
    assert await queued(manager) == expected


ACME_ISSUER = {
    "metadata": {"name": "ca", "uid": "u-acme", "resourceVersion": "1"},
    "spec": {"acme": {"server": "https://ca.example/dir"}},
}


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        pytest.param(ISSUER, BOTH, id="ca"),
        pytest.param(ACME_ISSUER, {ACME}, id="acme"),
        # Its arrival enqueues the request (the issuer events below).
        pytest.param(None, {ACME}, id="issuer-not-cached"),
    ],
)
async def test_request_events_reach_the_signer_only_for_issuers_it_serves(
    manager: Manager, issuer: Obj | None, expected: set[str]
) -> None:
    if issuer is not None:
        manager.informer(CLUSTERISSUERS).cache.apply("ADDED", issuer)
    dispatch(manager.informer(CERTIFICATEREQUESTS), None, request(APPROVED))
    assert await queued(manager) == expected


@pytest.mark.parametrize(
    ("cached", "expected"),
    [
        pytest.param(PENDING, BOTH, id="unfinished"),
        pytest.param(ISSUED, set(), id="issued"),
        pytest.param(FAILED, set(), id="failed"),
    ],
)
async def test_issuer_events_skip_finished_requests(
    manager: Manager, cached: Obj, expected: set[str]
) -> None:
    manager.informer(CERTIFICATEREQUESTS).cache.apply("ADDED", cached)
    dispatch(manager.informer(CLUSTERISSUERS), None, ISSUER)
    assert await queued(manager) == expected


@pytest.mark.parametrize(
    ("cached", "expected"),
    [
        pytest.param(PENDING, {ACME}, id="unfinished"),
        pytest.param(ISSUED, set(), id="issued"),
        pytest.param(None, {ACME}, id="not-cached"),
        # Before the requests are listed: the list's ADDED of an unfinished request
        # queues it (the "unfinished" row of the requests' own events above).
        pytest.param("unlisted", set(), id="requests-not-listed-yet"),
    ],
)
async def test_order_events_skip_finished_requests(
    manager: Manager, cached: Obj | str | None, expected: set[str]
) -> None:
    requests = manager.informer(CERTIFICATEREQUESTS).cache
    if isinstance(cached, dict):
        requests.apply("ADDED", cached)
    elif cached is None:
        requests.replace([], "5")  # listed: nothing there
    order = {
        "metadata": {
            "name": "web-1-1",
            "namespace": "default",
            "uid": "u-o",
            "resourceVersion": "1",
            "ownerReferences": [{"kind": "CertificateRequest", "name": "web-1", "uid": "u-web-1"}],
        },
        "spec": {},
    }
    dispatch(manager.informer(ORDERS), None, order)
    assert await queued(manager) == expected
