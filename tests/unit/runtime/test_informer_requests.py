"""A cached CertificateRequest: an issued one without its chain and CA and, when its CSR
parses, without the CSR's text, with what the decisions read of them; every other
request whole. Each reader decides the same on the cached copy as on the object the API
sent."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.api.codec import InvalidObject
from certmgr.api.requests import CertificateRequestStatus
from certmgr.controllers.acme import requests as acme_requests
from certmgr.controllers.acme.issuer_refs import issuer_ref_index, request_issuer_ref_index
from certmgr.controllers.certificaterequests import approver
from certmgr.controllers.certificates import gather, readiness, watches
from certmgr.controllers.issuers import signing
from certmgr.kube.resources import CERTIFICATEREQUESTS, CERTIFICATES
from certmgr.pki.csr import build_csr, parse_csr
from certmgr.pki.keys import public_key_fingerprint
from certmgr.pki.requirements import CertificateRequirements
from certmgr.policies.checks import request_violations
from certmgr.policies.inputs import IssuerRef
from certmgr.runtime import packing
from certmgr.runtime.informer import compact
from certmgr.runtime.informer_requests import (
    IssuedRequest,
    PackedRequest,
    cached_request,
    cached_view,
    has_issued_certificate,
    issued_certificate_sha256,
    packed_request,
    spec_view,
    trimmed,
)
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock

CHAIN = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nleaf\n-----END CERTIFICATE-----\n")
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n")
APPROVED = {"type": "Approved", "status": "True", "reason": "cert-manager.io", "message": "ok"}


def _ready(status: str, reason: str) -> dict[str, str]:
    return {"type": "Ready", "status": status, "reason": reason, "message": "m"}


def _request(status: dict[str, Any] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {
            "name": "app-1a2b3c",
            "namespace": "ns",
            "uid": "u1",
            "resourceVersion": "7",
            "annotations": {"cert-manager.io/certificate-revision": "1"},
            "managedFields": [{"manager": "certmgr"}],
        },
        "spec": {"request": "Q1NS", "issuerRef": {"name": "ca"}},
    }
    if status is not None:
        obj["status"] = status
    return obj


# (status as the API sends it, whether the cache drops status.certificate and status.ca)
CASES = [
    pytest.param(
        {
            "conditions": [APPROVED, _ready("True", "Issued")],
            "certificate": CHAIN.decode(),
            "ca": CA.decode(),
        },
        True,
        id="issued-with-ca",
    ),
    pytest.param(
        {"conditions": [_ready("True", "Issued")], "certificate": CHAIN.decode()},
        True,
        id="issued-without-ca",
    ),
    pytest.param(
        {"conditions": [_ready("True", "Issued")], "certificate": CHAIN.decode(), "ca": ""},
        True,
        id="issued-empty-ca",
    ),
    pytest.param(None, False, id="no-status"),
    pytest.param({"conditions": [APPROVED]}, False, id="approved-only"),
    pytest.param({"conditions": [APPROVED, _ready("False", "Pending")]}, False, id="pending"),
    pytest.param(
        {"conditions": [_ready("False", "Failed")], "failureTime": "2026-01-01T00:00:00Z"},
        False,
        id="failed",
    ),
    pytest.param(
        {"conditions": [_ready("True", "SomethingElse")], "certificate": CHAIN.decode()},
        False,
        id="ready-other-reason",
    ),
    pytest.param(
        {"conditions": [_ready("True", "Issued")], "certificate": "not base64!"},
        False,
        id="issued-undecodable-certificate",
    ),
    pytest.param(
        {"conditions": [_ready("True", "Issued")], "certificate": CHAIN.decode(), "ca": "%%"},
        False,
        id="issued-undecodable-ca",
    ),
    pytest.param(
        {"conditions": [_ready("True", "Issued")], "certificate": ""},
        False,
        id="issued-empty-certificate",
    ),
    pytest.param({"conditions": [_ready("True", "Issued")]}, False, id="issued-no-certificate"),
    pytest.param(
        {
            "conditions": [_ready("False", "Pending"), _ready("True", "Issued")],
            "certificate": CHAIN.decode(),
        },
        False,
        id="first-ready-condition-counts",
    ),
    pytest.param(
        {"conditions": [_ready("False", "Pending")], "certificate": CHAIN.decode()},
        False,
        id="certificate-while-pending",
    ),
    pytest.param(
        {
            "conditions": [{**_ready("True", "Issued"), "lastTransitionTime": "yesterday"}],
            "certificate": CHAIN.decode(),
        },
        False,
        id="ready-condition-does-not-decode",
    ),
    pytest.param(
        {"conditions": ["Approved", _ready("True", "Issued")], "certificate": CHAIN.decode()},
        False,
        id="a-condition-before-ready-is-no-mapping",
    ),
    pytest.param(
        {
            "conditions": [_ready("True", "Issued"), {**APPROVED, "lastTransitionTime": "now"}],
            "certificate": CHAIN.decode(),
        },
        False,
        id="a-condition-after-ready-does-not-decode",
    ),
    pytest.param(
        {"conditions": [_ready("True", "Issued"), "Approved"], "certificate": CHAIN.decode()},
        False,
        id="a-condition-after-ready-is-no-mapping",
    ),
]


@pytest.mark.parametrize(("status", "trims"), CASES)
def test_only_an_issued_request_that_decodes_is_trimmed(
    status: dict[str, Any] | None, trims: bool
) -> None:
    sent = _request(status)
    kept = copy.deepcopy(sent)
    cached = cached_request(sent)
    assert sent == kept  # the decoded object is not changed
    assert trimmed(cached) is trims
    assert isinstance(cached, IssuedRequest) is trims
    assert "managedFields" not in cached["metadata"]
    assert cached["spec"] == sent["spec"]  # this CSR does not parse: the spec stays whole
    if trims:
        assert "certificate" not in cached["status"] and "ca" not in cached["status"]
        rest = {k: v for k, v in sent["status"].items() if k not in ("certificate", "ca")}
        assert cached["status"] == rest
    else:
        assert cached.get("status") == sent.get("status")


def _digest_as_readiness_read_it(request: dict[str, Any]) -> bytes | None:
    """readiness._issued_digest over the whole object, as it was written before the cache
    kept a digest."""
    raw: Any = (request.get("status") or {}).get("certificate")
    if not raw:
        return None
    try:
        return hashlib.sha256(base64.b64decode(raw, validate=True)).digest()
    except (binascii.Error, ValueError):
        return None


def _decoded_status(request: dict[str, Any]) -> CertificateRequestStatus | str:
    try:
        return CertificateRequestStatus.from_dict(request.get("status"), path="status")
    except InvalidObject:
        return "invalid"


@pytest.mark.parametrize(("status", "trims"), CASES)
def test_every_reader_of_the_cache_decides_the_same_on_the_trimmed_copy(
    status: dict[str, Any] | None, trims: bool
) -> None:
    sent = _request(status)
    cached = cached_request(copy.deepcopy(sent))
    # readiness: "is the served certificate this request's?" compares digests.
    assert readiness._issued_digest(cached) == _digest_as_readiness_read_it(sent)
    assert issued_certificate_sha256(cached) == issued_certificate_sha256(sent)
    # readiness' and the watches' interest: whether it carries a certificate.
    expected = bool((sent.get("status") or {}).get("certificate"))
    assert watches.request_has_certificate(cached) is expected
    assert has_issued_certificate(cached) is expected
    # The issuer controllers (ACME, CA/self-signed) and the approver decode the status and
    # stop at a final one; the CA signer also stops at one carrying a certificate.
    whole, kept = _decoded_status(sent), _decoded_status(cached)
    if trims:
        assert isinstance(whole, CertificateRequestStatus)
        assert isinstance(kept, CertificateRequestStatus)
        assert kept.conditions == whole.conditions
        assert (kept.is_ready, kept.is_approved, kept.is_denied) == (
            whole.is_ready,
            whole.is_approved,
            whole.is_denied,
        )
        assert kept.failure_time == whole.failure_time
        # Trimmed means finished for both issuer controllers (their indexes leave it out)
        # and no approval needed, as each decides on the whole object.
        assert signing.finished(cached) and signing.finished(sent)
        assert acme_requests.finished(cached) and acme_requests.finished(sent)
        assert not approver.needs_approval(cached) and not approver.needs_approval(sent)
        assert bool(whole.certificate)  # the signer stopped on either; it stops on final
    else:
        assert kept == whole


def test_the_request_cache_trims_and_the_others_only_compact() -> None:
    manager = Manager(client=None, clock=FakeClock())  # type: ignore[arg-type]
    issued = {"conditions": [_ready("True", "Issued")], "certificate": CHAIN.decode()}
    requests = manager.informer(CERTIFICATEREQUESTS)
    assert trimmed(requests._transform(_request(issued)))  # type: ignore[misc]
    certificates = manager.informer(CERTIFICATES)
    assert not trimmed(certificates._transform(_request(issued)))  # type: ignore[misc]


KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
NAMES = CertificateRequirements(
    common_name="app.example.com", dns_names=("app.example.com", "www.example.com")
)
ISSUED = {
    "conditions": [APPROVED, _ready("True", "Issued")],
    "certificate": CHAIN.decode(),
    "ca": CA.decode(),
}


def _spec(requirements: CertificateRequirements = NAMES, **fields: Any) -> dict[str, Any]:
    return {
        "request": base64.b64encode(build_csr(KEY, requirements)).decode(),
        "issuerRef": {"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        **fields,
    }


NAMES_OTHER = CertificateRequirements(dns_names=("other.example.com",))


# (spec as the API sends it, whether the cache keeps it parsed without spec.request)
SPECS = [
    pytest.param(_spec(), True, id="names"),
    pytest.param(
        _spec(usages=["server auth", "digital signature"], isCA=True, duration="2160h0m0s"),
        True,
        id="usages-ca-duration",
    ),
    pytest.param(
        _spec(
            CertificateRequirements(
                dns_names=("app.example.com",), literal_subject="CN=app,OU=Web+OU=Ops,C=DE"
            )
        ),
        True,
        id="literal-subject",
    ),
    pytest.param({**_spec(), "request": "Q1NS"}, False, id="csr-does-not-parse"),
    pytest.param({**_spec(), "request": "%%"}, False, id="csr-not-base64"),
    pytest.param({"request": _spec()["request"]}, False, id="spec-without-issuer-ref"),
    pytest.param({**_spec(), "duration": "a while"}, False, id="spec-does-not-decode"),
]


@pytest.mark.parametrize(("spec", "parsed"), SPECS)
def test_an_issued_request_keeps_its_spec_as_the_policies_read_it(
    spec: dict[str, Any], parsed: bool
) -> None:
    sent = {**_request(ISSUED), "spec": spec}
    kept = copy.deepcopy(sent)
    cached = cached_request(sent)
    assert sent == kept
    assert trimmed(cached)
    whole = spec_view(sent["spec"])
    view = cached_view(cached)
    if not parsed:
        assert view is None
        assert cached["spec"] == sent["spec"]
        assert gather.request_view(cached) == whole
        return
    assert whole is not None and view is not None
    assert cached["spec"] == {k: v for k, v in sent["spec"].items() if k != "request"}
    assert view == replace(whole, csr_pem=b"", parsed_csr=parse_csr(whole.csr_pem))
    assert gather.request_view(cached) is view
    # The cache's view, not a copy per reconcile; and one issuer reference for every view.
    again = cached_view(cached_request(copy.deepcopy(kept)))
    assert again is not None and again.issuer_ref is view.issuer_ref


@pytest.mark.parametrize(("spec", "parsed"), [p for p in SPECS if p.values[1]])
@pytest.mark.parametrize(
    "requirements",
    [
        NAMES,
        CertificateRequirements(common_name="app.example.com", dns_names=("app.example.com",)),
        CertificateRequirements(dns_names=("app.example.com",), literal_subject="CN=app,C=DE"),
        CertificateRequirements(
            dns_names=("app.example.com",), literal_subject="CN=app,OU=Ops+OU=Web,C=DE"
        ),
        CertificateRequirements(
            common_name="app.example.com",
            dns_names=("app.example.com", "www.example.com"),
            usages=("server auth", "digital signature"),
            is_ca=True,
            duration=timedelta(days=90),
        ),
    ],
    ids=["same", "fewer-names", "other-literal-subject", "same-literal-subject", "fields"],
)
@pytest.mark.parametrize(
    "issuer_ref",
    [
        IssuerRef(name="ca", kind="ClusterIssuer", group="cert-manager.io"),
        IssuerRef(name="ca"),
    ],
    ids=["same-issuer", "other-issuer"],
)
def test_the_policies_decide_the_same_on_the_cached_view(
    spec: dict[str, Any],
    parsed: bool,
    requirements: CertificateRequirements,
    issuer_ref: IssuerRef,
) -> None:
    sent = {**_request(ISSUED), "spec": spec}
    view = cached_view(cached_request(copy.deepcopy(sent)))
    whole = spec_view(sent["spec"])
    assert view is not None and whole is not None
    assert request_violations(view, requirements, issuer_ref=issuer_ref) == request_violations(
        whole, requirements, issuer_ref=issuer_ref
    )
    for key in (KEY, OTHER_KEY):
        fingerprint = public_key_fingerprint(key)
        assert (view.csr().public_key_fingerprint == fingerprint) is (
            parse_csr(whole.csr_pem).public_key_fingerprint == fingerprint
        )


# Specs that share everything but their CSR with one in SPECS, in an order where the
# decoded rest of a spec is met before and after a request whose CSR fails.
REPEATED_RESTS = [
    pytest.param([_spec(), {**_spec(), "request": "%%"}, _spec()], id="bad-base64-between"),
    pytest.param([{**_spec(), "request": "Q1NS"}, _spec()], id="bad-csr-first"),
    pytest.param([{**_spec(), "request": ""}, _spec()], id="empty-request-first"),
    pytest.param(
        [{**_spec(), "duration": "a while"}, {**_spec(NAMES_OTHER), "duration": "a while"}],
        id="rest-does-not-decode",
    ),
    pytest.param([_spec(isCA=True), _spec(isCA=1)], id="true-is-not-1"),
    pytest.param([_spec(usages=["server auth"]), _spec(NAMES_OTHER, usages=["server auth"])]),
]


@pytest.mark.parametrize("specs", REPEATED_RESTS)
def test_requests_alike_but_for_their_csr_each_get_their_own_view(
    specs: list[dict[str, Any]],
) -> None:
    """What the view takes from the spec besides the CSR is decoded once per distinct rest
    of the spec: each request's view is still the one a decode of its own spec gives."""
    for spec in specs + specs:
        view = cached_view(cached_request({**_request(ISSUED), "spec": copy.deepcopy(spec)}))
        whole = spec_view(spec)
        if whole is None or view is None:
            assert view is None
            continue
        assert view == replace(whole, csr_pem=b"", parsed_csr=parse_csr(whole.csr_pem))


