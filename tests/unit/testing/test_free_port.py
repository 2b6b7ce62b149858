"""free_port: ports for servers that bind later, kept out of the kernel's ephemeral range."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from certmgr.testing.pebble import free_port


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_the_port_is_below_the_ephemeral_range_and_bindable() -> None:
    port = free_port(ephemeral=(32768, 60999))
    assert 10000 <= port < 32768
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_never_returned() -> None:
    with _listener() as taken:
        busy = taken.getsockname()[1]
        candidates: Iterator[int] = iter([busy, busy])
        fallback = busy + 1 if busy < 65535 else busy - 1

        def pick(low: int, high: int) -> int:
            return next(candidates, fallback)

        # The listener's port is in whatever range the kernel gave it: claim that range
        # starts above it so the picker may offer it.
        port = free_port(ephemeral=(65000, 65535), pick=pick)
    assert port != busy


@pytest.mark.parametrize("low", [1024, 10001])
def test_no_room_below_the_range_falls_back_to_the_kernel(low: int) -> None:
    def pick(low: int, high: int) -> int:
        raise AssertionError("no room below the range: nothing to pick from")

    port = free_port(ephemeral=(low, 65000), pick=pick)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
