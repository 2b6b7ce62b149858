"""A bare HTTP client for wire-level tests of the simulator (or of a real kube-apiserver).

Owns raw requests, raw JSON and raw watch lines with status codes and headers as
sent, so contract tests see exactly what a client would, and reading a kubeconfig
into (server, TLS context, token). It must not retry, decode into types or hide
errors: that is the project's KubeClient's job, not a test's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    # Every Warning header, in order (``headers`` keeps one value per name).
    warnings: tuple[str, ...] = ()


@dataclass
class Cluster:
    url: str
    session: aiohttp.ClientSession

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str, *, tls: ssl.SSLContext, token: str) -> AsyncIterator[Cluster]:
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"},
            connector=aiohttp.TCPConnector(ssl=tls),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as session:
            yield cls(url, session)

    @classmethod
    @asynccontextmanager
    async def from_kubeconfig(
        cls, path: str | Path, *, token: str | None = None
    ) -> AsyncIterator[Cluster]:
        url, tls, own_token = read_kubeconfig(path)
        async with cls.connect(url, tls=tls, token=token or own_token) as cluster:
            yield cluster

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        async with self.session.request(
            method, self.url + path, json=body, data=data, headers=headers, params=params
        ) as response:
            raw = await response.read()
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = raw.decode(errors="replace")
            warnings = tuple(response.headers.getall("Warning", ()))
            return Reply(response.status, decoded, dict(response.headers), warnings)

    @asynccontextmanager
    async def watch(self, path: str, **params: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Open a watch; iterate the context value for decoded events."""
        async with self.session.get(
            self.url + path, params={"watch": "true", **params}
        ) as response:
            assert response.status == 200, await response.text()

            async def events() -> AsyncIterator[dict[str, Any]]:
                async for line in response.content:
                    if line.strip():
                        event: dict[str, Any] = json.loads(line)
                        yield event

            yield events()


def read_kubeconfig(path: str | Path) -> tuple[str, ssl.SSLContext, str]:
    """(server URL, TLS context trusting its CA, bearer token) of the current context."""
    config = yaml.safe_load(Path(path).read_text())
    context_name = config["current-context"]
    context = next(c for c in config["contexts"] if c["name"] == context_name)["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
    user = next(u for u in config["users"] if u["name"] == context["user"])["user"]
    tls = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    return str(cluster["server"]), tls, str(user["token"])


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float = 10.0, interval: float = 0.02
) -> T:
    """Poll ``check`` until it returns something other than None or False; fail at the deadline.

    For effects that happen after a request returns (garbage collection, namespace
    cleanup), which a real cluster performs asynchronously too.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {within}s")
        await asyncio.sleep(interval)