@pytest.mark.parametrize(
    ("second", "shared"),
    [
        (_spec(), True),
        (_spec(CertificateRequirements(dns_names=("other.example.com",))), True),
        (_spec(isCA=True), False),
        (_spec(usages=["server auth"]), False),
        ({**_spec(), "issuerRef": {"name": "other"}}, False),
    ],
    ids=["same-spec", "another-csr", "ca", "usages", "issuer"],
)
def test_issued_requests_that_differ_only_by_their_csr_share_one_spec(
    second: dict[str, Any], shared: bool
) -> None:
    first = cached_request({**_request(ISSUED), "spec": _spec()})
    other = cached_request({**_request(ISSUED), "spec": second})
    assert other["spec"] == {k: v for k, v in second.items() if k != "request"}
    assert (other["spec"] is first["spec"]) is shared


def test_a_cached_csr_shares_the_certificates_names() -> None:
    names = CertificateRequirements(common_name="web.example.com", dns_names=("web.example.com",))
    spec = {"commonName": "web.example.com", "dnsNames": ["web.example.com"]}
    certificate = compact(json.loads(json.dumps({"spec": spec})))
    request = cached_request(json.loads(json.dumps({**_request(ISSUED), "spec": _spec(names)})))
    view = cached_view(request)
    assert view is not None
    csr = view.csr()
    assert csr.common_name is certificate["spec"]["commonName"]
    assert csr.dns_names[0] is certificate["spec"]["dnsNames"][0]


