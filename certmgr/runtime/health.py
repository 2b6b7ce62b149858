"""The process's HTTP side doors: ``/livez``, ``/readyz`` and ``/metrics`` (aiohttp).

Owns the small aiohttp apps and their listeners (``start`` once per port, as cert-manager
serves probes and metrics on two, ``stop`` closes all). Health is decided by
callables the composition root passes in (for readiness: "caches synced", "leading or
standing by"), so this module knows nothing about informers or leases. ``/livez`` answers
from the event loop itself, so an answer means the loop is responsive; its checks should
only fail when a restart would help. Checks must be cheap and must not do I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from certmgr.runtime import metrics

log = structlog.get_logger(__name__)

Check = Callable[[], bool]
PROBE_PATHS = ("/livez", "/healthz", "/readyz")
METRICS_PATHS = ("/metrics",)


class HealthServer:
    """Serves liveness, readiness and Prometheus metrics, on one port or on several."""

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
        self._runners: list[web.AppRunner] = []
        self.port: int | None = None  # the first listener's

    def app(self, paths: Collection[str] = PROBE_PATHS + METRICS_PATHS) -> web.Application:
        handlers = {
            "/livez": self._livez,
            "/healthz": self._livez,
            "/readyz": self._readyz,
            "/metrics": self._metrics,
        }
        app = web.Application()
        for path in paths:
            app.router.add_get(path, handlers[path])
        return app

    async def start(
        self,
        host: str = "0.0.0.0",
        port: int = 9403,
        *,
        paths: Collection[str] = PROBE_PATHS + METRICS_PATHS,
    ) -> int:
        """Serve ``paths`` on ``host:port`` (0 picks a free port); returns the bound port."""
        runner = web.AppRunner(self.app(paths), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runners.append(runner)
        bound = int(runner.addresses[0][1])
        if self.port is None:
            self.port = bound
        return bound

    async def stop(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()

    async def _livez(self, request: web.Request) -> web.Response:
        return _report(self._liveness, verbose="verbose" in request.query)

    async def _readyz(self, request: web.Request) -> web.Response:
        return _report(self._readiness, verbose="verbose" in request.query)

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        # ``name[]`` narrows the scrape to those sample names, as prometheus-client's own
        # exposition does: a probe of two gauges does not pay for 700,000 series.
        names = request.query.getall("name[]", [])
        registry = self._registry.restricted_registry(names) if names else self._registry
        snapshot = metrics.Snapshot(registry)  # on the loop: collectors read caches
        # Each piece is made in a worker thread and sent before the next is made: the
        # text is never whole (no Content-Length: chunked on HTTP/1.1).
        pieces = snapshot.render_chunks()
        piece = await asyncio.to_thread(next, pieces, None)
        response = web.StreamResponse(headers={"Content-Type": metrics.CONTENT_TYPE_LATEST})
        try:
            await response.prepare(request)
            while piece is not None:
                await response.write(piece)
                piece = await asyncio.to_thread(next, pieces, None)
            await response.write_eof()
        except ConnectionResetError:
            # The scraper left before the text was written (a probe that reads only the
            # status, a timeout): nothing is wrong on our side, so no error traceback.
            log.debug("metrics_client_gone", peer=request.remote)
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
