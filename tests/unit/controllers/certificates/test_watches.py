"""Which events reach which certificate controller's queue (``watches`` and each
controller's ``Interest``): every event that could change a decision, and not the ones
after which a reconcile could only find nothing to do."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.api import labels
from certmgr.controllers.certificates import (
    issuing,
    readiness,
    requestmanager,
    setup_all,
    trigger,
)
from certmgr.controllers.certificates.requestmanager import request_name_for
from certmgr.controllers.certificates.spec import CertificateView
from certmgr.controllers.certificates.watches import Interest
from certmgr.controllers.context import Context, Settings
from certmgr.kube.resources import CERTIFICATEREQUESTS, CERTIFICATES
from certmgr.runtime.cache import Cache
from certmgr.runtime.informer import Informer
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock

Obj = dict[str, Any]
KEY = "default/web"
T0 = "2026-03-01T00:00:00Z"
TRIGGER = "certificates-trigger"
KEYS = "certificates-keymanager"
REQUESTS = "certificates-requestmanager"
ISSUING = "certificates-issuing"
READINESS = "certificates-readiness"
REVISIONS = "certificates-revisionmanager"
APPROVER = "certificaterequests-approver"
OWNER = {"kind": "Certificate", "name": "web", "uid": "u-web", "controller": True}


def condition(type_: str, status: str, reason: str = "R") -> Obj:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": "m",
        "lastTransitionTime": T0,
    }


def cert(
    rv: str = "1",
    *,
    issuing: bool = False,
    ready: bool = False,
    revision: int | None = None,
    next_key: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Obj:
    status: Obj = {"conditions": [condition("Ready", "True" if ready else "False")]}
    if issuing:
        status["conditions"].append(condition("Issuing", "True"))
    if revision is not None:
        status["revision"] = revision
    if next_key is not None:
        status["nextPrivateKeySecretName"] = next_key
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "u-web",
            "resourceVersion": rv,
            "annotations": annotations or {},
        },
        "spec": {
            "secretName": "web-tls",
            "issuerRef": {"name": "ca", "kind": "ClusterIssuer"},
            "dnsNames": ["web.example.com"],
        },
        "status": status,
    }


ISSUING_CERT = cert(issuing=True, next_key="web-key")
# issue-temporary-certificate: a pending request, or the target Secret, may call for one.
TEMPORARY_CERT = cert(
    issuing=True, next_key="web-key", annotations={labels.ISSUE_TEMPORARY_CERTIFICATE: "true"}
)
IDLE_CERT = cert()
READY_CERT = cert(ready=True, revision=1)


def request(
    name: str = "web-1",
    *,
    revision: int = 1,
    conditions: tuple[Obj, ...] = (),
    certificate: str | None = None,
    rv: str = "1",
) -> Obj:
    status: Obj = {"conditions": list(conditions)}
    if certificate is not None:
        status["certificate"] = certificate
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"u-{name}",
            "resourceVersion": rv,
            "annotations": {
                labels.CERTIFICATE_NAME: "web",
                labels.CERTIFICATE_REVISION: str(revision),
            },
            "ownerReferences": [OWNER],
        },
        "spec": {"request": "", "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}},
        "status": status,
    }


APPROVED = request(conditions=(condition("Approved", "True"),))
PENDING = request(
    conditions=(condition("Approved", "True"), condition("Ready", "False", "Pending"))
)
ISSUED = request(
    conditions=(condition("Approved", "True"), condition("Ready", "True", "Issued")),
    certificate="Y2VydA==",
    rv="2",
)
FAILED = request(
    conditions=(condition("Approved", "True"), condition("Ready", "False", "Failed")), rv="2"
)


def secret(name: str, *, next_key: bool = False, data: str = "a2V5") -> Obj:
    metadata: Obj = {"name": name, "namespace": "default", "uid": f"u-{name}"}
    metadata["labels"] = {"controller.cert-manager.io/fao": "true"}
    if next_key:
        metadata["labels"][labels.NEXT_PRIVATE_KEY] = "true"
        metadata["ownerReferences"] = [OWNER]
    return {"metadata": metadata, "data": {"tls.key": data}}


TARGET = secret("web-tls")
NEXT_KEY = secret("web-key", next_key=True)


def context(manager: Manager) -> Context:
    return Context(
        client=None,  # type: ignore[arg-type]
        manager=manager,
        clock=manager.clock,
        events=None,  # type: ignore[arg-type]
        acme=None,  # type: ignore[arg-type]
        settings=Settings(),
    )


def set_up() -> Manager:
    manager = Manager(client=None, clock=FakeClock())  # type: ignore[arg-type]  # never called
    setup_all(context(manager))
    return manager


async def warmed(manager: Manager) -> Manager:
    """Its controllers running: each queue has handed out a key before."""
    for controller in manager.controllers:
        controller.queue.add("earlier/key")
        controller.queue.done(await controller.queue.get())
    return manager


@pytest.fixture
async def manager() -> Manager:
    return await warmed(set_up())


def cached(cache: Cache, *objs: Obj) -> None:
    for obj in objs:
        cache.apply("ADDED", obj)


async def queued(manager: Manager) -> dict[str, list[str]]:
    out = {}
    for controller in manager.controllers:
        keys = [await controller.queue.get() for _ in range(len(controller.queue))]
        for key in keys:
            controller.queue.done(key)
        if keys:
            out[controller.name] = keys
    return out


def dispatch(informer: Informer, old: Obj | None, new: Obj | None) -> None:
    event = "ADDED" if old is None else "DELETED" if new is None else "MODIFIED"
    if new is not None:
        informer.cache.apply("ADDED" if old is None else "MODIFIED", new)
    elif old is not None:
        informer.cache.apply("DELETED", old)
    informer._dispatch([(event, old, new)])


# (cached Certificate, cached requests, cached next-key Secrets, old, new) -> controllers
CERTIFICATE_EVENTS = [
    pytest.param(None, (), (), None, IDLE_CERT, {TRIGGER, ISSUING, READINESS}, id="created"),
    pytest.param(
        None,
        (),
        (),
        IDLE_CERT,
        cert("2", issuing=True, next_key="web-key"),
        {TRIGGER, KEYS, REQUESTS, ISSUING, READINESS},
        id="issuance-started",
    ),
    pytest.param(
        None,
        (),
        (),
        ISSUING_CERT,
        cert("2", issuing=True, next_key="web-key"),
        {KEYS, REQUESTS, ISSUING, READINESS},
        id="issuing-on-both-sides",
    ),
    pytest.param(
        None,
        (),
        (),
        cert(issuing=True),
        cert("2", issuing=True),
        {KEYS, ISSUING, READINESS},
        id="issuing-no-key-named-yet",
    ),
    pytest.param(
        None,
        (PENDING,),
        (),
        ISSUING_CERT,
        cert("2", ready=True, revision=1),
        {TRIGGER, KEYS, ISSUING, READINESS},
        id="issued-first-revision",
    ),
    pytest.param(
        None,
        (PENDING, request("web-0", revision=0)),
        (),
        ISSUING_CERT,
        cert("2", ready=True, revision=1),
        {TRIGGER, KEYS, ISSUING, READINESS, REVISIONS},
        id="issued-with-an-old-request",
    ),
    pytest.param(None, (), (), READY_CERT, None, {TRIGGER, ISSUING, READINESS}, id="deleted"),
    pytest.param(
        None,
        (),
        (NEXT_KEY,),
        IDLE_CERT,
        IDLE_CERT,
        {TRIGGER, KEYS, ISSUING, READINESS},
        id="resync-with-a-leftover-key",
    ),
]


@pytest.mark.parametrize(
    ("certificate", "reqs", "keys", "old", "new", "expected"), CERTIFICATE_EVENTS
)
async def test_certificate_events(
    manager: Manager,
    certificate: Obj | None,
    reqs: tuple[Obj, ...],
    keys: tuple[Obj, ...],
    old: Obj | None,
    new: Obj | None,
    expected: set[str],
) -> None:
    cached(manager.informer(CERTIFICATEREQUESTS).cache, *reqs)
    cached(manager.secrets.managed.cache, *keys)
    certs = manager.informer(CERTIFICATES)
    if old is not None:
        cached(certs.cache, old)
    dispatch(certs, old, new)
    assert await queued(manager) == {name: [KEY] for name in expected}


REQUEST_EVENTS = [
    pytest.param(ISSUING_CERT, (), None, request(), {REQUESTS}, id="issuing-created"),
    pytest.param(ISSUING_CERT, (), request(), APPROVED, set(), id="issuing-approved"),
    # A pending request says what it waits on: the issuing controller copies that to
    # Issuing (written only by an issuer that is stuck, so not once per issuance).
    pytest.param(ISSUING_CERT, (), APPROVED, PENDING, {ISSUING}, id="issuing-pending"),
    # Readiness reads the next revision's certificate only to see whether the target
    # Secret already serves it: not yet here (the Secret's own event comes when it does).
    pytest.param(ISSUING_CERT, (), PENDING, ISSUED, {ISSUING}, id="issuing-issued"),
    pytest.param(TEMPORARY_CERT, (), None, request(), {REQUESTS, ISSUING}, id="temporary-created"),
    pytest.param(TEMPORARY_CERT, (), request(), PENDING, {ISSUING}, id="temporary-approved"),
    pytest.param(ISSUING_CERT, (), PENDING, FAILED, {ISSUING}, id="issuing-failed"),
    pytest.param(ISSUING_CERT, (), APPROVED, None, {REQUESTS}, id="issuing-deleted"),
    pytest.param(
        ISSUING_CERT,
        (),
        request(revision=0),
        request(revision=0, rv="2"),
        {READINESS},
        id="issuing-current-revision-changed",
    ),
    pytest.param(
        ISSUING_CERT,
        (),
        APPROVED,
        {**APPROVED, "metadata": {**APPROVED["metadata"], "annotations": {}}},
        {REQUESTS},
        id="issuing-re-annotated",
    ),
    pytest.param(IDLE_CERT, (), PENDING, FAILED, {TRIGGER, READINESS}, id="idle-changed"),
    pytest.param(
        READY_CERT,
        (request("web-0", revision=0),),
        request(),
        request(rv="2"),
        {TRIGGER, READINESS, REVISIONS},
        id="ready-two-requests-changed",
    ),
    pytest.param(
        READY_CERT,
        (request("web-0", revision=0), request("web-2", revision=2)),
        request(),
        None,
        {TRIGGER, READINESS},
        id="ready-request-deleted",
    ),
    pytest.param(
        READY_CERT,
        (request("web-1", revision=1),),
        request("web-0", revision=0),
        None,
        set(),
        id="ready-older-revision-pruned",
    ),
    pytest.param(
        cert(revision=1),
        (request("web-1", revision=1),),
        request("web-2", revision=2),
        request("web-2", revision=2, rv="2"),
        {TRIGGER, READINESS},
        id="idle-next-revision-changed",
    ),
    pytest.param(
        ISSUING_CERT,
        (),
        request("web-2", revision=2),
        request("web-2", revision=2, certificate="Y2VydA==", rv="2"),
        set(),
        id="issuing-unrelated-revision-issued",
    ),
    pytest.param(None, (), None, request(), set(), id="certificate-not-cached"),
]


@pytest.mark.parametrize(("certificate", "reqs", "old", "new", "expected"), REQUEST_EVENTS)
async def test_request_events(
    manager: Manager,
    certificate: Obj | None,
    reqs: tuple[Obj, ...],
    old: Obj | None,
    new: Obj | None,
    expected: set[str],
) -> None:
    if certificate is not None:
        cached(manager.informer(CERTIFICATES).cache, certificate)
    informer = manager.informer(CERTIFICATEREQUESTS)
    cached(informer.cache, *reqs)
    if old is not None:
        cached(informer.cache, old)
    dispatch(informer, old, new)
    found = await queued(manager)
    found.pop(APPROVER, None)
    assert found == {name: [KEY] for name in expected}


# The next revision's request issued while issuing: readiness is told only when the
# target Secret may already serve its certificate ("Y2VydA==" is "cert").
ISSUED_WITH_TARGETS = [
    pytest.param(None, None, {ISSUING}, id="no-secret"),
    pytest.param({"tls.crt": "Y2VydA=="}, None, {ISSUING, READINESS}, id="secret-serves-it"),
    pytest.param({"tls.crt": "b3RoZXI="}, None, {ISSUING}, id="secret-serves-another"),
    pytest.param({"tls.key": "a2V5"}, None, {ISSUING}, id="secret-without-certificate"),
    pytest.param(None, "web-tls", {ISSUING, READINESS}, id="unmanaged-secret"),
]


@pytest.mark.parametrize(("managed", "unmanaged", "expected"), ISSUED_WITH_TARGETS)
async def test_issued_next_request_reaches_readiness_once_the_secret_may_serve_it(
    manager: Manager, managed: dict[str, str] | None, unmanaged: str | None, expected: set[str]
) -> None:
    cached(manager.informer(CERTIFICATES).cache, ISSUING_CERT)
    if managed is not None:
        cached(manager.secrets.managed.cache, {**TARGET, "data": managed})
    if unmanaged is not None:
        stub = {"metadata": {"name": unmanaged, "namespace": "default", "uid": "u-other"}}
        cached(manager.secrets.unmanaged.cache, stub)
    informer = manager.informer(CERTIFICATEREQUESTS)
    cached(informer.cache, PENDING)
    dispatch(informer, PENDING, ISSUED)
    found = await queued(manager)
    found.pop(APPROVER, None)
    assert found == {name: [KEY] for name in expected}


SECRET_EVENTS = [
    pytest.param(
        IDLE_CERT,
        TARGET,
        secret("web-tls", data="eA=="),
        {TRIGGER, ISSUING, READINESS},
        id="idle-target-changed",
    ),
    pytest.param(IDLE_CERT, TARGET, None, {TRIGGER, ISSUING, READINESS}, id="idle-target-deleted"),
    pytest.param(ISSUING_CERT, TARGET, None, {READINESS}, id="issuing-target-deleted"),
    pytest.param(ISSUING_CERT, None, TARGET, {READINESS}, id="issuing-target-created"),
    pytest.param(TEMPORARY_CERT, TARGET, None, {ISSUING, READINESS}, id="temporary-target-deleted"),
    pytest.param(
        ISSUING_CERT, None, NEXT_KEY, {KEYS, REQUESTS, ISSUING}, id="issuing-next-key-created"
    ),
    pytest.param(
        ISSUING_CERT, NEXT_KEY, None, {KEYS, REQUESTS, ISSUING}, id="issuing-next-key-deleted"
    ),
    pytest.param(
        ISSUING_CERT,
        None,
        secret("web-other", next_key=True),
        {KEYS, ISSUING},
        id="issuing-another-next-key-created",
    ),
    pytest.param(IDLE_CERT, NEXT_KEY, None, set(), id="idle-next-key-deleted"),
    pytest.param(IDLE_CERT, None, NEXT_KEY, {KEYS}, id="idle-next-key-created"),
    pytest.param(
        cert(ready=True, revision=1, next_key="web-key"),
        NEXT_KEY,
        None,
        {KEYS},
        id="idle-next-key-deleted-still-named",
    ),
]


@pytest.mark.parametrize(("certificate", "old", "new", "expected"), SECRET_EVENTS)
async def test_secret_events(
    manager: Manager,
    certificate: Obj,
    old: Obj | None,
    new: Obj | None,
    expected: set[str],
) -> None:
    cached(manager.informer(CERTIFICATES).cache, certificate)
    informer = manager.secrets.managed
    if old is not None:
        cached(informer.cache, old)
    dispatch(informer, old, new)
    assert await queued(manager) == {name: [KEY] for name in expected}


@pytest.mark.parametrize(
    ("old", "new", "queued_"),
    [
        (None, request(), True),
        (request(), PENDING, False),
        (PENDING, ISSUED, False),
        (request(), None, False),
        (None, request(conditions=(condition("Denied", "True"),)), False),
        (
            None,
            {**request(), "spec": {"issuerRef": {"name": "x", "group": "other.example"}}},
            True,
        ),
    ],
    ids=["created", "approved", "issued", "deleted", "denied", "external-issuer"],
)
async def test_approver_sees_only_undecided_requests(
    manager: Manager, old: Obj | None, new: Obj | None, queued_: bool
) -> None:
    informer = manager.informer(CERTIFICATEREQUESTS)
    if old is not None:
        cached(informer.cache, old)
    dispatch(informer, old, new)
    found = (await queued(manager)).get(APPROVER, [])
    assert found == (["default/web-1"] if queued_ else [])


def key_secret(pem: bytes, *, uid: str = "u-key") -> Obj:
    return {
        "metadata": {"name": "web-key", "uid": uid},
        "data": {"tls.key": base64.b64encode(pem).decode()},
    }


def test_request_name_is_memoised_and_follows_its_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    def pem() -> bytes:
        return ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    calls = []
    real = requestmanager.expected_request_name
    monkeypatch.setattr(
        requestmanager,
        "expected_request_name",
        lambda c, k: calls.append(1) or real(c, k),
    )
    certificate = CertificateView.of(cert(issuing=True, next_key="web-key"))
    first = key_secret(pem())
    name = request_name_for(certificate, first)
    assert name is not None and name == request_name_for(certificate, first)
    assert len(calls) == 1
    # A status write (new resourceVersion, same inputs) still hits.
    assert (
        request_name_for(CertificateView.of(cert("2", issuing=True, next_key="web-key")), first)
        == name
    )
    assert len(calls) == 1
    # Another key in the same Secret, a spec changed in place, or another attempt: renamed.
    assert request_name_for(certificate, key_secret(pem())) != name
    changed = cert(issuing=True, next_key="web-key")
    changed["spec"]["dnsNames"] = ["other.example.com"]
    assert request_name_for(CertificateView.of(changed), first) != name
    retried = cert(issuing=True, next_key="web-key")
    retried["status"]["conditions"][-1]["lastTransitionTime"] = "2026-03-02T00:00:00Z"
    assert request_name_for(CertificateView.of(retried), first) != name
    assert request_name_for(certificate, {"metadata": {"uid": "u-bad"}, "data": {}}) is None
    assert request_name_for(certificate, None) is None


@pytest.mark.parametrize(
    "certificate",
    [IDLE_CERT, READY_CERT, ISSUING_CERT, TEMPORARY_CERT],
    ids=["idle", "ready", "issuing", "temporary"],
)
@pytest.mark.parametrize(
    "interest_of",
    [lambda _: trigger.INTEREST, readiness.interest, lambda _: issuing.INTEREST],
    ids=["trigger", "readiness", "issuing"],
)
def test_interests_that_queue_arrivals_admit_every_arrival(
    interest_of: Callable[[Context], Interest], certificate: Obj
) -> None:
    interest = interest_of(context(Manager(client=None, clock=FakeClock())))  # type: ignore[arg-type]
    assert interest.queues_arrivals
    assert interest.certificate is None or interest.certificate(None, certificate)


# The initial lists, before any controller took a key: each Certificate's ADDED event is
# what queues it; its children's events (in either order) add nothing and lose nothing.
INITIAL_LISTS = [
    pytest.param(IDLE_CERT, (TARGET,), (), {TRIGGER, ISSUING, READINESS}, id="issued"),
    pytest.param(
        ISSUING_CERT,
        (TARGET, NEXT_KEY),
        (PENDING,),
        {TRIGGER, KEYS, REQUESTS, ISSUING, READINESS},
        id="issuing",
    ),
    pytest.param(
        cert(revision=1, next_key="web-key"),
        (NEXT_KEY,),
        (request(revision=1),),
        {TRIGGER, KEYS, ISSUING, READINESS},
        id="leftover-key",
    ),
]


def list_events(
    manager: Manager, certificate: Obj, secrets: tuple[Obj, ...], reqs: tuple[Obj, ...]
) -> list[tuple[Informer, Obj]]:
    """The Certificate's ADDED, then its children's."""
    return [
        (manager.informer(CERTIFICATES), certificate),
        *((manager.secrets.managed, s) for s in secrets),
        *((manager.informer(CERTIFICATEREQUESTS), r) for r in reqs),
    ]


@pytest.mark.parametrize(
    "children_first", [True, False], ids=["children-first", "certificate-first"]
)
@pytest.mark.parametrize(("certificate", "secrets", "reqs", "expected"), INITIAL_LISTS)
async def test_initial_lists_queue_each_certificate_as_running_controllers_would(
    certificate: Obj,
    secrets: tuple[Obj, ...],
    reqs: tuple[Obj, ...],
    expected: set[str],
    children_first: bool,
) -> None:
    manager = set_up()  # no controller has taken a key yet
    events = list_events(manager, certificate, secrets, reqs)
    if children_first:  # they find no Certificate cached: only its arrival queues it
        events = [*events[1:], events[0]]
    for informer, obj in events:
        dispatch(informer, None, obj)
    found = await queued(manager)
    assert {name for name, keys in found.items() if KEY in keys} == expected
    # Running controllers are told of the children too; it comes to the same.
    running = await warmed(set_up())
    for informer, obj in list_events(running, certificate, secrets, reqs):
        dispatch(informer, None, obj)
    found = await queued(running)
    assert {name for name, keys in found.items() if KEY in keys} == expected


class _ReadOnly(Mapping[str, Any]):
    """A stored form other than a dict (the cache may keep its own read-only mappings)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = {
            k: tuple(_ReadOnly(c) for c in v) if k == "conditions" else v for k, v in data.items()
        }

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _undecodable(obj: Obj) -> Obj:
    """``obj`` with a status that does not decode (its view reads an empty status)."""
    return {**obj, "status": {**obj["status"], "revision": "not-a-number"}}


