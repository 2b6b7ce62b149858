"""Matching a Certificate's CertificateRequest, Order, Challenges and Events (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.commands.chain import current_request, events_about, owned_all, owned_one

CRT = {"kind": "Certificate", "metadata": {"name": "web", "namespace": "default", "uid": "u-crt"}}


def request(name: str, revision: str | None, *, owner: str = "u-crt") -> dict[str, Any]:
    annotations = {} if revision is None else {"cert-manager.io/certificate-revision": revision}
    return {
        "kind": "CertificateRequest",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"u-{name}",
            "annotations": annotations,
            "ownerReferences": [{"uid": owner, "kind": "Certificate", "name": "web"}],
        },
    }


def with_revision(revision: int | None) -> dict[str, Any]:
    return {**CRT, "status": {} if revision is None else {"revision": revision}}


@pytest.mark.parametrize(
    ("revision", "requests", "name", "note"),
    [
        pytest.param(None, [request("web-1", "1")], "web-1", "revision 1, in progress", id="first"),
        pytest.param(
            1,
            [request("web-1", "1"), request("web-2", "2")],
            "web-2",
            "revision 2, in progress",
            id="renewing",
        ),
        pytest.param(
            2,
            [request("web-1", "1"), request("web-2", "2")],
            "web-2",
            "revision 2, issued the current certificate",
            id="issued",
        ),
        pytest.param(
            1,
            [request("web-2", "2", owner="u-other")],
            None,
            "No CertificateRequest found for this Certificate",
            id="not-owned",
        ),
        pytest.param(
            None,
            [request("web-x", None), request("web-y", "one")],
            None,
            "No CertificateRequest found for this Certificate",
            id="no-or-bad-revision",
        ),
        pytest.param(
            None,
            [request("web-a", "1"), request("web-b", "1")],
            None,
            "found multiple CertificateRequests with the expected revision and owner",
            id="ambiguous",
        ),
    ],
)
def test_current_request(
    revision: int | None, requests: list[dict[str, Any]], name: str | None, note: str
) -> None:
    found = current_request(with_revision(revision), requests)

    assert (found.object or {}).get("metadata", {}).get("name") == name
    assert found.note == note


def test_owned_one_and_all() -> None:
    owner = request("web-1", "1")
    mine = {"metadata": {"name": "o-2", "ownerReferences": [{"uid": "u-web-1"}]}}
    also_mine = {"metadata": {"name": "o-1", "ownerReferences": [{"uid": "u-web-1"}]}}
    theirs = {"metadata": {"name": "o-3", "ownerReferences": [{"uid": "u-else"}]}}

    assert owned_one([mine, theirs], owner, kind="Order").object is mine
    assert owned_one([theirs], owner, kind="Order").note == (
        "No Order found for CertificateRequest web-1"
    )
    assert owned_one([mine, also_mine], owner, kind="Order").note == (
        "found multiple Orders owned by web-1"
    )
    assert owned_all([mine, theirs, also_mine], owner) == (also_mine, mine)


def test_events_about_matches_uid_then_name() -> None:
    def ev(event_name: str, when: str, **involved: str) -> dict[str, Any]:
        return {"metadata": {"name": event_name}, "lastTimestamp": when, "involvedObject": involved}

    by_uid = ev("late", "2026-03-01T12:05:00Z", uid="u-crt", kind="Certificate", name="web")
    by_name = ev(
        "early", "2026-03-01T12:00:00Z", kind="Certificate", name="web", namespace="default"
    )
    old_incarnation = ev("old", "2026-03-01T11:00:00Z", uid="u-old", kind="Certificate", name="web")
    other_kind = ev(
        "cr", "2026-03-01T12:01:00Z", kind="CertificateRequest", name="web", namespace="default"
    )

    assert events_about([by_uid, by_name, old_incarnation, other_kind], CRT) == [by_name, by_uid]
