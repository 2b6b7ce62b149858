"""Certificates as cached: packed, read back equal, the same object while a reader holds
it, a fresh one once none does, and a copy that is a plain dict."""

from __future__ import annotations

import copy
import gc
import json
import pickle
import sys
from typing import Any

import pytest

from certmgr.kube.resources import CERTIFICATES
from certmgr.runtime import informer_certificates, packing
from certmgr.runtime.informer import compact
from certmgr.runtime.informer_certificates import PackedCertificate, packed_certificate
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock

# As defined, not as the suite's check of cached objects wraps it (which keeps every read).
_UNPACK = PackedCertificate.unpack
UID = "c2396bcb-8005-41e3-9d66-7b6bd61439e9"


def _certificate(name: str = "app", *, version: str = "28") -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": UID,
            "creationTimestamp": "2026-12-07T06:34:27Z",
            "generation": 1,
            "resourceVersion": version,
            "annotations": {"example.com/team": "a"},
        },
        "spec": {
            "secretName": f"{name}-tls",
            "issuerRef": {"name": "bench", "kind": "ClusterIssuer"},
            "dnsNames": [f"{name}.example.com"],
            "privateKey": {"algorithm": "ECDSA", "size": 256},
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Ready",
                    "message": "Certificate is up to date and has not expired",
                    "lastTransitionTime": "2026-11-27T06:34:27Z",
                    "observedGeneration": 1,
                }
            ],
            "notBefore": "2026-11-27T06:34:27Z",
            "notAfter": "2027-02-25T06:34:27Z",
            "revision": 1,
        },
    }


def _layout(value: Any) -> Any:
    """``value`` as JSON text with its keys in order: equal only for the same layout."""
    return json.dumps(value)


def test_a_packed_certificate_reads_back_equal_and_shared_while_held() -> None:
    cached = compact(_certificate())
    packed = packed_certificate(cached)
    assert isinstance(packed, PackedCertificate)
    assert packed.resource_version == "28"
    first = packed.unpack()
    assert first == cached and _layout(first) == _layout(cached)
    # One mapping for every Certificate alike (``share_strings``) stays that one.
    assert first["spec"]["issuerRef"] is cached["spec"]["issuerRef"]
    assert first["spec"]["privateKey"] is cached["spec"]["privateKey"]
    # Held by a reader: every read is that very object (memos keyed by identity hit).
    assert packed.unpack() is first


def test_once_no_reader_holds_it_a_read_is_made_afresh_from_the_packed_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(PackedCertificate, "unpack", _UNPACK)
    cached = compact(_certificate())
    packed = packed_certificate(cached)
    assert isinstance(packed, PackedCertificate)
    first = packed.unpack()
    first["metadata"]["annotations"]["example.com/team"] = "changed"  # a faulty reader
    del first
    gc.collect()
    assert packed.unpack() == cached


@pytest.mark.parametrize(
    "copied",
    [copy.copy, copy.deepcopy, lambda obj: pickle.loads(pickle.dumps(obj))],
    ids=["copy", "deepcopy", "pickle"],
)
def test_a_copy_of_a_read_is_a_plain_equal_dict(copied: Any) -> None:
    packed = packed_certificate(compact(_certificate()))
    assert isinstance(packed, PackedCertificate)
    read = packed.unpack()
    made = copied(read)
    assert type(made) is dict and made == read


def test_the_certificate_cache_keeps_them_packed_and_reads_them_back() -> None:
    manager = Manager(client=None, clock=FakeClock())  # type: ignore[arg-type]
    cache = manager.informer(CERTIFICATES).cache
    cache.add_index("by-secret", lambda obj: [obj["spec"]["secretName"]])
    stored = compact(_certificate())
    staged = cache.stage()
    staged.add(stored)
    changes = cache.replace(staged, "9")
    assert [change[2] for change in changes] == [stored]
    assert isinstance(cache._stored(("ns", "app")), PackedCertificate)
    assert cache.get("ns", "app") == stored
    assert cache.by_index("by-secret", "app-tls") == [stored]
    assert cache.stored_snapshot() == [cache._stored(("ns", "app"))]
    # The same version relisted is no change; a new one is, and replaces the packed form.
    assert cache.replace([stored], "10") == []
    newer = compact(_certificate(version="29"))
    change = cache.apply("MODIFIED", newer)
    assert change is not None and change[1] == stored and change[2] is newer
    assert cache.get("ns", "app") == newer


def test_past_the_layouts_bound_a_certificate_is_kept_as_it_was_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(packing, "_layouts", {})
    monkeypatch.setattr(packing, "LAYOUTS_MAX", 0)
    cached = compact(_certificate())
    assert packed_certificate(cached) is cached


def test_reads_no_reader_holds_leave_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PackedCertificate, "unpack", _UNPACK)
    packed = [packed_certificate(compact(_certificate(f"c{n}"))) for n in range(100)]
    held = [p.unpack() for p in packed if isinstance(p, PackedCertificate)]
    assert len(held) == 100 and len(informer_certificates._read) >= 100
    del held
    gc.collect()
    assert not informer_certificates._read  # one entry per object alive, none per packed


def test_a_read_that_dies_after_the_module_was_cleared_raises_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(PackedCertificate, "unpack", _UNPACK)
    raised: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", raised.append)
    packed = packed_certificate(compact(_certificate()))
    assert isinstance(packed, PackedCertificate)
    read = packed.unpack()
    monkeypatch.setattr(informer_certificates, "_read", None)  # as at interpreter exit
    del read
    gc.collect()
    assert raised == []
