"""Packed JSON objects read back equal, every text exactly as it was, afresh each time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from certmgr.runtime import packing
from certmgr.runtime.packing import pack


def _typed(value: Any) -> Any:
    """``value`` with every dict as its items in order and every leaf with its type."""
    if isinstance(value, dict):
        return [(key, _typed(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value), value)


def _object(**metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Thing",
        "metadata": {"name": "a", "labels": {}, **metadata},
        "spec": {"list": [1, 2.5, True, None, "x", {"nested": []}], "empty": {}},
        "status": {"conditions": [{"type": "Ready", "lastTransitionTime": "2026-12-06T21:44:08Z"}]},
    }


@pytest.mark.parametrize(
    "metadata",
    [
        {"uid": "2903fbf4-dd5e-48e8-aa1e-29dfb1d4b50e", "resourceVersion": "27"},
        {"uid": "00000000-0000-0000-0000-000000000000", "resourceVersion": "0"},
        {"uid": "2903FBF4-DD5E-48E8-AA1E-29DFB1D4B50E", "resourceVersion": "027"},
        {"uid": "0x03fbf4-dd5e-48e8-aa1e-29dfb1d4b50e", "resourceVersion": "+27"},
        {"uid": "2903fbf4dd5e48e8aa1e29dfb1d4b50e", "resourceVersion": "27 "},
        {"uid": "u1", "resourceVersion": "٢٧"},  # Arabic-Indic digits
        {"uid": 7, "resourceVersion": 27},
        {"creationTimestamp": "2026-12-06T21:44:08Z"},
        {"creationTimestamp": "0999-01-02T03:04:05Z"},
        {"creationTimestamp": "2026-12-06T21:44:08.5Z"},
        {"creationTimestamp": "2026-12-06 21:44:08Z"},
        {"creationTimestamp": "2026-12-06T21:44:08+00:00"},
        {"creationTimestamp": "2026-13-46T21:44:08Z"},
        {"creationTimestamp": "+026-12-06T21:44:08Z"},
    ],
    ids=[
        "canonical",
        "zeros",
        "upper-case-uid-leading-zero-version",
        "hex-prefix-signed-version",
        "uid-without-dashes-version-with-space",
        "other-digits",
        "not-texts",
        "time",
        "year-before-1000",
        "fraction",
        "space",
        "offset",
        "no-such-day",
        "signed-year",
    ],
)
def test_a_packed_object_reads_back_exactly(metadata: dict[str, Any]) -> None:
    obj = json.loads(json.dumps(_object(**metadata)))
    packed = pack(obj, find=("metadata", "resourceVersion"))
    assert packed is not None
    layout, values = packed
    first, second = layout.unpack(values), layout.unpack(values)
    assert _typed(first) == _typed(second) == _typed(obj)
    assert first is not second and first["spec"]["list"] is not second["spec"]["list"]
    assert layout.found(values) == obj["metadata"].get("resourceVersion")


def test_objects_laid_out_alike_share_one_layout_and_keep_whole_what_they_are_told() -> None:
    shared = {"issuerRef": {"name": "ca"}}
    one = {"metadata": {"name": "a", "uid": "2903fbf4-dd5e-48e8-aa1e-29dfb1d4b50e"}, "spec": shared}
    other = {"metadata": {"name": "b", "uid": "u2"}, "spec": shared}
    packed_one = pack(one, whole=frozenset(("spec",)))
    packed_other = pack(other, whole=frozenset(("spec",)))
    assert packed_one is not None and packed_other is not None
    assert packed_one[0] is not packed_other[0]  # one uid kept as an integer, one not
    again = pack({**one, "metadata": {**one["metadata"], "name": "c"}}, whole=frozenset(("spec",)))
    assert again is not None and again[0] is packed_one[0]
    assert again[0].unpack(again[1])["spec"] is shared
    assert again[0].found(again[1]) is None  # nothing asked for


def test_values_inside_a_top_level_dict_are_kept_whole_when_told() -> None:
    ref, key = {"name": "ca", "kind": "ClusterIssuer"}, {"algorithm": "ECDSA", "size": 256}
    obj = {"metadata": {"name": "a"}, "spec": {"issuerRef": ref, "privateKey": key, "x": "1"}}
    packed = pack(obj, whole_in={"spec": frozenset(("issuerRef", "privateKey"))})
    assert packed is not None
    layout, values = packed
    assert values == ["a", ref, key, "1"]
    read = layout.unpack(values)
    assert read == obj and list(read["spec"]) == ["issuerRef", "privateKey", "x"]
    assert read["spec"]["issuerRef"] is ref and read["spec"]["privateKey"] is key
    assert read["spec"] is not obj["spec"]
    # Kept whole, a mapping's own keys are no part of the layout.
    other = pack(
        {**obj, "spec": {**obj["spec"], "issuerRef": {"name": "b"}}},
        whole_in={"spec": frozenset(("issuerRef", "privateKey"))},
    )
    assert other is not None and other[0] is layout


def test_past_the_bound_a_new_layout_is_not_packed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packing, "_layouts", {})
    monkeypatch.setattr(packing, "LAYOUTS_MAX", 2)
    assert pack({"a": 1}) is not None
    assert pack({"b": 1}) is not None
    assert pack({"a": 2}) is not None  # a layout already made
    assert pack({"c": 1}) is None


def test_uids_times_and_versions_that_read_back_the_same_are_kept_as_integers() -> None:
    obj = _object(uid="2903fbf4-dd5e-48e8-aa1e-29dfb1d4b50e", resourceVersion="27")
    packed = pack(obj)
    assert packed is not None
    kept = packed[1]
    assert 0x2903FBF4DD5E48E8AA1E29DFB1D4B50E in kept
    assert 27 in kept and "27" not in kept
    assert 20261206214408 in kept and "2026-12-06T21:44:08Z" not in kept


def test_a_certificates_status_times_are_kept_as_integers() -> None:
    status = {"notBefore": "2026-11-27T06:34:27Z", "notAfter": "2027-02-25T06:34:27Z"}
    packed = pack({"status": {**status, "renewalTime": "2027-01-26T06:30:47Z"}})
    assert packed is not None
    assert packed[1] == [20261127063427, 20270225063427, 20270126063047]
    assert packed[0].unpack(packed[1])["status"]["notAfter"] == "2027-02-25T06:34:27Z"


def _nested(depth: int) -> dict[str, Any]:
    obj: dict[str, Any] = {"leaf": "2026-12-06T21:44:08Z", "uid": "x"}
    for level in range(depth):
        obj = {"level": level, "inner": [obj], "lastTransitionTime": "2026-12-06T21:44:08Z"}
    return obj


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(
            {
                "a": {"uid": "2903fbf4-dd5e-48e8-aa1e-29dfb1d4b50e", "b": "1"},
                "c": {"uid": "00000000-0000-0000-0000-000000000001", "d": "2"},
                "e": [{"creationTimestamp": "2026-12-06T21:44:08Z", "f": "3"}],
                "g": {"lastTransitionTime": "2026-12-06T21:44:09Z", "h": "4"},
                "i": "5",
            },
            id="keys-after-repeated-codecs",
        ),
        pytest.param(_nested(10), id="nested"),
        pytest.param(_nested(200), id="nested-past-the-display-depth"),
        pytest.param({"": {"'": '"', "\\": "\n", "k0": "v[0]", "t": []}}, id="odd-keys"),
    ],
)
def test_every_layout_reads_back_exactly(obj: dict[str, Any]) -> None:
    packed = pack(obj)
    assert packed is not None
    layout, values = packed
    assert _typed(layout.unpack(values)) == _typed(obj)
    assert _typed(layout.unpack(["before", *values], start=1)) == _typed(obj)
