"""The CertificateRequest made for an issuance attempt: its deterministic name and body."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.controllers.certificates.gather import request_view
from certmgr.controllers.certificates.requestmanager import expected_request_name, request_body
from certmgr.controllers.certificates.spec import CertificateView

from .helpers import certificate

KEY = ec.generate_private_key(ec.SECP256R1())


def issuing(
    view: CertificateView, *, since: str = "2026-01-01T00:00:00Z", revision: int = 0
) -> CertificateView:
    obj = dict(view.obj)
    obj["status"] = {
        "revision": revision or None,
        "conditions": [{"type": "Issuing", "status": "True", "lastTransitionTime": since}],
    }
    return CertificateView.of(obj)


BASE = expected_request_name(issuing(certificate()), KEY)


@pytest.mark.parametrize(
    ("view", "key"),
    [
        (issuing(certificate(), revision=1), KEY),
        (issuing(certificate(), since="2026-01-01T00:00:01Z"), KEY),
        (issuing(certificate(dnsNames=["other.example.com"])), KEY),
        (issuing(certificate(duration="24h")), KEY),
        (issuing(certificate(issuerRef={"name": "other"})), KEY),
        (issuing(certificate()), ec.generate_private_key(ec.SECP256R1())),
    ],
    ids=["revision", "attempt", "dns-names", "duration", "issuer", "key"],
)
def test_request_name_changes_with_what_the_request_is_for(view: CertificateView, key: Any) -> None:
    assert expected_request_name(view, key) != BASE


def test_request_name_is_deterministic_and_short() -> None:
    assert expected_request_name(issuing(certificate()), KEY) == BASE
    assert BASE.startswith("web-") and len(BASE) == len("web-") + 10
    long = issuing(CertificateView.of({**certificate().obj, "metadata": {"name": "n" * 253}}))
    assert len(expected_request_name(long, KEY)) <= 63


def test_request_body_copies_spec_and_annotations() -> None:
    view = CertificateView.of(
        {
            **certificate(duration="24h", usages=["server auth"], isCA=True).obj,
            "metadata": {
                "name": "web",
                "namespace": "default",
                "uid": "u-1",
                "labels": {"app": "x"},
                "annotations": {
                    "team": "a",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                },
            },
        }
    )
    body = request_body(
        issuing(view, revision=4), name="web-1", csr_pem=b"CSR", key_secret_name="web-k"
    )
    assert body["spec"] == {
        "request": "Q1NS",
        "issuerRef": {"name": "ca", "kind": "Issuer"},
        "duration": "24h0m0s",
        "usages": ["server auth"],
        "isCA": True,
    }
    metadata = body["metadata"]
    assert metadata["labels"] == {"app": "x"}
    assert metadata["annotations"] == {
        "team": "a",
        "cert-manager.io/certificate-name": "web",
        "cert-manager.io/certificate-revision": "5",
        "cert-manager.io/private-key-secret-name": "web-k",
    }
    assert metadata["ownerReferences"][0]["kind"] == "Certificate"
    assert metadata["ownerReferences"][0]["controller"] is True


def _stored_request(usages: list[str], *, resource_version: str = "4") -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "uid": "r-1"}
        | ({"resourceVersion": resource_version} if resource_version else {}),
        "spec": {"request": "Q1NS", "issuerRef": {"name": "ca"}, "usages": usages},
    }


def _request_edited_copy(obj: dict[str, Any]) -> dict[str, Any]:
    # A write's body or the object it returned: another dict, same uid and version.
    edited = copy.deepcopy(obj)
    edited["spec"]["usages"] = ["server auth"]
    return edited


@pytest.mark.parametrize(
    ("second", "usages"),
    [
        (lambda: _stored_request(["client auth"]), ("client auth",)),
        (lambda: _stored_request(["server auth"]), ("server auth",)),
        (lambda: _stored_request(["server auth"], resource_version=""), ("server auth",)),
        (lambda: _request_edited_copy(FIRST_REQUEST), ("server auth",)),
        (lambda: {**_stored_request([]), "spec": {"usages": []}}, None),
    ],
    ids=["same-version", "same-version-other-spec", "no-version", "edited-copy", "invalid"],
)
def test_request_view_decodes_what_the_object_holds(
    second: Any, usages: tuple[str, ...] | None
) -> None:
    # request_view is memoized per (uid, resourceVersion) beside the dict decoded (shared,
    # not copied: cached objects are read-only); it must still reflect the dict it is
    # given, whatever was decoded before under the same key.
    FIRST_REQUEST.clear()
    FIRST_REQUEST.update(_stored_request(["client auth"]))
    assert request_view(FIRST_REQUEST) is not None
    view = request_view(second())
    assert (view.usages if view else None) == usages
    if view is not None:
        assert view.csr_pem == b"CSR"


FIRST_REQUEST: dict[str, Any] = {}
