"""Pod mode speaks cert-manager's acmesolver command line: the solver Pod's args are
exactly those of cert-manager's pkg/issuer/acme/http/pod.go (so its public image works as
``--http01-solver-image``), and our solver started with exactly those args answers."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from certmgr.controllers.acme.solver_objects import SolverTarget, solver_pod
from certmgr.testing.pebble import free_port
from solvers import challenge_path

ACMESOLVER = "quay.io/jetstack/cert-manager-acmesolver:v1.20.3"
DEADLINE_SECONDS = 10.0

TARGETS = [
    pytest.param("example.com", "tok-1", "tok-1.thumb", id="dns-name"),
    pytest.param("*.example.com", "tok-2", "tok-2.thumb", id="wildcard-name"),
    pytest.param("192.0.2.7", "tok_3-x", "tok_3-x.thumb", id="ip-address"),
]


def pod_for(domain: str, token: str, key: str, *, image: str = ACMESOLVER) -> dict[str, object]:
    target = SolverTarget(
        name="cm-acme-http-solver-abcde",
        namespace="default",
        dns_name=domain,
        token=token,
        key=key,
        owner={"apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge", "name": "c"},
    )
    return solver_pod(target, image=image)


@pytest.mark.parametrize(("domain", "token", "key"), TARGETS)
def test_the_pod_passes_exactly_cert_managers_args(domain: str, token: str, key: str) -> None:
    (container,) = pod_for(domain, token, key)["spec"]["containers"]  # type: ignore[index]
    assert container["image"] == ACMESOLVER
    # pod.go: fmt.Sprintf("--listen-port=%d", 8089), "--domain=%s", "--token=%s", "--key=%s"
    assert container["args"] == [
        "--listen-port=8089",
        f"--domain={domain}",
        f"--token={token}",
        f"--key={key}",
    ]
    assert "command" not in container  # the image's entrypoint, as cert-manager
    assert container["ports"] == [{"name": "http", "containerPort": 8089}]


async def test_our_solver_started_with_those_args_answers_the_token() -> None:
    (container,) = pod_for("example.com", "tok-1", "tok-1.thumb")["spec"]["containers"]  # type: ignore[index]
    port = free_port()
    # The Pod's args, with only the port moved off 8089 (shared by everything on this host).
    args = [
        f"--listen-port={port}" if a.startswith("--listen-port=") else a for a in container["args"]
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "solvers", *args, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), DEADLINE_SECONDS)
        # acmesolver's default: every interface, as a Pod needs.
        assert line.decode().strip() in (
            f"listening on 0.0.0.0:{port}",
            f"listening on [::]:{port}",
        )
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}{challenge_path('tok-1')}"
            async with session.get(url, headers={"Host": "example.com"}) as hit:
                assert (hit.status, await hit.text()) == (200, "tok-1.thumb")
            async with session.get(url, headers={"Host": "example.org"}) as miss:
                assert miss.status == 404
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), DEADLINE_SECONDS) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
