from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from certmgr.kube import errors as e
from certmgr.kube.watching import decode_event, lines


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((b'{"a":1}\n{"b":2}\n',), [b'{"a":1}', b'{"b":2}']),
        ((b'{"a"', b":1}\n{", b'"b":2}\n'), [b'{"a":1}', b'{"b":2}']),
        ((b'{"a":1}\n\n', b'{"b":2}'), [b'{"a":1}', b'{"b":2}']),
        ((b"x" * 300_000 + b"\n",), [b"x" * 300_000]),
        ((), []),
    ],
    ids=["whole-lines", "split-anywhere", "blank-lines-and-no-final-newline", "huge-line", "empty"],
)
async def test_lines_reframe_chunks(parts: tuple[bytes, ...], expected: list[bytes]) -> None:
    assert [line async for line in lines(chunks(*parts))] == expected


def test_decode_event() -> None:
    obj = {"metadata": {"name": "a", "resourceVersion": "7"}}
    event = decode_event(json.dumps({"type": "MODIFIED", "object": obj}).encode())
    assert (event.type, event.object, event.resource_version) == ("MODIFIED", obj, "7")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}},
            e.Gone,
        ),
        (
            {"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError"}},
            e.ServerError,
        ),
        ({"type": "SURPRISE", "object": {}}, e.APIError),
    ],
    ids=["gone", "server-error", "unknown-type"],
)
def test_decode_error_events(line: dict[str, object], expected: type) -> None:
    with pytest.raises(expected):
        decode_event(json.dumps(line).encode())


def test_decode_garbage() -> None:
    with pytest.raises(e.APIError) as raised:
        decode_event(b"{not json")
    assert isinstance(raised.value.__cause__, ValueError)
