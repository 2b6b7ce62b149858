"""Shared-keys dicts: equal to what they were made from, ordinary dicts to every reader."""

from __future__ import annotations

import copy
import json
import platform
import sys
from typing import Any

import pytest

from certmgr.runtime import shapes
from certmgr.runtime.shapes import SHAPE_KEYS_MAX, shaped, shaped_table

CPYTHON = platform.python_implementation() == "CPython"

MAPPINGS = [
    pytest.param({}, id="empty"),
    pytest.param({"name": "a"}, id="one-key"),
    pytest.param(
        {"type": "Ready", "status": "True", "reason": "Ready", "observedGeneration": 1},
        id="condition",
    ),
    pytest.param({"b": 1, "a": 2}, id="key-order-kept"),
    pytest.param(
        {"cert-manager.io/issuer-name": "le", "a b": "", "": None}, id="keys-no-identifiers"
    ),
    pytest.param({"__dict__": 1, "__class__": 2, "__weakref__": 3}, id="dunder-keys"),
    pytest.param({"spec": {"dnsNames": ["a", "b"]}, "n": 1.5, "t": True}, id="nested-values"),
    pytest.param({f"k{i}": i for i in range(SHAPE_KEYS_MAX)}, id="most-keys-shared"),
    pytest.param({f"k{i}": i for i in range(SHAPE_KEYS_MAX + 1)}, id="too-many-keys-plain"),
]


@pytest.mark.parametrize("mapping", MAPPINGS)
def test_a_shaped_dict_is_an_equal_ordinary_dict(mapping: dict[str, Any]) -> None:
    made = shaped(mapping)
    again = shaped(dict(mapping))
    assert type(made) is dict
    assert made == mapping == again
    assert list(made.items()) == list(mapping.items())
    assert json.dumps(made) == json.dumps(mapping)
    copied = copy.deepcopy(made)
    assert type(copied) is dict and copied == mapping
    assert {**made} == mapping and dict(made) == mapping


@pytest.mark.skipif(not CPYTHON, reason="the shared key table is CPython's")
@pytest.mark.parametrize(
    "size", [pytest.param(n, id=f"{n}-keys") for n in (1, 5, 6, 10, SHAPE_KEYS_MAX)]
)
def test_a_shaped_dict_holds_only_its_values(size: int) -> None:
    mapping = json.loads(json.dumps({f"key-{i}": str(i) for i in range(size)}))
    made = shaped(mapping)
    assert sys.getsizeof(made) <= sys.getsizeof(mapping) // 2 + 24
    assert sys.getsizeof(shaped(mapping)) == sys.getsizeof(made)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.__setitem__("name", "b"), id="set-a-key"),
        pytest.param(lambda d: d.__setitem__("extra", 1), id="add-a-key"),
        pytest.param(lambda d: d.pop("name"), id="pop-a-key"),
        pytest.param(lambda d: d.update({"namespace": "x", "more": 2}), id="update"),
        pytest.param(lambda d: d.clear(), id="clear"),
    ],
)
def test_a_change_to_one_shaped_dict_leaves_the_others_of_its_shape_alone(change: Any) -> None:
    mapping = {"name": "a", "namespace": "apps"}
    changed, untouched = shaped(mapping), shaped(mapping)
    expected = dict(mapping)
    change(changed)
    change(expected)
    assert changed == expected
    assert untouched == mapping and list(untouched) == ["name", "namespace"]
    assert shaped(mapping) == mapping


def test_past_the_bound_a_new_key_set_gets_an_ordinary_dict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shapes, "_shapes", {})
    monkeypatch.setattr(shapes, "SHAPES_MAX", 1)
    assert shaped_table(("a",)) == {}
    assert shaped_table(("b",)) is None
    assert shaped({"b": 1}) == {"b": 1}
    assert shaped_table(("a",)) is not None  # a known key set still has its shape
    assert shapes.shapes() == 1
