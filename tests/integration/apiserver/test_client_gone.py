"""A client that dies mid-request (a SIGKILLed controller) is nothing the simulator logs
as an error: no ConnectionResetError traceback (issue 14 item 9)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
from pathlib import Path

import pytest
import yaml

from certmgr.testing.apiserver import Simulator


async def die_mid_upload(sim: Simulator, token: str) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(sim.host, sim.port, ssl=context)
    head = (
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: sim\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    )
    writer.write(head.encode())
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler is reading the body now
    # SO_LINGER 0: close with a RST, as the kernel does for a killed process's sockets.
    writer.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    writer.transport.abort()
    del reader


def test_a_client_dying_mid_request_logs_no_error(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = yaml.safe_load(sim.kubeconfig(tmp_path / "kubeconfig").read_text())
    token = config["users"][0]["user"]["token"]
    caplog.set_level(logging.DEBUG)
    asyncio.run(die_mid_upload(sim, token))
    # The next request is served once the simulator has dealt with the dead one.
    sim.apply_manifests(
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}, "data": {}}]
    )
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert noisy == []
