"""A valid Order is cached without its chain, and its request is still issued with it:
handed over by this process's Order controller, or read from the API after a restart."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
from typing import Any

import pytest

from certmgr.controllers.acme.order_steps import Step, next_step
from certmgr.controllers.acme.valid_orders import valid_as_written, writing_valid, written_valid
from certmgr.runtime.cache import Cache
from certmgr.runtime.informer_orders import (
    PackedOrder,
    cached_order,
    chain_dropped,
    has_chain,
    packed_order,
    trimmed,
)

from .helpers import csr_pem, request_reconciler

NS = "default"
CHAIN = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nleaf\n-----END CERTIFICATE-----\n").decode()


def _order(status: dict[str, Any], *, version: str = "5") -> dict[str, Any]:
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Order",
        "metadata": {"name": "web-1-1", "namespace": NS, "uid": "o1", "resourceVersion": version},
        "spec": {"request": "Q1NS", "issuerRef": {"name": "ca"}, "dnsNames": ["a.example.com"]},
        "status": status,
    }


VALID = {"url": "https://ca/o/1", "finalizeURL": "https://ca/f/1", "state": "valid"}


@pytest.mark.parametrize(
    ("status", "dropped"),
    [
        pytest.param({**VALID, "certificate": CHAIN}, True, id="valid-with-chain-dropped"),
        pytest.param(VALID, False, id="valid-without-chain-whole"),
        pytest.param({**VALID, "certificate": ""}, False, id="valid-empty-chain-whole"),
        pytest.param({**VALID, "certificate": 7}, False, id="valid-odd-chain-whole"),
        pytest.param({**VALID, "state": "processing"}, False, id="processing-whole"),
        pytest.param({"state": "invalid", "reason": "x"}, False, id="invalid-no-chain"),
    ],
)
def test_only_a_valid_orders_chain_is_dropped(status: dict[str, Any], dropped: bool) -> None:
    order = _order(status)
    cached = cached_order(copy.deepcopy(order))
    assert chain_dropped(cached) is dropped
    assert has_chain(cached) is bool(status.get("certificate"))
    if not trimmed(cached):
        assert cached == order


@pytest.mark.parametrize(
    ("status", "step"),
    [
        pytest.param(VALID, Step.POLL, id="valid-without-chain-downloads"),
        pytest.param({**VALID, "certificate": CHAIN}, Step.DONE, id="valid-with-chain-done"),
    ],
)
def test_a_cached_valid_order_is_done_as_it_was_whole(status: dict[str, Any], step: Step) -> None:
    cached = cached_order(_order(dict(status)))
    assert next_step(cached["status"], [], has_chain=has_chain(cached)) is step


async def test_an_order_written_valid_is_handed_over_once_and_only_for_that_version() -> None:
    written = _order({**VALID, "certificate": CHAIN}, version="9")
    written_valid(written)
    assert await valid_as_written(cached_order(_order({**VALID, "certificate": CHAIN}))) is None
    written_valid(written)
    assert await valid_as_written(cached_order(copy.deepcopy(written))) is written
    assert await valid_as_written(cached_order(copy.deepcopy(written))) is None


@pytest.mark.parametrize(
    ("answered", "expected"),
    [
        pytest.param(True, "written", id="answered-handed-over"),
        pytest.param(False, None, id="write-failed-none"),
    ],
)
async def test_a_write_in_flight_is_waited_for(answered: bool, expected: str | None) -> None:
    """The watch may show the valid Order before its write's answer arrives."""
    written = _order({**VALID, "certificate": CHAIN}, version="11")
    written["metadata"]["uid"] = f"o-in-flight-{answered}"
    release = asyncio.Event()

    async def write() -> None:
        with contextlib.suppress(RuntimeError), writing_valid(written["metadata"]["uid"]):
            await release.wait()
            if not answered:
                raise RuntimeError("the write failed")
            written_valid(written)

    writer = asyncio.create_task(write())
    await asyncio.sleep(0)
    taker = asyncio.create_task(valid_as_written(cached_order(copy.deepcopy(written))))
    await asyncio.sleep(0)
    assert not taker.done()
    release.set()
    await writer
    assert (await taker) is (written if expected else None)


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({**VALID, "certificate": CHAIN}, id="valid-packed"),
        pytest.param({**VALID, "state": "processing"}, id="processing-as-is"),
    ],
)
def test_a_cached_order_reads_back_equal_from_the_cache(status: dict[str, Any]) -> None:
    order = _order(dict(status))
    order["metadata"]["uid"] = "0f6b0b7e-7a57-4c59-9d2c-5b1d7a3c1a11"
    order["metadata"]["creationTimestamp"] = "2026-12-07T01:00:00Z"
    expected = cached_order(copy.deepcopy(order))
    cache = Cache(pack=packed_order)
    cache.apply("ADDED", cached_order(copy.deepcopy(order)))
    found = cache.get(NS, "web-1-1")
    assert found == expected
    assert trimmed(found) is trimmed(expected)
    assert has_chain(found) is has_chain(expected)
    assert isinstance(packed_order(expected), PackedOrder) is trimmed(expected)


