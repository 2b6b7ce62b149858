"""``certmgr dev dataplane``: serves routes for the given API server and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

# Each test starts the whole ``certmgr`` CLI in a fresh interpreter (seconds of imports).
pytestmark = pytest.mark.slow
DEADLINE_SECONDS = 15.0


async def test_runs_until_sigterm(kubeconfig: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "certmgr",
        "dev",
        "dataplane",
        f"--kubeconfig={kubeconfig}",
        "--http-port=0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), DEADLINE_SECONDS)
        url = line.decode().split()[-1]
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http, http.get(url + "/x") as response:
            assert (response.status, await response.text()) == (404, "default backend - 404")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), DEADLINE_SECONDS) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_bad_kubeconfig_is_one_line_and_exit_1(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "certmgr",
        "dev",
        "dataplane",
        f"--kubeconfig={tmp_path / 'missing'}",
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), DEADLINE_SECONDS)
    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("certmgr: error: data plane:")