@pytest.mark.parametrize(("status", "trims"), CASES)
def test_the_issuer_controllers_indexes_leave_out_only_what_they_are_done_with(
    status: dict[str, Any] | None, trims: bool
) -> None:
    sent = _request(status)
    sent["metadata"]["annotations"]["cert-manager.io/private-key-secret-name"] = "app-key"
    sent["spec"]["issuerRef"] = {"name": "ca", "kind": "ClusterIssuer"}
    cached = cached_request(copy.deepcopy(sent))
    filed_by_issuer = request_issuer_ref_index(cached)
    filed_by_key = signing.key_secret_index(cached)
    if trims:
        assert filed_by_issuer == [] and filed_by_key == []
    else:
        assert filed_by_issuer == issuer_ref_index(sent) == ["ClusterIssuer/ca"]
        assert filed_by_key == ["ns/app-key"]


def _layout(value: Any) -> Any:
    """``value`` with every dict as its items in order and every leaf with its type."""
    if isinstance(value, dict):
        return [(key, _layout(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_layout(item) for item in value]
    return (type(value), value)


def _rich_request(spec: dict[str, Any]) -> dict[str, Any]:
    sent = {**_request(ISSUED), "spec": spec, "extra": {"nested": [{"a": "b"}]}}
    sent["status"] = {
        **sent["status"],
        "conditions": [
            {**APPROVED, "lastTransitionTime": "2026-12-06T21:44:08Z", "observedGeneration": 1},
            {**_ready("True", "Issued"), "lastTransitionTime": "2026-12-06T21:44:09Z"},
        ],
    }
    sent["metadata"] = {
        **sent["metadata"],
        "labels": {"app": "web", "tier": ""},
        "finalizers": ["x"],
        "ownerReferences": [
            {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": "app", "uid": "u0"}
        ],
    }
    return json.loads(json.dumps(sent))


@pytest.mark.parametrize(("spec", "parsed"), SPECS)
def test_an_issued_request_is_cached_as_compact_leaves_it_and_shares_nothing_with_the_sent(
    spec: dict[str, Any], parsed: bool
) -> None:
    sent = _rich_request(spec)
    cached = cached_request(sent)
    whole = compact(copy.deepcopy(sent))
    whole["status"] = {k: v for k, v in whole["status"].items() if k not in ("certificate", "ca")}
    if parsed:
        whole["spec"] = {k: v for k, v in whole["spec"].items() if k != "request"}
    assert _layout(cached) == _layout(whole)  # the same items in the same order
    # Shared as ``compact`` shares them: each label, annotation and owner's name one string
    # for every object, the vocabulary interned.
    again = cached_request(_rich_request(spec))
    for read in (
        lambda r: r["metadata"]["labels"]["app"],
        lambda r: r["metadata"]["annotations"]["cert-manager.io/certificate-revision"],
        lambda r: r["metadata"]["ownerReferences"][0]["name"],
        lambda r: r["status"]["conditions"][1]["message"],
        lambda r: r["status"]["conditions"][1]["reason"],
        lambda r: r["spec"].get("issuerRef"),
    ):
        assert read(again) is read(cached) and read(cached) is read(whole)
    # Nothing the decoder made is kept: changing it changes nothing cached.
    kept = copy.deepcopy(cached)
    for value in (sent, sent["metadata"], sent["status"], sent["spec"], sent["extra"]):
        for item in value.values():
            if isinstance(item, dict):
                item["changed"] = True
            elif isinstance(item, list):
                item.append("changed")
    if "issuerRef" in sent["spec"]:
        sent["spec"]["issuerRef"]["name"] = "changed"
    sent["status"]["conditions"][0]["type"] = "changed"
    sent["metadata"]["ownerReferences"][0]["name"] = "changed"
    assert cached == kept


@pytest.mark.parametrize(("status", "trims"), CASES)
@pytest.mark.parametrize(("spec", "parsed"), SPECS)
def test_a_packed_request_reads_back_equal_and_afresh(
    status: dict[str, Any] | None, trims: bool, spec: dict[str, Any], parsed: bool
) -> None:
    sent = {**_request(status), "spec": spec}
    sent["metadata"]["labels"] = {}
    sent["metadata"]["ownerReferences"] = [
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": "app", "uid": "u0"}
    ]
    cached = cached_request(json.loads(json.dumps(sent)))
    packed = packed_request(cached)
    if not trims:
        assert packed is cached  # only an issued request is packed
        return
    assert isinstance(packed, PackedRequest)
    assert packed.resource_version == "7"
    first, second = packed.unpack(), packed.unpack()
    for read in (first, second):
        assert type(read) is IssuedRequest
        assert _layout(read) == _layout(cached)
        assert trimmed(read) and has_issued_certificate(read)
        assert issued_certificate_sha256(read) == issued_certificate_sha256(cached)
        assert cached_view(read) is cached_view(cached)
    assert first is not second and first["metadata"] is not second["metadata"]
    # A reader that changes what it read changes nothing the next reader reads.
    first["metadata"]["annotations"]["x"] = "y"
    assert packed.unpack() == cached


def test_the_request_cache_reads_packed_requests_as_they_were_stored() -> None:
    manager = Manager(client=None, clock=FakeClock())  # type: ignore[arg-type]
    cache = manager.informer(CERTIFICATEREQUESTS).cache
    cache.add_index("by-name", lambda obj: [obj["metadata"]["name"]])
    issued = cached_request({**_request(ISSUED), "spec": _spec()})
    pending = cached_request(_request({"conditions": [APPROVED]}))
    pending["metadata"] = {**pending["metadata"], "name": "app-pending"}
    staged = cache.stage()
    for obj in (issued, pending):
        staged.add(obj)
    changes = cache.replace(staged, "9")
    assert [change[2] for change in changes] == [issued, pending]
    assert isinstance(cache._stored(("ns", "app-1a2b3c")), PackedRequest)
    assert cache.get("ns", "app-1a2b3c") == issued
    assert cache.get("ns", "app-pending") is pending
    assert cache.by_index("by-name", "app-1a2b3c") == [issued]
    assert sorted(cache.snapshot(), key=str) == sorted([issued, pending], key=str)
    assert sorted(cache.scan(), key=str) == sorted([issued, pending], key=str)
    # The same version relisted is no change; a new one is.
    assert cache.replace([issued, pending], "10") == []
    newer = cached_request(
        {**_request(ISSUED), "spec": _spec(), "metadata": {**_request(None)["metadata"]}}
    )
    newer["metadata"] = {**newer["metadata"], "resourceVersion": "11"}
    change = cache.apply("MODIFIED", newer)
    assert change is not None and change[0] == "MODIFIED"
    assert change[1] == issued and change[2] is newer
    assert cache.get("ns", "app-1a2b3c") == newer


def test_past_the_layouts_bound_an_issued_request_is_kept_as_it_was_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(packing, "_layouts", {})
    monkeypatch.setattr(packing, "LAYOUTS_MAX", 0)
    cached = cached_request(_rich_request(_spec()))
    kept = packed_request(cached)
    assert type(kept) is IssuedRequest and kept is not cached
    assert _layout(kept) == _layout(cached)
    assert kept["spec"] is cached["spec"]  # one spec for all requests alike
    assert cached_view(kept) is cached_view(cached)
    assert issued_certificate_sha256(kept) == issued_certificate_sha256(cached)
    assert has_issued_certificate(kept)
