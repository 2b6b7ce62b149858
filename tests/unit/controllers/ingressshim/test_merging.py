"""Existing vs desired Certificates (pure): ownership, the update body, what to delete."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.ingressshim.merging import (
    certificates_to_delete,
    is_controlled_by,
    updated_certificate,
)

INGRESS = {"metadata": {"name": "web", "namespace": "apps", "uid": "uid-web"}}


def owner(uid: str = "uid-web", *, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "name": "web",
        "uid": uid,
        "controller": controller,
    }


def certificate(
    name: str = "web-tls",
    *,
    owners: list[dict[str, Any]] | None = None,
    spec: dict[str, Any] | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {
            "name": name,
            "namespace": "apps",
            "uid": f"uid-{name}",
            "resourceVersion": "42",
            "ownerReferences": [owner()] if owners is None else owners,
            **metadata,
        },
        "spec": {
            "secretName": name,
            "issuerRef": {"name": "le", "kind": "Issuer", "group": "cert-manager.io"},
            "dnsNames": ["web.example.com"],
            "usages": ["digital signature", "key encipherment"],
        }
        if spec is None
        else spec,
    }


@pytest.mark.parametrize(
    ("owners", "controlled"),
    [
        ([owner()], True),
        ([owner(controller=False)], False),
        ([owner("uid-other")], False),
        ([], False),
        ([owner(controller=False), owner()], True),
    ],
    ids=[
        "controller",
        "owner-not-controller",
        "other-ingress-same-name",
        "no-owner",
        "second-ref-is-controller",
    ],
)
def test_is_controlled_by_needs_a_controller_reference_with_the_uid(
    owners: list[dict[str, Any]], controlled: bool
) -> None:
    assert is_controlled_by(certificate(owners=owners), INGRESS) is controlled


def test_nothing_to_update_when_the_shim_parts_match() -> None:
    current = certificate(annotations={"user": "note"}, labels={})
    desired = certificate()
    assert updated_certificate(current, desired) is None


@pytest.mark.parametrize(
    ("desired_spec", "desired_meta", "expected_spec", "expected_meta"),
    [
        (
            {"dnsNames": ["web.example.com", "www.example.com"]},
            {},
            {"dnsNames": ["web.example.com", "www.example.com"], "keystores": {"pkcs12": {}}},
            {"annotations": {"user": "note"}},
        ),
        (
            {"duration": None},
            {},
            {"duration": None, "keystores": {"pkcs12": {}}},
            {"annotations": {"user": "note"}},
        ),
        (
            {"usages": ["server auth"]},
            {"labels": {"app": "web"}},
            {"usages": ["server auth"]},
            {"labels": {"app": "web"}, "annotations": {"user": "note"}},
        ),
        (
            {},
            {"annotations": {labels.HTTP01_OVERRIDE_INGRESS_CLASS: "nginx"}},
            {},
            {"annotations": {"user": "note", labels.HTTP01_OVERRIDE_INGRESS_CLASS: "nginx"}},
        ),
        (
            {},
            {"annotations": {}},
            {},
            {"annotations": {"user": "note"}},
        ),
    ],
    ids=[
        "dns-names-changed",
        "field-no-longer-set-is-removed",
        "usages-and-labels",
        "override-added",
        "override-removed",
    ],
)
def test_update_takes_only_the_shim_parts_from_desired(
    desired_spec: dict[str, Any],
    desired_meta: dict[str, Any],
    expected_spec: dict[str, Any],
    expected_meta: dict[str, Any],
) -> None:
    current = certificate(
        annotations={"user": "note", labels.HTTP01_OVERRIDE_INGRESS_NAME: "old"},
        labels={"stale": "label"},
    )
    current["spec"]["duration"] = "2160h0m0s"
    current["spec"]["keystores"] = {"pkcs12": {}}
    current["status"] = {"revision": 3}
    before = copy.deepcopy(current)
    desired = certificate()
    desired["spec"].update({k: v for k, v in desired_spec.items() if v is not None})
    desired["metadata"].update(desired_meta)

    body = updated_certificate(current, desired)

    assert current == before  # the cached object is never mutated
    assert body is not None
    assert body["metadata"]["resourceVersion"] == "42"
    assert body["status"] == {"revision": 3}
    for field, value in expected_spec.items():
        if value is None:
            assert field not in body["spec"]
        else:
            assert body["spec"][field] == value
    assert body["metadata"].get("labels") == expected_meta.get("labels")
    assert body["metadata"]["annotations"] == expected_meta["annotations"]


def test_certificates_to_delete_are_owned_and_no_longer_named() -> None:
    kept = certificate("kept-tls")
    gone = certificate("gone-tls")
    foreign = certificate("foreign-tls", owners=[])
    other = certificate("other-tls", owners=[owner("uid-other")])
    doomed = certificates_to_delete(
        [kept, gone, foreign, other], INGRESS, secret_names=frozenset({"kept-tls"})
    )
    assert [c["metadata"]["name"] for c in doomed] == ["gone-tls"]
