"""pytest fixtures for DNS-01: a BIND 9 for the suite, and a Pebble that resolves with it.

Owns the ``bind`` and ``bind_pebble`` fixtures (session-scoped: one ``named`` and one
Pebble for every DNS-01 test). Must not change records: tests do, through certmgr.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certmgr.testing.bind import BindServer
from certmgr.testing.pebble import PebbleConfig, PebbleServer


@pytest.fixture(scope="session")
def bind() -> Iterator[BindServer]:
    with BindServer() as server:
        yield server


@pytest.fixture(scope="session")
def bind_pebble(
    bind: BindServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PebbleServer]:
    """A Pebble whose validation authority looks TXT records up in ``bind``."""
    config = PebbleConfig(dns_server=bind.address)
    with PebbleServer(config, workdir=tmp_path_factory.mktemp("bind-pebble")) as server:
        yield server