FILTER_INPUTS = [
    pytest.param(IDLE_CERT, id="idle"),
    pytest.param(READY_CERT, id="ready"),
    pytest.param(ISSUING_CERT, id="issuing-with-next-key"),
    pytest.param(cert(issuing=True), id="issuing-without-next-key"),
    pytest.param(cert(next_key="web-key"), id="next-key-not-issuing"),
    pytest.param(_undecodable(ISSUING_CERT), id="undecodable-status-says-issuing"),
    pytest.param(_undecodable(READY_CERT), id="undecodable-status-says-ready"),
    pytest.param({**READY_CERT, "status": None}, id="no-status"),
    pytest.param({**READY_CERT, "status": ["not", "a", "mapping"]}, id="status-not-a-mapping"),
    pytest.param(
        {**ISSUING_CERT, "status": {**ISSUING_CERT["status"], "conditions": "Issuing"}},
        id="conditions-not-a-list",
    ),
    pytest.param(
        {**ISSUING_CERT, "status": {**ISSUING_CERT["status"], "conditions": ["Issuing"]}},
        id="condition-not-a-mapping",
    ),
    pytest.param(
        {**ISSUING_CERT, "status": _ReadOnly(ISSUING_CERT["status"])}, id="status-another-mapping"
    ),
]


