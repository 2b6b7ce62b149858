"""CertificateRequest side: the chain split into certificate and ca; the issuer spec memo."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.api.issuers import IssuerSpec
from certmgr.api.requests import CertificateRequestSpec
from certmgr.controllers.acme import requests as requests_module
from certmgr.controllers.acme.requests import (
    RequestReconciler,
    build_order_spec,
    split_issued_chain,
)
from certmgr.pki.csr import parse_csr
from certmgr.runtime.cache import Cache

from .helpers import csr_pem, owned_order, request_reconciler


def _cert(
    subject: str,
    issuer: str,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


ROOT_KEY, MID_KEY, LEAF_KEY = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
ROOT = _cert("root", "root", ROOT_KEY, ROOT_KEY, ca=True)
MID = _cert("mid", "root", MID_KEY, ROOT_KEY, ca=True)
LEAF = _cert("leaf", "mid", LEAF_KEY, MID_KEY, ca=False)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@pytest.mark.parametrize(
    ("chain", "certificate", "ca"),
    [
        pytest.param(pem(LEAF, MID), pem(LEAF, MID), b"", id="no-root-as-pebble-sends"),
        pytest.param(pem(LEAF, MID, ROOT), pem(LEAF, MID), pem(ROOT), id="root-included"),
        pytest.param(pem(MID, LEAF), pem(LEAF, MID), b"", id="any-order"),
        pytest.param(b"not pem", b"not pem", b"", id="unparsable-kept-as-is"),
    ],
)
def test_split_issued_chain(chain: bytes, certificate: bytes, ca: bytes) -> None:
    assert split_issued_chain(chain) == (certificate, ca)


def _issuer(version: str, server: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "ca", "uid": "u1", "resourceVersion": version},
        "spec": {"acme": {"server": server, "privateKeySecretRef": {"name": "k"}}},
    }


def test_the_issuer_spec_is_decoded_once_per_version(monkeypatch: pytest.MonkeyPatch) -> None:
    decodes: list[object] = []

    class Counting:
        @staticmethod
        def from_dict(data: Any, *, path: str = "") -> IssuerSpec:
            decodes.append(data)
            return IssuerSpec.from_dict(data, path=path)

    monkeypatch.setattr(requests_module, "IssuerSpec", Counting)
    reconciler = RequestReconciler(
        None,  # type: ignore[arg-type]  # never used by the spec decoding
        requests=Cache(),
        orders=Cache(),
        issuers=Cache(),
        cluster_issuers=Cache(),
    )
    for _ in range(3):
        spec = reconciler._acme_spec(_issuer("1", "https://one/dir"))
        assert spec is not None and spec.server == "https://one/dir"
    assert len(decodes) == 1
    spec = reconciler._acme_spec(_issuer("2", "https://two/dir"))
    assert spec is not None and spec.server == "https://two/dir"
    assert len(decodes) == 2
    assert reconciler._acme_spec(None) is None


def _order_spec(*, duration: str | None, acme: dict[str, Any]) -> dict[str, Any]:
    csr_pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example.com")]), False)
        .sign(LEAF_KEY, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    request: dict[str, Any] = {
        "request": base64.b64encode(csr_pem).decode(),
        "issuerRef": {"name": "le", "kind": "ClusterIssuer"},
    }
    if duration is not None:
        request["duration"] = duration
    spec = CertificateRequestSpec.from_dict(request)
    issuer = IssuerSpec.from_dict(
        {"acme": {"server": "https://ca/dir", "privateKeySecretRef": {"name": "k"}, **acme}}
    ).acme
    assert issuer is not None
    return build_order_spec(spec, parse_csr(csr_pem), dict(request["issuerRef"]), issuer)


@pytest.mark.parametrize(
    ("duration", "acme", "expected"),
    [
        pytest.param("48h", {}, None, id="duration-not-sent-by-default"),
        pytest.param("48h", {"enableDurationFeature": True}, "48h0m0s", id="duration-feature"),
        pytest.param(None, {"enableDurationFeature": True}, None, id="feature-without-duration"),
    ],
)
def test_the_order_carries_the_duration_only_with_enable_duration_feature(
    duration: str | None, acme: dict[str, Any], expected: str | None
) -> None:
    order = _order_spec(duration=duration, acme=acme)
    assert order.get("duration") == expected
    assert order["dnsNames"] == ["a.example.com"]


class RecordingKube:
    def __init__(self) -> None:
        self.writes: list[str] = []
        self.created: list[dict[str, Any]] = []

    async def create(self, resource: Any, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.writes.append(f"create {resource.plural}")
        self.created.append(obj)
        return obj

    async def patch(self, resource: Any, name: str, *args: Any, **_: Any) -> dict[str, Any]:
        self.writes.append(f"patch {resource.plural}")
        return {}

    async def update_status(self, resource: Any, obj: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(f"update_status {resource.plural}")
        return obj


async def test_a_request_being_deleted_gets_no_order() -> None:
    requests, orders, issuers = Cache(), Cache(), Cache()
    issuer = _issuer("1", "https://ca/dir")
    issuer["metadata"]["namespace"] = "default"
    issuer["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    issuers.apply("ADDED", issuer)
    requests.apply(
        "ADDED",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {
                "name": "web-1",
                "namespace": "default",
                "uid": "r1",
                "resourceVersion": "3",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": ["foregroundDeletion"],
            },
            "spec": {
                "request": base64.b64encode(csr_pem()).decode(),
                "issuerRef": {"name": "ca", "kind": "Issuer"},
            },
            "status": {"conditions": [{"type": "Approved", "status": "True"}]},
        },
    )
    kube = RecordingKube()
    reconciler = request_reconciler(kube, requests=requests, orders=orders, issuers=issuers)
    assert await reconciler.reconcile("default/web-1") is None
    assert kube.writes == []


def _order(reason: str = "") -> dict[str, Any]:
    status = {"state": "pending", **({"reason": reason} if reason else {})}
    return {"metadata": {"name": "web-1-1", "namespace": "default", "uid": "o1"}, "status": status}


def _challenge(name: str, reason: str, *, state: str = "pending", owner: str = "o1") -> Any:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"c-{name}",
            "resourceVersion": "1",
            "ownerReferences": [{"kind": "Order", "name": "web-1-1", "uid": owner}],
        },
        "spec": {"dnsName": f"{name}.example.com"},
        "status": {"state": state, "reason": reason},
    }


NO_SOLVER = 'no configured challenge solvers can be used for "*.example.com"'
PROPAGATION = "Waiting for HTTP-01 challenge propagation: wrong status code '404', expected '200'"


@pytest.mark.parametrize(
    ("order", "challenges", "cause"),
    [
        pytest.param(_order(), [], "", id="healthy-says-nothing"),
        pytest.param(_order(NO_SOLVER), [], NO_SOLVER, id="order-reason-no-solver"),
        pytest.param(
            _order(),
            [_challenge("b", PROPAGATION), _challenge("a", "")],
            f'challenge "b" for "b.example.com": {PROPAGATION}',
            id="challenge-route-does-not-answer",
        ),
        pytest.param(_order(), [_challenge("a", "ok", state="valid")], "", id="valid-challenge"),
        pytest.param(
            _order(), [_challenge("a", PROPAGATION, owner="other")], "", id="another-orders"
        ),
    ],
)
def test_what_a_stuck_order_is_waiting_on(
    order: dict[str, Any], challenges: list[Any], cause: str
) -> None:
    cache = Cache()
    for challenge in challenges:
        cache.apply("ADDED", challenge)
    reconciler = RequestReconciler(
        None,  # type: ignore[arg-type]  # never used by the cause lookup
        requests=Cache(),
        orders=Cache(),
        issuers=Cache(),
        cluster_issuers=Cache(),
        challenges=cache,
    )
    assert reconciler._stuck_cause(order) == cause


CSR_PEM = csr_pem()


def _approved_request(uid: str = "r1") -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": "web-1", "namespace": "default", "uid": uid, "resourceVersion": "3"},
        "spec": {
            "request": base64.b64encode(CSR_PEM).decode(),
            "issuerRef": {"name": "ca", "kind": "Issuer"},
        },
        "status": {"conditions": [{"type": "Approved", "status": "True"}]},
    }


def _request_reconciler(orders: Cache) -> tuple[RequestReconciler, RecordingKube]:
    requests, issuers = Cache(), Cache()
    issuer = _issuer("1", "https://ca/dir")
    issuer["metadata"]["namespace"] = "default"
    issuer["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    issuers.apply("ADDED", issuer)
    requests.apply("ADDED", _approved_request())
    kube = RecordingKube()
    reconciler = request_reconciler(kube, requests=requests, orders=orders, issuers=issuers)
    return reconciler, kube


async def _planned_order_spec() -> dict[str, Any]:
    """The spec the request's own Order gets (created into an empty cache)."""
    reconciler, kube = _request_reconciler(Cache())
    await reconciler.reconcile("default/web-1")
    assert kube.writes == ["create orders"]
    spec: dict[str, Any] = kube.created[0]["spec"]
    return spec


