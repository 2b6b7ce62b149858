"""``DataPlane``: the router and the pod runner started together from one kubeconfig.

Owns the life cycle of its own ``KubeClient`` and of both components, in the order a
cluster would need them (pods before routes, routes stopped first). It must not add
behaviour of its own.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from types import TracebackType

from certmgr.kube.client import KubeClient
from certmgr.testing.dataplane.pods import PodRunner
from certmgr.testing.dataplane.podspec import DEFAULT_SOLVER_IMAGES
from certmgr.testing.dataplane.router import IngressRouter


class DataPlane:
    """``async with DataPlane(kubeconfig=path, http_port=5002) as dp:``; port 0 = free port.

    ``gateway_api=True``: the router also implements the Gateway API for GatewayClasses
    whose controllerName is ``certmgr.test/dataplane`` (the CRDs must be installed).
    """

    def __init__(
        self,
        *,
        kubeconfig: str | Path | None = None,
        context: str | None = None,
        http_port: int = 0,
        https_port: int | None = None,
        ingress_class: str | None = "nginx",
        watch_ingress_without_class: bool = True,
        solver_images: Collection[str] = DEFAULT_SOLVER_IMAGES,
        finalizer: str | None = None,
        gateway_api: bool = False,
    ) -> None:
        self._kubeconfig = str(kubeconfig) if kubeconfig is not None else None
        self._context = context
        self._settings = (http_port, https_port, ingress_class, watch_ingress_without_class)
        self._solver_images = tuple(solver_images)
        self._finalizer = finalizer
        self._gateway_api = gateway_api
        self._client: KubeClient | None = None
        self._router: IngressRouter | None = None
        self._pods: PodRunner | None = None

    @property
    def router(self) -> IngressRouter:
        if self._router is None:
            raise RuntimeError("the data plane is not started")
        return self._router

    @property
    def pods(self) -> PodRunner:
        if self._pods is None:
            raise RuntimeError("the data plane is not started")
        return self._pods

    @property
    def http_port(self) -> int:
        return self.router.http_port

    @property
    def https_port(self) -> int | None:
        return self.router.https_port

    async def start(self) -> None:
        http_port, https_port, ingress_class, without_class = self._settings
        self._client = await KubeClient.connect(kubeconfig=self._kubeconfig, context=self._context)
        try:
            self._pods = PodRunner(
                self._client, solver_images=self._solver_images, finalizer=self._finalizer
            )
            await self._pods.start()
            self._router = IngressRouter(
                self._client,
                http_port=http_port,
                https_port=https_port,
                ingress_class=ingress_class,
                watch_ingress_without_class=without_class,
                gateway_api=self._gateway_api,
            )
            await self._router.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._router is not None:
            await self._router.stop()
            self._router = None
        if self._pods is not None:
            await self._pods.stop()
            self._pods = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> DataPlane:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