class Kube:
    """Creates, reads and status-patches; every call recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.objects: dict[str, dict[str, Any]] = {}

    async def create(self, resource: Any, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append(f"create {resource.plural}")
        self.objects[obj["metadata"]["name"]] = obj
        return obj

    async def get(self, resource: Any, name: str, **_: Any) -> dict[str, Any]:
        self.calls.append(f"get {resource.plural}")
        return copy.deepcopy(self.objects[name])

    async def patch(self, resource: Any, name: str, *args: Any, **_: Any) -> dict[str, Any]:
        self.calls.append(f"patch {resource.plural}")
        return {}


@pytest.mark.parametrize(
    ("handed_over", "calls"),
    [
        pytest.param(True, [], id="written-here-no-read"),
        pytest.param(False, ["get orders"], id="after-a-restart-one-read"),
    ],
)
async def test_a_request_is_issued_with_the_chain_of_its_trimmed_valid_order(
    handed_over: bool, calls: list[str]
) -> None:
    requests, orders, issuers = Cache(), Cache(), Cache()
    issuers.apply(
        "ADDED",
        {
            "metadata": {"name": "ca", "namespace": NS, "uid": "i1", "resourceVersion": "1"},
            "spec": {"acme": {"server": "https://ca/dir", "privateKeySecretRef": {"name": "k"}}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
    )
    request = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": "web-1", "namespace": NS, "uid": "r1", "resourceVersion": "3"},
        "spec": {
            "request": base64.b64encode(csr_pem()).decode(),
            "issuerRef": {"name": "ca", "kind": "Issuer"},
        },
        "status": {"conditions": [{"type": "Approved", "status": "True"}]},
    }
    requests.apply("ADDED", request)
    kube = Kube()
    reconciler = request_reconciler(kube, requests=requests, orders=orders, issuers=issuers)
    assert await reconciler.reconcile(f"{NS}/web-1") is None
    assert kube.calls == ["create orders"]
    (created,) = kube.objects.values()
    valid = {
        **created,
        "metadata": {**created["metadata"], "uid": "o-web-1", "resourceVersion": "7"},
        "status": {**VALID, "certificate": CHAIN},
    }
    kube.objects[created["metadata"]["name"]] = valid
    if handed_over:
        written_valid(copy.deepcopy(valid))
    orders.apply("ADDED", cached_order(copy.deepcopy(valid)))
    issued: list[tuple[bytes, bytes]] = []

    async def finish(*_: Any, certificate: bytes = b"", ca: bytes = b"", **__: Any) -> None:
        issued.append((certificate, ca))

    reconciler._finish = finish  # type: ignore[method-assign]
    kube.calls.clear()
    assert await reconciler.reconcile(f"{NS}/web-1") is None
    assert kube.calls == calls
    assert issued == [(base64.b64decode(CHAIN), b"")]
