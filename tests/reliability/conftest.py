"""Fixtures of the reliability suite: a fresh local environment per scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmgr.testing.localenv import local_environment
from certmgr.testing.pebble import PebbleServer

from .harness import Cluster


@pytest.fixture
async def cluster(pebble: PebbleServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with local_environment(tmp_path, pebble=pebble) as env:
        yield Cluster(env)
