"""PATCH formats: RFC 7386 merge patch, RFC 6902 JSON patch, strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certmgr.testing.apiserver.patching import (
    PatchError,
    create_merge_patch,
    json_equal,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

# --- merge patch ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        # The examples of RFC 7386, appendix A.
        pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replace"),
        pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="add"),
        pytest.param({"a": "b"}, {"a": None}, {}, id="delete"),
        pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="delete-one"),
        pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="array-to-scalar"),
        pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="scalar-to-array"),
        pytest.param(
            {"a": {"b": "c"}},
            {"a": {"b": "d", "c": None}},
            {"a": {"b": "d"}},
            id="nested",
        ),
        pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="arrays-are-replaced"),
        pytest.param({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="nulls-in-new-object"),
        pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="existing-null-kept"),
        pytest.param(
            {"metadata": {"labels": {"a": "1", "b": "2"}}},
            {"metadata": {"labels": {"a": None, "c": "3"}}},
            {"metadata": {"labels": {"b": "2", "c": "3"}}},
            id="labels",
        ),
    ],
)
def test_merge_patch(target: dict[str, Any], patch: dict[str, Any], result: dict[str, Any]) -> None:
    before = copy.deepcopy((target, patch))
    assert merge_patch(target, patch) == result
    assert (target, patch) == before


def test_merge_patch_result_shares_nothing_with_its_inputs() -> None:
    target = {"keep": {"x": [1]}}
    patch = {"new": {"y": [2]}}
    result = merge_patch(target, patch)
    result["keep"]["x"].append(9)
    result["new"]["y"].append(9)
    assert target == {"keep": {"x": [1]}}
    assert patch == {"new": {"y": [2]}}


def test_merge_patch_must_be_an_object() -> None:
    with pytest.raises(PatchError) as raised:
        merge_patch({"a": 1}, [1])
    assert raised.value.code == 400


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)
# Merge patch cannot set a member to null, so documents under test hold no null members.
JSON_WITHOUT_NULL_MEMBERS = st.recursive(
    st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)
OBJECTS = st.dictionaries(st.text(max_size=3), JSON_WITHOUT_NULL_MEMBERS, max_size=4)
# Same examples on every run and no per-example deadline: a loaded CI machine must not flake.
STEADY = settings(derandomize=True, deadline=None, max_examples=100)


@STEADY
@given(original=OBJECTS, modified=OBJECTS)
def test_merge_patch_applies_the_patch_created_between_two_objects(
    original: dict[str, Any], modified: dict[str, Any]
) -> None:
    patch = create_merge_patch(original, modified)
    assert merge_patch(original, patch) == modified


@STEADY
@given(document=st.dictionaries(st.text(max_size=3), JSON, max_size=4), value=JSON)
def test_json_patch_add_then_remove_is_identity(document: dict[str, Any], value: Any) -> None:
    key = "k" * 5  # longer than any generated key, so it is new
    added = json_patch(document, [{"op": "add", "path": f"/{key}", "value": value}])
    assert json_equal(added[key], value)
    assert json_patch(added, [{"op": "remove", "path": f"/{key}"}]) == document


# --- JSON patch ------------------------------------------------------------------------

DOCUMENT: dict[str, Any] = {
    "metadata": {"name": "x", "finalizers": ["a", "b"], "annotations": {"a/b": "1", "m~n": "2"}},
    "spec": {"count": 1},
}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        pytest.param(
            [{"op": "add", "path": "/spec/extra", "value": {"x": 1}}],
            {**DOCUMENT, "spec": {"count": 1, "extra": {"x": 1}}},
            id="add-member",
        ),
        pytest.param(
            [{"op": "add", "path": "/metadata/finalizers/-", "value": "c"}],
            ["a", "b", "c"],
            id="append",
        ),
        pytest.param(
            [{"op": "add", "path": "/metadata/finalizers/0", "value": "z"}],
            ["z", "a", "b"],
            id="insert",
        ),
        pytest.param(
            [{"op": "remove", "path": "/metadata/finalizers/0"}], ["b"], id="remove-element"
        ),
        pytest.param(
            [{"op": "replace", "path": "/metadata/finalizers/1", "value": "y"}],
            ["a", "y"],
            id="replace-element",
        ),
        pytest.param(
            [{"op": "move", "from": "/metadata/finalizers/0", "path": "/metadata/finalizers/-"}],
            ["b", "a"],
            id="move",
        ),
        pytest.param(
            [{"op": "copy", "from": "/metadata/finalizers/1", "path": "/metadata/finalizers/0"}],
            ["b", "a", "b"],
            id="copy",
        ),
        pytest.param(
            [
                {"op": "test", "path": "/spec/count", "value": 1.0},
                {"op": "replace", "path": "/spec/count", "value": 2},
            ],
            {**DOCUMENT, "spec": {"count": 2}},
            id="test-then-replace",
        ),
        pytest.param(
            [{"op": "remove", "path": "/metadata/annotations/a~1b"}],
            {**DOCUMENT, "metadata": {**DOCUMENT["metadata"], "annotations": {"m~n": "2"}}},
            id="escaped-slash",
        ),
        pytest.param(
            [{"op": "remove", "path": "/metadata/annotations/m~0n"}],
            {**DOCUMENT, "metadata": {**DOCUMENT["metadata"], "annotations": {"a/b": "1"}}},
            id="escaped-tilde",
        ),
        pytest.param(
            [{"op": "replace", "path": "", "value": {"kind": "New"}}],
            {"kind": "New"},
            id="replace-root",
        ),
    ],
)
def test_json_patch(ops: list[dict[str, Any]], expected: Any) -> None:
    before = copy.deepcopy(DOCUMENT)
    result = json_patch(DOCUMENT, ops)
    if isinstance(expected, list):
        assert result["metadata"]["finalizers"] == expected
    else:
        assert result == expected
    assert before == DOCUMENT


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        pytest.param(
            [{"op": "test", "path": "/spec/count", "value": 2}],
            "testing value /spec/count failed: test failed",
            id="test-fails",
        ),
        pytest.param(
            [{"op": "test", "path": "/spec/count", "value": True}],
            "testing value /spec/count failed: test failed",
            id="test-true-is-not-one",
        ),
        pytest.param(
            [{"op": "remove", "path": "/spec/missing"}],
            'remove operation does not apply: doc is missing path: "/spec/missing"',
            id="remove-missing",
        ),
        pytest.param(
            [{"op": "replace", "path": "/spec/missing", "value": 1}],
            'replace operation does not apply: doc is missing path: "/spec/missing"',
            id="replace-missing",
        ),
        pytest.param(
            [{"op": "add", "path": "/nowhere/deep", "value": 1}],
            'add operation does not apply: doc is missing path: "/nowhere/deep"',
            id="add-missing-parent",
        ),
        pytest.param(
            [{"op": "add", "path": "/metadata/finalizers/5", "value": "x"}],
            "add operation does not apply: index out of bounds 5 in /metadata/finalizers/5",
            id="index-out-of-bounds",
        ),
        pytest.param(
            [{"op": "add", "path": "/metadata/finalizers/01", "value": "x"}],
            "add operation does not apply: invalid array index '01'",
            id="leading-zero-index",
        ),
        pytest.param(
            [{"op": "move", "from": "/metadata", "path": "/metadata/x"}],
            'move operation does not apply: "/metadata" is a prefix of "/metadata/x"',
            id="move-into-itself",
        ),
        pytest.param([{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate", id="op"),
        pytest.param(
            [{"op": "add", "path": "spec", "value": 1}],
            'JSON pointer must be empty or start with a "/": "spec"',
            id="bad-pointer",
        ),
    ],
)
def test_json_patch_errors_are_unprocessable(ops: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PatchError) as raised:
        json_patch(DOCUMENT, ops)
    assert str(raised.value).startswith(message)
    assert raised.value.code == 422


def test_json_patch_is_all_or_nothing() -> None:
    ops = [
        {"op": "replace", "path": "/spec/count", "value": 5},
        {"op": "test", "path": "/spec/count", "value": 1},
    ]
    with pytest.raises(PatchError):
        json_patch(DOCUMENT, ops)
    assert DOCUMENT["spec"] == {"count": 1}


def test_json_patch_that_is_not_a_list_is_a_bad_request() -> None:
    with pytest.raises(PatchError) as raised:
        json_patch(DOCUMENT, {"op": "add"})
    assert raised.value.code == 400


# --- strategic merge patch ---------------------------------------------------------------

POD: dict[str, Any] = {
    "metadata": {
        "name": "solver",
        "finalizers": ["a"],
        "ownerReferences": [{"uid": "1", "name": "one"}, {"uid": "2", "name": "two"}],
    },
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "app:1",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "ports": [{"containerPort": 80, "name": "http"}],
            },
            {"name": "sidecar", "image": "side:1"},
        ],
        "tolerations": [{"key": "x"}],
    },
}


@pytest.mark.parametrize(
    ("patch", "path", "expected"),
    [
        pytest.param(
            {"spec": {"containers": [{"name": "app", "image": "app:2"}]}},
            ("spec", "containers"),
            [
                {**POD["spec"]["containers"][0], "image": "app:2"},
                POD["spec"]["containers"][1],
            ],
            id="merge-container-by-name",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "new", "image": "n:1"}]}},
            ("spec", "containers"),
            [*POD["spec"]["containers"], {"name": "new", "image": "n:1"}],
            id="new-container-appended",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}},
            ("spec", "containers"),
            [POD["spec"]["containers"][0]],
            id="delete-container",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}},
            ("spec", "containers", 0, "env"),
            [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
            id="env-merged-by-name",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443}]}]}},
            ("spec", "containers", 0, "ports"),
            [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
            id="ports-merged-by-container-port",
        ),
        pytest.param(
            {"spec": {"tolerations": [{"key": "y"}]}},
            ("spec", "tolerations"),
            [{"key": "y"}],
            id="atomic-list-replaced",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["b", "a"]}},
            ("metadata", "finalizers"),
            ["a", "b"],
            id="finalizers-union",
        ),
        pytest.param(
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
            ("metadata", "finalizers"),
            [],
            id="delete-from-primitive-list",
        ),
        pytest.param(
            {"metadata": {"ownerReferences": [{"uid": "2", "name": "renamed"}]}},
            ("metadata", "ownerReferences"),
            [{"uid": "1", "name": "one"}, {"uid": "2", "name": "renamed"}],
            id="owner-references-by-uid",
        ),
        pytest.param(
            {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]}},
            ("spec", "containers"),
            [{"name": "only", "image": "o"}],
            id="replace-list",
        ),
        pytest.param(
            {"spec": {"$patch": "replace", "containers": []}},
            ("spec",),
            {"containers": []},
            id="replace-map",
        ),
        pytest.param(
            {"spec": {"tolerations": None}},
            ("spec",),
            {"containers": POD["spec"]["containers"]},
            id="null-deletes",
        ),
        pytest.param(
            {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}},
            ("spec",),
            POD["spec"],
            id="set-element-order-ignored",
        ),
        pytest.param(
            {"spec": {"$retainKeys": ["containers"], "containers": []}},
            ("spec", "tolerations"),
            None,
            id="retain-keys",
        ),
    ],
)
def test_strategic_merge_patch_on_a_pod(
    patch: dict[str, Any], path: tuple[Any, ...], expected: Any
) -> None:
    before = copy.deepcopy(POD)
    node: Any = strategic_merge_patch(POD, patch, "Pod")
    for step in path:
        node = node.get(step) if isinstance(node, dict) else node[step]
    assert node == expected
    assert before == POD


def test_strategic_merge_patch_merges_service_ports_by_port() -> None:
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}
    result = strategic_merge_patch(service, patch, "Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_strategic_merge_patch_without_merge_key_is_unprocessable() -> None:
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        strategic_merge_patch(POD, {"spec": {"containers": [{"image": "x"}]}}, "Pod")


def test_strategic_merge_patch_on_an_absent_merge_list_drops_delete_directives() -> None:
    pod = {"spec": {}}
    patch = {"spec": {"volumes": [{"name": "a"}, {"name": "b", "$patch": "delete"}]}}
    assert strategic_merge_patch(pod, patch, "Pod") == {"spec": {"volumes": [{"name": "a"}]}}
