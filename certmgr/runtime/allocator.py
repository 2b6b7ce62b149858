"""The memory settings of a process that reads its caches in large list pages.

Owns ``tune``, the C allocator's: with glibc, blocks of 1 MiB and more (a list page's
body and its text, a scrape's text) are always mapped on their own and returned to the
system when freed. By default glibc raises that threshold each time such a block is
freed (up to 32 MiB), after which these blocks are carved out of the heap and the small
objects allocated between them pin it: the memory stays in the process for good (RSS
grew ~10 MB over ten scrapes at 10k). 128 KiB returned a little more but cost a tenth
more CPU in a start (a fresh mapping's pages fault in on every list page). It must not
trim the heap (``malloc_trim`` holds the arena lock while it walks it, see ``gcpolicy``)
and must leave alone an operator's own ``MALLOC_MMAP_THRESHOLD_``.

And ``tune_tls_reads``: asyncio gives every TLS connection a zero-filled read buffer of
``SSLProtocol.max_size`` (256 KiB) for as long as it is open, and each informer's watch
holds one open. A TLS record carries at most 16 KiB, so a smaller buffer only means
more reads of a large list page.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from asyncio import sslproto
from collections.abc import Mapping
from typing import Final

import structlog

log = structlog.get_logger(__name__)

MMAP_THRESHOLD: Final = 1024 * 1024
TLS_READ_BUFFER: Final = 64 * 1024
_M_MMAP_THRESHOLD: Final = -3  # mallopt's parameter number (malloc.h)
_OPERATOR_SETTING: Final = "MALLOC_MMAP_THRESHOLD_"


def tune(environ: Mapping[str, str] | None = None) -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD``; whether it was set (False: not
    glibc, or the operator chose a threshold through the environment)."""
    environ = os.environ if environ is None else environ
    if _OPERATOR_SETTING in environ:
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    log.debug("malloc_mmap_threshold", bytes=MMAP_THRESHOLD, applied=applied)
    return applied


def tune_tls_reads() -> None:
    """Size the read buffer of every TLS connection opened from now on at
    ``TLS_READ_BUFFER``."""
    sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


def _mallopt() -> ctypes._NamedFuncPointer | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: musl's mallopt is a no-op
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt
