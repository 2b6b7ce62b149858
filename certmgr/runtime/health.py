"""The process's HTTP side door: ``/livez``, ``/readyz`` and ``/metrics`` (aiohttp).

Owns the small aiohttp app and its lifecycle (``start``/``stop``). Health is decided by
callables the composition root passes in (for readiness: "caches synced", "leading or
standing by"), so this module knows nothing about informers or leases. ``/livez`` answers
from the event loop itself, so an answer means the loop is responsive; its checks should
only fail when a restart would help. Checks must be cheap and must not do I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry

from certmgr.runtime import metrics

Check = Callable[[], bool]


class HealthServer:
    """Serves liveness, readiness and Prometheus metrics on one port."""

    def __init__(
        self,
        *,
        readiness: Mapping[str, Check] | None = None,
        liveness: Mapping[str, Check] | None = None,
        registry: CollectorRegistry = metrics.REGISTRY,
    ):
        self._readiness = dict(readiness or {})
        self._liveness = dict(liveness or {})
        self._registry = registry
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/healthz", self._livez)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self, host: str = "0.0.0.0", port: int = 9402) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the bound port."""
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0]
        self.port = int(bound[1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _livez(self, request: web.Request) -> web.Response:
        return _report(self._liveness, verbose="verbose" in request.query)

    async def _readyz(self, request: web.Request) -> web.Response:
        return _report(self._readiness, verbose="verbose" in request.query)

    async def _metrics(self, _: web.Request) -> web.Response:
        snapshot = metrics.Snapshot(self._registry)  # on the loop: collectors read caches
        response = web.Response(body=await asyncio.to_thread(snapshot.render))
        response.headers["Content-Type"] = metrics.CONTENT_TYPE_LATEST
        return response


def _report(checks: Mapping[str, Check], *, verbose: bool) -> web.Response:
    """kube-apiserver's format: ``ok`` or 503 with ``[-]name failed`` lines."""
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            results[name] = bool(check())
        except Exception:  # a broken check is a failed check, never a 500
            results[name] = False
    healthy = all(results.values())
    if healthy and not verbose:
        return web.Response(text="ok")
    lines = [
        f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed'}" for name, ok in results.items()
    ]
    lines.append("ok" if healthy else "check failed")
    return web.Response(text="\n".join(lines) + "\n", status=200 if healthy else 503)