@pytest.mark.parametrize("certificate", FILTER_INPUTS)
def test_filters_read_the_stored_status_as_the_decoded_one_reads(certificate: Obj) -> None:
    # The stored status is read first so that dispatching decodes nothing; what the
    # filters answer is still the decoded Certificate's answer.
    from certmgr.controllers.certificates import watches

    view = CertificateView.of(certificate)
    assert watches.issuing(certificate) == (view.issuing is not None)
    ready = view.status.condition("Ready")
    assert watches.is_ready(certificate) == (ready is not None and ready.is_true)
    assert requestmanager._may_request(certificate) == (
        view.issuing is not None and bool(view.status.next_private_key_secret_name)
    )
    if not watches.stored_may_name_next_private_key(certificate):  # rules out only
        assert not view.status.next_private_key_secret_name


def test_undecodable_status_reads_empty_in_the_view() -> None:
    assert CertificateView.of(_undecodable(ISSUING_CERT)).issuing is None


async def test_a_start_list_decodes_no_certificate_in_the_filters() -> None:
    # Every Certificate of a start's list passes the filters seconds before any reconcile:
    # a view decoded there was kept (or decoded twice) for nothing.
    from certmgr.controllers.certificates import spec as spec_module

    manager = set_up()
    uid = READY_CERT["metadata"]["uid"]
    spec_module.forget(uid)
    for informer, obj in list_events(manager, READY_CERT, (TARGET,), ()):
        dispatch(informer, None, obj)
    assert uid not in spec_module._decoded_cache
    found = await queued(manager)
    assert {name for name, keys in found.items() if KEY in keys} == {TRIGGER, ISSUING, READINESS}
