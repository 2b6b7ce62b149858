"""Pure decisions of the controllers: pruning, approval, request failure, jitter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from certmgr.api.requests import CertificateRequestStatus
from certmgr.controllers.certificaterequests.approver import needs_approval
from certmgr.controllers.certificates.gather import renewal_jitter_seconds
from certmgr.controllers.certificates.issuing import request_failure
from certmgr.controllers.certificates.revisionmanager import requests_to_prune

from .helpers import leaf


def named(*revisions: int) -> list[tuple[int, dict[str, Any]]]:
    return [(r, {"name": f"r{r}"}) for r in revisions]


@pytest.mark.parametrize(
    ("revisions", "current", "limit", "pruned"),
    [
        ((1,), 1, 1, []),
        ((1, 2), 2, 1, ["r1"]),
        ((1, 2, 3), 3, 2, ["r1"]),
        ((3, 1, 2), 3, 1, ["r1", "r2"]),
        ((1, 2), 1, 1, []),  # revision 2 is the issuance in progress
        ((1, 2, 3), 2, 1, ["r1"]),
    ],
    ids=[
        "only-current",
        "one-old",
        "limit-two",
        "unsorted",
        "in-flight-kept",
        "in-flight-not-counted",
    ],
)
def test_requests_to_prune(
    revisions: tuple[int, ...], current: int, limit: int, pruned: list[str]
) -> None:
    found = requests_to_prune(named(*revisions), current=current, limit=limit)
    assert [r["name"] for r in found] == pruned


def request(issuer_ref: dict[str, str], *conditions: dict[str, str]) -> dict[str, Any]:
    return {
        "spec": {"request": "", "issuerRef": issuer_ref},
        "status": {"conditions": list(conditions)},
    }


@pytest.mark.parametrize(
    ("obj", "approve"),
    [
        (request({"name": "ca"}), True),
        (request({"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}), True),
        (request({"name": "ca", "kind": "AWSPCAIssuer", "group": "awspca.cert-manager.io"}), True),
        (request({"name": "ca", "kind": "Other", "group": "cert-manager.io"}), True),
        (request({"name": "ca"}, {"type": "Approved", "status": "True"}), False),
        (request({"name": "ca"}, {"type": "Denied", "status": "True"}), False),
        (request({"name": "ca"}, {"type": "Ready", "status": "False", "reason": "Failed"}), False),
        (request({"name": "ca"}, {"type": "Ready", "status": "True", "reason": "Issued"}), False),
        (request({"name": "ca"}, {"type": "Ready", "status": "False", "reason": "Pending"}), True),
    ],
    ids=[
        "issuer",
        "cluster-issuer",
        "external-group",
        "unknown-kind",
        "approved",
        "denied",
        "failed",
        "issued",
        "pending",
    ],
)
def test_needs_approval(obj: dict[str, Any], approve: bool) -> None:
    assert needs_approval(obj) is approve


@pytest.mark.parametrize(
    ("conditions", "reason"),
    [
        ([{"type": "Ready", "status": "False", "reason": "Pending"}], None),
        ([{"type": "Ready", "status": "False", "reason": "Failed", "message": "m"}], "Failed"),
        ([{"type": "Denied", "status": "True", "reason": "Nope"}], "Nope"),
        ([{"type": "InvalidRequest", "status": "True", "reason": "Bad"}], "Bad"),
        ([{"type": "Ready", "status": "True", "reason": "Issued"}], None),
    ],
    ids=["pending", "failed", "denied", "invalid", "issued"],
)
def test_request_failure(conditions: list[dict[str, str]], reason: str | None) -> None:
    status = CertificateRequestStatus.from_dict({"conditions": conditions})
    failure = request_failure(status)
    assert (failure.reason if failure else None) == reason


@pytest.mark.parametrize(
    ("lifetime", "cap", "bound"),
    [
        (timedelta(days=90), timedelta(minutes=10), 600),
        (timedelta(hours=3), timedelta(minutes=10), 108),
        (timedelta(days=90), timedelta(seconds=30), 30),
        (timedelta(days=90), timedelta(0), 0),
    ],
    ids=["long-lived", "short-lived", "capped", "disabled"],
)
def test_renewal_jitter_is_bounded_and_stable(
    lifetime: timedelta, cap: timedelta, bound: int
) -> None:
    values = []
    for _ in range(20):
        _, pem = leaf(lifetime=lifetime)
        jitter = renewal_jitter_seconds(pem, cap=cap)
        assert jitter == renewal_jitter_seconds(pem, cap=cap)
        assert 0 <= jitter <= bound
        values.append(jitter)
    assert bound == 0 or len(set(values)) > 1  # spread, not one value for all


def test_jitter_of_garbage_is_zero() -> None:
    assert renewal_jitter_seconds(b"not a certificate", cap=timedelta(minutes=10)) == 0