def _cert_manager_order(
    name: str,
    spec: dict[str, Any],
    *,
    owner_uid: str = "r1",
    namespace: str = "default",
    state: str = "pending",
    version: str = "1",
) -> dict[str, Any]:
    """An Order as cert-manager names it (``<request>-<fnv32>``), owned by the request."""
    status = {"state": state} if state else {}
    return owned_order(
        name, spec, status, namespace=namespace, owner_uid=owner_uid, version=version
    )


@pytest.mark.parametrize(
    ("change", "adopted"),
    [
        pytest.param({}, True, id="cert-manager-order-adopted"),
        pytest.param({"state": ""}, True, id="no-state-yet-adopted"),
        pytest.param({"state": "ready"}, True, id="ready-adopted"),
        pytest.param({"state": "errored"}, False, id="errored-not-adopted"),
        pytest.param({"state": "invalid"}, False, id="invalid-not-adopted"),
        pytest.param({"state": "expired"}, False, id="expired-not-adopted"),
        pytest.param({"owner_uid": "r0"}, False, id="another-requests"),
        pytest.param({"namespace": "other"}, False, id="another-namespace"),
        pytest.param({"spec": {"dnsNames": ["b.example.com"]}}, False, id="another-spec"),
    ],
)
async def test_an_issuance_adopts_cert_manager_s_order_without_listing_the_orders(
    change: dict[str, Any], adopted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cert-manager's Order for the request has its own name (a hash of cert-manager's
    # choosing); 1,000 other Orders of the namespace must not be read to find it.
    spec = await _planned_order_spec()
    orders = Cache()
    for i in range(1000):
        orders.apply("ADDED", _cert_manager_order(f"other-{i}", spec, owner_uid=f"r-{i}"))
    extra = change.pop("spec", {})
    orders.apply("ADDED", _cert_manager_order("web-1-2302138473", {**spec, **extra}, **change))
    reconciler, kube = _request_reconciler(orders)
    listed: list[object] = []
    for method in ("list", "scan", "snapshot", "keys"):
        real = getattr(orders, method)
        monkeypatch.setattr(
            orders, method, lambda *a, _real=real, **kw: listed.append(a) or _real(*a, **kw)
        )
    await reconciler.reconcile("default/web-1")
    assert kube.writes == ([] if adopted else ["create orders"])
    assert listed == []


async def test_of_two_equal_cert_manager_orders_the_one_first_in_the_cache_is_adopted() -> None:
    # Orders a third party made, both owned by the request with the same spec: the one a
    # pass over the namespace's cached Orders meets first, as before the index (an Order
    # updated goes to the end of that pass).
    spec = await _planned_order_spec()
    orders = Cache()
    orders.apply("ADDED", _cert_manager_order("web-1-b", spec))
    orders.apply("ADDED", _cert_manager_order("web-1-a", spec))
    reconciler, _ = _request_reconciler(orders)
    request = _approved_request()
    adopted = reconciler._adoptable_order(request, spec)
    assert adopted is not None and adopted["metadata"]["name"] == "web-1-b"
    orders.apply("MODIFIED", _cert_manager_order("web-1-b", spec, version="2"))
    adopted = reconciler._adoptable_order(request, spec)
    assert adopted is not None and adopted["metadata"]["name"] == "web-1-a"
