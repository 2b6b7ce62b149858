"""JSON bodies: orjson's speed with the stdlib's values and errors, whatever the document."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certmgr.kube import bodies
from certmgr.kube import errors as e
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.transport import decode_body
from certmgr.kube.watching import decode_event


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 is not 1.0 here; NaN is NaN)."""
    return repr(a) == repr(b)


@pytest.mark.parametrize(
    "document",
    [
        b'{"a":18446744073709551616}',
        b'{"a":-9223372036854775809}',
        b'{"a":[1,123456789012345678901234567890]}',
        b'{"a":18446744073709551615,"b":-9223372036854775808}',
        b'{"s":"1234567890123456789012","n":1}',
        b'{"a":1.5,"b":1e21,"c":-0.0,"d":5e-324}',
        b'{"a":1e400}',
        b'{"a":NaN,"b":-Infinity}',
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":"\\ud800"}',
        b'{"a":1,"a":2}',
        b' \n{"caf\xc3\xa9":"\\u00e9\xe2\x82\xac"}\n',
    ],
    ids=[
        "2**64", "below-int64", "huge-in-an-array", "int64-and-uint64-bounds",
        "long-digits-in-a-string", "floats", "float-overflow", "nan-and-infinity", "bom",
        "lone-surrogate", "repeated-key", "utf8-and-whitespace",
    ],
)  # fmt: skip
def test_decode_gives_what_the_stdlib_gives(document: bytes) -> None:
    assert same(bodies.decode(document), json.loads(document))


def test_an_integer_beyond_64_bits_stays_an_exact_int() -> None:
    # orjson alone would give 1.8446744073709552e+19.
    value = bodies.decode(b'{"spec":{"n":18446744073709551617}}')["spec"]["n"]
    assert type(value) is int and value == 2**64 + 1


@pytest.mark.parametrize(
    "document",
    [b"{not json", b'{"a":1', b"", b'{"a":"\xff"}', b"[" * 5000 + b"]" * 5000],
    ids=["garbage", "truncated", "empty", "invalid-utf8", "too-deep"],
)
def test_decode_raises_what_the_stdlib_raises(document: bytes) -> None:
    with pytest.raises(BaseException) as expected:
        json.loads(document)
    with pytest.raises(type(expected.value)):
        bodies.decode(document)


def json_values(numbers: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | numbers | st.text()
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )


# Any int (beyond 64 bits too), any float (json.dumps writes "NaN" and "Infinity", not
# JSON, which orjson refuses and the stdlib reads), any text.
JSON_VALUES = json_values(st.integers(min_value=-(2**70), max_value=2**70) | st.floats())
# What the API server can be sent: finite floats (orjson writes an infinity as null).
ENCODABLE_VALUES = json_values(
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_decode_agrees_with_the_stdlib_on_any_value(value: Any, ascii_only: bool) -> None:
    document = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert same(bodies.decode(document), json.loads(document))


@settings(max_examples=300, deadline=None)
@given(ENCODABLE_VALUES)
def test_encode_reads_back_as_the_value(value: Any) -> None:
    assert same(json.loads(bodies.encode(value)), json.loads(json.dumps(value)))


@dataclasses.dataclass
class Unencodable:
    field: int = 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 2**64}, b'{"a":18446744073709551616}'),
        ({1: "one", None: 0}, b'{"1":"one","null":0}'),
        ({"a": [1, "\u00e9"]}, '{"a":[1,"\u00e9"]}'.encode()),
    ],
    ids=["beyond-64-bits", "keys-not-strings", "utf8"],
)
def test_encode(value: Any, expected: bytes) -> None:
    assert bodies.encode(value) == expected


@pytest.mark.parametrize(
    "value",
    [{"a": Unencodable()}, {"a": object()}, {"a": {1, 2}}],
    ids=["dataclass", "object", "set"],
)
def test_encode_refuses_what_the_stdlib_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        bodies.encode(value)


def test_encode_writes_non_finite_floats_as_null_where_the_stdlib_writes_invalid_json() -> None:
    assert json.loads(bodies.encode({"a": math.nan, "b": math.inf})) == {"a": None, "b": None}


# -- through the transport, the list pages and the watch lines -----------------------------


def test_response_body_keeps_integers_beyond_64_bits() -> None:
    page = b'{"kind":"XList","metadata":{},"items":[{"spec":{"n":-18446744073709551617}}]}'
    decoded = decode_body(page, verb="list", resource="xs")
    assert same(decoded["items"][0]["spec"]["n"], -(2**64) - 1)


def test_a_response_that_is_not_json_is_a_server_error() -> None:
    with pytest.raises(e.ServerError) as raised:
        decode_body(b"<html>oops", verb="get", resource="secrets")
    assert isinstance(raised.value.__cause__, json.JSONDecodeError)


async def test_list_pages_decode_integers_beyond_64_bits(scripted: Any, client: KubeClient) -> None:
    item = {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"n": 2**64, "m": 2**63 - 1}}
    scripted.reply(
        200, {"kind": "SecretList", "metadata": {"resourceVersion": "5"}, "items": [item]}
    )
    listed = await client.list(r.SECRETS, namespace="ns")
    assert same(listed.items, [item])
    assert listed.resource_version == "5"


async def test_a_list_page_that_is_not_json_is_a_server_error(
    scripted: Any, client: KubeClient
) -> None:
    scripted.reply(200, '{"kind":"SecretList","items":[')
    with pytest.raises(e.ServerError):
        await client.list(r.SECRETS, namespace="ns")


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b'{"type":"ADDED","object":{"metadata":{"name":"a"},"n":18446744073709551616}}', 2**64),
        (b'{"type":"MODIFIED","object":{"metadata":{"name":"a"},"n":42}}', 42),
        (b'\xef\xbb\xbf{"type":"ADDED","object":{"metadata":{"name":"a"},"n":1.5}}', 1.5),
    ],
    ids=["beyond-64-bits", "plain", "bom"],
)
def test_watch_lines_decode(line: bytes, value: Any) -> None:
    event = decode_event(line)
    assert same(event.object["n"], value)
    assert event.object["metadata"]["name"] == "a"
