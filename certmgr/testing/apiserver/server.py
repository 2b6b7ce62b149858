"""The ``Simulator``: an in-process kube-apiserver over HTTPS on 127.0.0.1.

Owns the server's life cycle (listener, TLS, shutdown, refusing connections for a
while), the kubeconfig it writes for itself, and the thread-safe conveniences tests
call (tokens, CRDs, objects). It must not implement API semantics; it wires the
store, the collector, authentication and the handler together.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml
from aiohttp import web

from certmgr.testing.apiserver import admission, errors
from certmgr.testing.apiserver.accounting import RequestCounts
from certmgr.testing.apiserver.aggregation_proxy import (
    AggregationProxy,
    ClientIdentity,
    authentication_configmap,
    make_front_proxy_identity,
)
from certmgr.testing.apiserver.aggregation_status import AvailabilityController
from certmgr.testing.apiserver.auth import Authenticator, Authorizer
from certmgr.testing.apiserver.collecting import Collector
from certmgr.testing.apiserver.faults import Faults
from certmgr.testing.apiserver.flowcontrol import FlowControl
from certmgr.testing.apiserver.handlers import Api, add_flow_headers
from certmgr.testing.apiserver.publishing import RootCAPublisher
from certmgr.testing.apiserver.resources import CRDS, NAMESPACES
from certmgr.testing.apiserver.store import Obj, Store
from certmgr.testing.apiserver.tls import ServingCert, make_serving_cert

T = TypeVar("T")


class Simulator:
    """A Kubernetes API server for tests. Start it with ``async with`` or ``in_thread``."""

    def __init__(
        self,
        *,
        history_window: int = 1000,
        bookmark_interval: float = 1.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        enforce_owner_references: bool = False,
        priority_and_fairness: bool = True,
        max_requests_in_flight: int | None = None,
        aggregation_resync: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.store = Store(history_window=history_window)
        self.faults = Faults(seed=seed)
        self.requests = RequestCounts()
        # APF: response headers (``enabled``) and an optional seat cap answered with 429.
        self.flow_control = FlowControl(
            enabled=priority_and_fairness, max_in_flight=max_requests_in_flight
        )
        self._authn = Authenticator()
        self._bookmark_interval = bookmark_interval
        self._enforce_owner_references = enforce_owner_references
        self._tls: ServingCert | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.base_events.Server | None = None
        self._api: Api | None = None
        self._reopen: asyncio.TimerHandle | None = None
        self._reopening: asyncio.Future[None] | None = None
        self._aggregation_resync = aggregation_resync
        self._front_proxy: ClientIdentity | None = None
        self._proxy: AggregationProxy | None = None
        self._availability: AvailabilityController | None = None

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tls = make_serving_cert(self.host)
        collector = Collector(self.store, schedule=self._loop.call_soon)
        RootCAPublisher(self.store, ca_pem=self._tls.ca_pem.decode(), schedule=self._loop.call_soon)
        self._front_proxy = make_front_proxy_identity()
        self._proxy = AggregationProxy(identity=self._front_proxy)
        self._availability = AvailabilityController(
            self.store,
            proxy=self._proxy,
            schedule=self._loop.call_soon,
            resync=self._aggregation_resync,
        )
        self._availability.start()
        self._api = Api(
            store=self.store,
            collector=collector,
            authn=self._authn,
            authz=Authorizer(self.store, counts=self.requests),
            faults=self.faults,
            counts=self.requests,
            bookmark_interval=self._bookmark_interval,
            enforce_owner_references=self._enforce_owner_references,
            flow_control=self.flow_control,
            aggregation=self._proxy,
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._api.handle)
        app.on_response_prepare.append(add_flow_headers)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._bootstrap()
        await self._listen()
        self._api.server_address = f"{self.host}:{self.port}"

    async def _listen(self) -> None:
        assert self._loop is not None and self._runner is not None and self._tls is not None
        assert self._runner.server is not None
        self._server = await self._loop.create_server(
            self._runner.server,
            self.host,
            self.port,
            ssl=self._tls.server_context(),
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _bootstrap(self) -> None:
        """What a fresh cluster has: the default namespaces."""
        for name in ("default", "kube-system", "kube-public"):
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            self.store.create(
                NAMESPACES, admission.prepare_create(self.store, NAMESPACES, "", body)
            )
        assert self._tls is not None and self._front_proxy is not None
        # What an aggregated server reads to trust the front proxy's identity headers.
        configmaps = self.store.catalogue.get("", "v1", "configmaps")
        assert configmaps is not None
        published = authentication_configmap(
            client_ca=self._tls.ca_pem, front_proxy=self._front_proxy
        )
        self.store.create(
            configmaps, admission.prepare_create(self.store, configmaps, "kube-system", published)
        )

    async def stop(self) -> None:
        if self._availability is not None:
            await self._availability.stop()
        if self._proxy is not None:
            await self._proxy.close()
        if self._api is not None:
            self._api.closing.set()
            self.store.close_watches()
        if self._reopen is not None:
            self._reopen.cancel()
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._server = self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[Simulator]:
        """Run a simulator on its own event loop in a daemon thread."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="apiserver-simulator", daemon=True)
        thread.start()
        sim = cls(**kwargs)
        try:
            asyncio.run_coroutine_threadsafe(sim.start(), loop).result(timeout=30)
            yield sim
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()

    # -- what tests read -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        if self._tls is None:
            raise RuntimeError("the simulator is not started")
        return self._tls.ca_pem

    @property
    def front_proxy_ca_pem(self) -> bytes:
        """The CA of the front proxy's client certificate (`requestheader-client-ca-file`)."""
        if self._front_proxy is None:
            raise RuntimeError("the simulator is not started")
        return self._front_proxy.ca_pem

    @property
    def admin_token(self) -> str:
        return self._authn.admin_token

    def kubeconfig(self, path: str | Path, *, token: str | None = None) -> Path:
        """Write a kubeconfig for this server (admin unless ``token`` is given)."""
        target = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "simulator",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "simulator-user", "user": {"token": token or self.admin_token}}],
            "contexts": [
                {
                    "name": "simulator",
                    "context": {
                        "cluster": "simulator",
                        "user": "simulator-user",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "simulator",
            "preferences": {},
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a process polling for the file never reads half.
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        partial.replace(target)
        return target

    # -- thread-safe conveniences ----------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the simulator's loop, waiting for it from any other thread."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the simulator is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the calling thread
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        # Generous: a seeding batch of 100k objects runs in one call.
        return future.result(timeout=600)

    def add_token(self, token: str, user: str, groups: Iterable[str] = ()) -> None:
        self._authn.add_token(token, user, groups)

    def service_account_token(self, namespace: str, name: str) -> str:
        return self._authn.service_account_token(namespace, name)

    def apply(self, obj: Obj) -> Obj:
        """Create ``obj``, or replace the stored one of the same name (admin, no faults)."""
        return self._call(lambda: self._apply_here(obj))

    def apply_many(self, objs: Iterable[Obj]) -> int:
        """``apply`` for a batch in one hop to the server's loop (for seeding big stores)."""
        batch = list(objs)
        return self._call(lambda: len([self._apply_here(obj) for obj in batch]))

    def _apply_here(self, obj: Obj) -> Obj:
        rtype = self.store.catalogue.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rtype is None:
            raise ValueError(f"unknown kind {obj.get('apiVersion')}/{obj.get('kind')}")
        # Like `kubectl apply`: what the caller read earlier never blocks the write.
        meta = {
            k: v for k, v in obj.get("metadata", {}).items() if k not in ("resourceVersion", "uid")
        }
        body = {**obj, "metadata": meta}
        namespace = meta.get("namespace", "default") if rtype.namespaced else ""
        old = self.store.table(rtype).objects.get((namespace, meta.get("name", "")))
        if old is None:
            prepared = admission.prepare_create(self.store, rtype, namespace, body)
            return self.store.create(rtype, prepared)
        return self.store.replace(
            rtype, old, admission.prepare_update(self.store, rtype, old, body)
        )

    def install_crds(self, sources: Iterable[str | Path | Obj]) -> None:
        """Create (or update) the CRDs among YAML files, directories of them, or dicts."""
        for doc in _documents(sources):
            if doc.get("kind") == CRDS.kind:
                self.apply(doc)

    def apply_manifests(self, sources: Iterable[str | Path | Obj]) -> list[Obj]:
        """Create or replace every object in the sources (e.g. ``deploy/``).

        CRDs go first, then Namespaces, so one call can load a whole install.
        """
        docs = list(_documents(sources))
        docs.sort(key=lambda doc: (doc.get("kind") != CRDS.kind, doc.get("kind") != "Namespace"))
        return self._call(lambda: [self._apply_here(doc) for doc in docs])

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> Obj | None:
        """The stored object, or None (for assertions; no HTTP, no accounting)."""

        def run() -> Obj | None:
            rtype = self.store.catalogue.by_kind(api_version, kind)
            if rtype is None:
                return None
            return self.store.table(rtype).objects.get(
                (namespace if rtype.namespaced else "", name)
            )

        return self._call(run)

    def list_objects(
        self, api_version: str, kind: str, *, namespace: str | None = None
    ) -> list[Obj]:
        """The stored objects of a kind (in ``namespace`` if given; no HTTP, no accounting)."""

        def run() -> list[Obj]:
            rtype = self.store.catalogue.by_kind(api_version, kind)
            if rtype is None:
                return []
            return [
                obj
                for (ns, _), obj in self.store.table(rtype).objects.items()
                if namespace is None or ns == namespace
            ]

        return self._call(run)

    # -- faults on the listener ------------------------------------------------------------

    def refuse_connections(self, seconds: float | None = None) -> None:
        """Close the listener and drop open connections; reopen after ``seconds`` if given."""

        def run() -> None:
            assert self._loop is not None and self._runner is not None
            if self._server is not None:
                self._server.close()
                self._server = None
            for handler in self._runner.server.connections if self._runner.server else []:
                handler.force_close()
            if self._reopen is not None:
                self._reopen.cancel()
                self._reopen = None
            if seconds is not None:
                self._reopen = self._loop.call_later(seconds, self._accept_soon)

        self._call(run)

    def _accept_soon(self) -> None:
        self._reopen = None
        if self._server is None and self._runner is not None:
            self._reopening = asyncio.ensure_future(self._relisten())

    async def _relisten(self) -> None:
        """Listen again on the same port; retry while a client socket still holds it."""
        for _ in range(100):
            try:
                await self._listen()
                return
            except OSError:
                await asyncio.sleep(0.05)
        await self._listen()

    def accept_connections(self) -> None:
        """Listen again on the same port (ends ``refuse_connections``), from another thread."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the simulator is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("on the simulator's own loop, await accept_connections_async()")
        asyncio.run_coroutine_threadsafe(self.accept_connections_async(), loop).result(timeout=30)

    async def accept_connections_async(self) -> None:
        """``accept_connections`` for a simulator running on the caller's loop."""
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        if self._server is None:
            await self._relisten()

    @property
    def refusing(self) -> bool:
        return self._server is None


def _documents(sources: Iterable[str | Path | Obj]) -> Iterator[Obj]:
    for source in sources:
        if isinstance(source, dict):
            yield source
            continue
        path = Path(source)
        files = (
            sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
        )
        for file in files:
            for doc in yaml.safe_load_all(file.read_text()):
                yield from _objects(doc)


def _objects(doc: Any) -> Iterator[Obj]:
    """Objects in one YAML document: ``kind: List`` expands; kustomize files are skipped."""
    if not isinstance(doc, dict) or doc.get("kind") in (None, "Kustomization"):
        return
    if doc["kind"] == "List":
        for item in doc.get("items") or ():
            yield from _objects(item)
        return
    yield doc


__all__ = ["Simulator", "errors"]
