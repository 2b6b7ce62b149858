"""A final Order is cached as what its readers read (metadata, state, url, reason, a
digest of its spec); any other Order whole. Each reader reads the same of either form."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from certmgr.controllers.acme.issuer_refs import ISSUER_INDEX, issuer_ref_index
from certmgr.controllers.acme.order_steps import Step, next_step, pending_authorizations
from certmgr.controllers.acme.requests import owner_request_names
from certmgr.kube.objects import being_deleted
from certmgr.runtime.cache import Cache, key_of
from certmgr.runtime.informer_orders import (
    FinalOrder,
    PackedOrder,
    cached_order,
    chain_dropped,
    has_chain,
    packed_order,
    spec_digest,
    spec_is,
    trimmed,
)
from certmgr.runtime.manager import owner_keys

NS = "certs-1"
UID = "0f6b0b7e-7a57-4c59-9d2c-5b1d7a3c1a11"
SPEC = {
    "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
    "issuerRef": {"name": "bench", "kind": "ClusterIssuer"},
    "dnsNames": ["c1.example.com"],
}
BASE = "https://acme.example.com/certs-1/web-1-1"


def _order(status: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """An Order as an API server sends it (managedFields, labels, annotations)."""
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Order",
        "metadata": {
            "name": "web-1-1",
            "namespace": NS,
            "uid": UID,
            "resourceVersion": "1234",
            "generation": 1,
            "creationTimestamp": "2026-12-07T01:00:00Z",
            "labels": {"app": "web"},
            "annotations": {"cert-manager.io/certificate-name": "web"},
            "ownerReferences": [
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "CertificateRequest",
                    "name": "web-1",
                    "uid": "6a1c0e4e-1f0e-4a55-8d0b-0d7c9f4f2b10",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [{"manager": "certmgr", "operation": "Update"}],
            **metadata,
        },
        "spec": copy.deepcopy(SPEC),
        "status": status,
    }


AUTHORIZATIONS = [
    {
        "url": f"{BASE}/authz/c1",
        "identifier": "c1.example.com",
        "wildcard": False,
        "initialState": "pending",
        "challenges": [{"url": f"{BASE}/chall/c1", "token": "t", "type": "http-01"}],
    }
]
CREATED = {
    "url": f"{BASE}/order",
    "finalizeURL": f"{BASE}/finalize",
    "authorizations": AUTHORIZATIONS,
}
VALID = {**CREATED, "state": "valid", "reason": "", "certificate": "Y2hhaW4="}
INVALID = {**CREATED, "state": "invalid", "reason": "urn:acme:error:dns: no such host"}


@pytest.mark.parametrize(
    ("status", "final"),
    [
        pytest.param(VALID, True, id="valid-with-chain"),
        pytest.param(INVALID, True, id="invalid"),
        pytest.param({**INVALID, "state": "expired"}, True, id="expired"),
        pytest.param({**INVALID, "state": "errored", "reason": ""}, True, id="errored"),
        pytest.param({**VALID, "certificate": ""}, False, id="valid-no-chain-yet"),
        pytest.param({**VALID, "certificate": 7}, False, id="valid-odd-chain"),
        pytest.param({**INVALID, "certificate": "Y2hhaW4="}, False, id="invalid-with-chain"),
        pytest.param({**CREATED, "state": "pending"}, False, id="pending"),
        pytest.param({**CREATED, "state": "ready"}, False, id="ready"),
        pytest.param({**CREATED, "state": "processing"}, False, id="processing"),
        pytest.param({}, False, id="new"),
    ],
)
def test_only_a_final_order_is_cut_down(status: dict[str, Any], final: bool) -> None:
    order = _order(copy.deepcopy(status))
    cached = cached_order(copy.deepcopy(order))
    assert trimmed(cached) is final
    if not final:
        del order["metadata"]["managedFields"]
        assert cached == order  # whole: every reader reads what it always read
        assert spec_is(cached, SPEC)


# What each reader of a cached Order reads of it (controllers/acme: requests, orders).
READERS: dict[str, Callable[[dict[str, Any]], object]] = {
    "key": key_of,
    "uid": lambda o: o["metadata"]["uid"],
    "resourceVersion": lambda o: o["metadata"]["resourceVersion"],
    "owner keys": owner_keys("CertificateRequest"),
    "owner request names": owner_request_names,
    "being deleted": being_deleted,
    "state": lambda o: o["status"].get("state"),
    "url": lambda o: o["status"].get("url") or "",
    "reason": lambda o: o["status"].get("reason") or "",
    "has chain": has_chain,
    "next step": lambda o: next_step(
        o["status"], [None for _ in pending_authorizations(o["status"])], has_chain=has_chain(o)
    ),
}


@pytest.mark.parametrize(
    ("status", "deleting"),
    [
        pytest.param(VALID, False, id="valid"),
        pytest.param(INVALID, False, id="invalid"),
        pytest.param(VALID, True, id="valid-being-deleted"),
    ],
)
def test_a_final_order_reads_the_same_to_every_reader_through_the_cache(
    status: dict[str, Any], deleting: bool
) -> None:
    extra = {"deletionTimestamp": "2026-12-07T02:00:00Z"} if deleting else {}
    order = _order(copy.deepcopy(status), **extra)
    assert isinstance(packed_order(cached_order(copy.deepcopy(order))), PackedOrder)
    cache = Cache(pack=packed_order)
    cache.apply("ADDED", cached_order(copy.deepcopy(order)))
    found = cache.get(NS, "web-1-1")
    assert isinstance(found, FinalOrder)
    assert {name: read(found) for name, read in READERS.items()} == {
        name: read(order) for name, read in READERS.items()
    }
    assert READERS["next step"](found) is Step.DONE
    assert chain_dropped(found) is (status["state"] == "valid")
    assert spec_is(found, copy.deepcopy(SPEC))
    assert cache.resource_version == "1234"
    # Not kept: what no reader of a final Order reads.
    assert "spec" not in found and "authorizations" not in found["status"]
    assert not {"labels", "annotations", "managedFields"} & found["metadata"].keys()


@pytest.mark.parametrize(
    ("spec", "same"),
    [
        pytest.param(SPEC, True, id="equal"),
        pytest.param(dict(reversed(SPEC.items())), True, id="equal-other-key-order"),
        pytest.param({**SPEC, "dnsNames": ["c2.example.com"]}, False, id="other-name"),
        pytest.param({**SPEC, "replaces": "abc.def"}, False, id="with-replaces"),
        pytest.param({**SPEC, "issuerRef": {"name": "bench"}}, False, id="other-issuer-ref"),
        pytest.param(None, False, id="none"),
    ],
)
def test_a_final_orders_spec_is_compared_by_digest(spec: Any, same: bool) -> None:
    cached = cached_order(_order(copy.deepcopy(VALID)))
    assert isinstance(cached, FinalOrder)
    assert spec_is(cached, spec) is same
    assert spec_is(_order({}), spec) is same  # as a whole Order compares it


def test_an_order_going_valid_is_cut_down_and_its_spec_followed() -> None:
    cache = Cache(pack=packed_order)
    cache.add_index(ISSUER_INDEX, issuer_ref_index)
    cache.apply("ADDED", cached_order(_order(copy.deepcopy({**CREATED, "state": "pending"}))))
    working = cache.get(NS, "web-1-1")
    assert working is not None and not trimmed(working)
    assert working["status"]["authorizations"] == AUTHORIZATIONS
    assert cache.keys_by_index(ISSUER_INDEX, "ClusterIssuer/bench") == [(NS, "web-1-1")]

    valid = _order(copy.deepcopy(VALID), resourceVersion="1240")
    cache.apply("MODIFIED", cached_order(copy.deepcopy(valid)))
    final = cache.get(NS, "web-1-1")
    assert final is not None and trimmed(final) and chain_dropped(final)
    assert final["metadata"]["resourceVersion"] == "1240"
    assert spec_is(final, SPEC)
    # Final, it is no issuer's business: an issuer's event does not wake it.
    assert cache.keys_by_index(ISSUER_INDEX, "ClusterIssuer/bench") == []

    # cert-manager's webhook keeps only spec.request immutable: a change is followed.
    changed = copy.deepcopy(valid)
    changed["metadata"]["resourceVersion"] = "1241"
    changed["spec"]["dnsNames"] = ["c2.example.com"]
    cache.apply("MODIFIED", cached_order(changed))
    moved = cache.get(NS, "web-1-1")
    assert moved is not None and not spec_is(moved, SPEC)
    assert spec_is(moved, changed["spec"])


def test_the_digest_is_a_16_byte_blake2b_of_canonical_json() -> None:
    import hashlib

    text = '{"dnsNames":["c1.example.com"],"issuerRef":{"kind":"ClusterIssuer","name":"bench"},'
    text += f'"request":"{SPEC["request"]}"}}'
    assert spec_digest(SPEC) == hashlib.blake2b(text.encode(), digest_size=16).digest()
