"""The memory settings: large blocks freed after a burst go back to the system; TLS
connections read into a smaller buffer."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import textwrap
from asyncio import sslproto

import pytest

from certmgr.runtime import allocator

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or allocator._mallopt() is None, reason="glibc only"
)

# 30 scrape-sized blocks, each followed by a small block that stays (a decoded
# object), then the large ones freed: MiB still resident afterwards.
BURST = textwrap.dedent(
    """
    import re, sys
    from certmgr.runtime import allocator

    def rss_mib():
        status = open("/proc/self/status").read()
        return int(re.search(r"VmRSS:\\s+(\\d+)", status).group(1)) // 1024

    if sys.argv[1] == "tuned":
        assert allocator.tune(environ={})
    block = bytearray(16 << 20)
    del block  # a freed mapped block: glibc raises its threshold past 2 MiB
    before = rss_mib()
    large, small = [], []
    for _ in range(30):
        large.append(bytearray(2 << 20))
        small.append(bytearray(1000))
    del large
    print(rss_mib() - before)
    """
)


def _retained_mib(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", BURST, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


@glibc_only
def test_large_blocks_freed_after_a_burst_leave_the_process() -> None:
    assert _retained_mib("default") >= 50  # 60 MiB of large blocks, pinned by the small ones
    assert _retained_mib("tuned") <= 5


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"MALLOC_MMAP_THRESHOLD_": "65536"}, False, id="operator-chose"),
        pytest.param({"MALLOC_MMAP_THRESHOLD_": ""}, False, id="operator-set-empty"),
    ],
)
def test_an_operators_threshold_is_left_alone(environ: dict[str, str], expected: bool) -> None:
    assert allocator.tune(environ=environ) is expected


@glibc_only
def test_tune_applies_with_glibc() -> None:
    assert allocator.tune(environ={}) is True


async def test_tls_connections_opened_after_tuning_read_into_the_smaller_buffer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sslproto.SSLProtocol, "max_size", sslproto.SSLProtocol.max_size)
    allocator.tune_tls_reads()
    protocol = sslproto.SSLProtocol(
        asyncio.get_running_loop(),
        asyncio.Protocol(),
        ssl.create_default_context(),
        waiter=None,
        server_hostname="example.test",
    )
    assert len(protocol.get_buffer(-1)) == allocator.TLS_READ_BUFFER < 256 * 1024
